# The commit path of watch(): a transaction's keys reach the worker through the commit queue in
# shared memory, not NOTIFY. What it promises:
#   - the keys of a committed transaction arrive; a rolled-back transaction or savepoint sends
#     nothing of its own (counted in status.keys_received, checked in Redis);
#   - PREPARE TRANSACTION works: the keys reach Redis after COMMIT PREPARED, not before, and never
#     after ROLLBACK PREPARED, also when the worker or the server restarted in between;
#   - a full queue never fails a commit: the source is resynced, Redis ends equal to the database;
#     concurrent writers going round a small queue end converged;
#   - a backend killed under write load, the worker killed, the server stopped with -m immediate:
#     each ends converged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use CachePusher::Test;

my $customers = 'SELECT id_customer, customer_get(id_customer) FROM customer';

# The seed's schema with watch()'s triggers in place of its own NOTIFY triggers.
sub watched_node
{
	my ($name, $redis, $conf) = @_;
	my $node = new_node($name, $redis, conf => "max_prepared_transactions = 10\nrestart_after_crash = on\n" . ($conf // ''));
	load_seed_schema($node);
	$node->safe_psql('postgres', q{
		ALTER TABLE customer DISABLE TRIGGER customer_notify;
		ALTER TABLE address DISABLE TRIGGER address_notify;
		INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 200) i;
		INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 200, 'street ' || i, 'city' FROM generate_series(1, 400) i;
		SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer');
		SELECT cachepusher.watch('customer', 'customer', 'id_customer');
		SELECT cachepusher.watch('customer', 'address', 'fk_customer');
	});
	is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', "$name: warm");
	return $node;
}

sub name_in_redis
{
	my ($redis, $id) = @_;
	my ($name) = ($redis->get("customer:$id") // '') =~ /"name" : "([^"]*)"/;
	return $name // '';
}

my $redis = start_redis();
my $node = watched_node('commit_queue', $redis);

# Committed, rolled back, savepoints.
my $before = keys_received($node, 'customer');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'committed' WHERE id_customer = 1});
is(keys_received($node, 'customer') - $before, 1, 'a committed one-row UPDATE sends its key');
is(name_in_redis($redis, 1), 'committed', 'and its document is in Redis when wait_for_sync() returns');

$before = keys_received($node, 'customer');
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'rolled back' WHERE id_customer BETWEEN 2 AND 11;
	INSERT INTO address (fk_customer, street) VALUES (12, 'rolled back');
	ROLLBACK;
});
is(keys_received($node, 'customer') - $before, 0, 'a rolled-back transaction sends no key');
isnt(name_in_redis($redis, 2), 'rolled back', 'and Redis never shows its change');

$before = keys_received($node, 'customer');
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'kept' WHERE id_customer = 20;
	SAVEPOINT a;
	UPDATE customer SET name = 'undone' WHERE id_customer = 21;
	ROLLBACK TO a;
	SAVEPOINT b;
	UPDATE customer SET name = 'released' WHERE id_customer = 22;
	RELEASE b;
	SAVEPOINT c;
	SAVEPOINT d;
	UPDATE customer SET name = 'undone with its parent' WHERE id_customer = 23;
	RELEASE d;
	ROLLBACK TO c;
	COMMIT;
});
is(keys_received($node, 'customer') - $before, 2, 'savepoints: only the keys of what committed are sent (20 and 22, not 21 and 23)');
is(join(',', map { name_in_redis($redis, $_) } 20 .. 22), 'kept,customer 21,released',
	'the documents of the committed changes are in Redis');

$before = keys_received($node, 'customer');
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	    UPDATE customer SET name = 'outer block' WHERE id_customer = 30;
	    BEGIN
	        UPDATE customer SET name = 'inner block' WHERE id_customer = 31;
	        RAISE EXCEPTION 'undo the inner block';
	    EXCEPTION WHEN raise_exception THEN NULL;
	    END;
	END $$;
});
is(keys_received($node, 'customer') - $before, 1, 'a PL/pgSQL block that raised takes its keys with it');
cache_matches($node, $redis, 'customer', $customers, 'Redis equals the database after the savepoints');

# Two-phase commit.
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'prepared' WHERE id_customer = 40;
	PREPARE TRANSACTION 'p1';
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'PREPARE TRANSACTION of a watched change works');
isnt(name_in_redis($redis, 40), 'prepared', 'a prepared change is not in Redis before COMMIT PREPARED');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'in step after COMMIT PREPARED');
is(name_in_redis($redis, 40), 'prepared', 'the committed prepared change is in Redis when wait_for_sync() returns');

$before = keys_received($node, 'customer');
$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'never' WHERE id_customer = 41;
	PREPARE TRANSACTION 'p2';
	ROLLBACK PREPARED 'p2';
});
is(keys_received($node, 'customer') - $before, 0, 'ROLLBACK PREPARED: its keys are dropped');

$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'across a worker restart' WHERE id_customer = 42;
	PREPARE TRANSACTION 'p3';
});
my $old = worker_pid($node);
$node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync(); SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'cachepusher'});
ok(poll_until(sub { my $p = worker_pid($node); $p =~ /^\d+$/ && $p ne $old }), 'the worker restarted while a transaction is prepared');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after its restart');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p3'});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after COMMIT PREPARED');
is(name_in_redis($redis, 42), 'across a worker restart', 'a transaction prepared before the worker restarted reaches Redis');

$node->safe_psql('postgres', q{
	BEGIN;
	UPDATE customer SET name = 'across a server restart' WHERE id_customer = 43;
	PREPARE TRANSACTION 'p4';
});
# stop and start, not restart: pg_ctl restart runs the binary postmaster.opts names, which under
# test/run-sanitized is not the wrapper that preloads the ASan runtime.
$node->stop;
$node->start;
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after a server restart');
$node->safe_psql('postgres', q{COMMIT PREPARED 'p4'});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after COMMIT PREPARED');
is(name_in_redis($redis, 43), 'across a server restart', 'a transaction prepared before the server restarted reaches Redis');
converged($node, $redis, 'customer', $customers, 'after the prepared transactions');

# With warmup_on_start = off, what the queue kept while no worker ran is all a new worker is told:
# it reads the catalog before the queue, or it would take those keys for keys of unknown sources.
$node->safe_psql('postgres', q{ALTER SYSTEM SET cachepusher.warmup_on_start = off; SELECT pg_reload_conf()});
$old = worker_pid($node);
$node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync(); SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'cachepusher'});
ok(poll_until(sub { worker_pid($node) eq '' }), 'the worker is gone (restarted after bgw_restart_time, 5 s)');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'while no worker ran' WHERE id_customer BETWEEN 44 AND 53});
ok(poll_until(sub { my $p = worker_pid($node); $p =~ /^\d+$/ && $p ne $old }), 'a new worker started');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after it started');
is(join(',', map { name_in_redis($redis, $_) } 44 .. 53), join(',', ('while no worker ran') x 10),
	'the keys queued while no worker ran reach Redis without a warmup');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET cachepusher.warmup_on_start; SELECT pg_reload_conf()});

# Crash paths under write load: any backend killed mid-commit restarts the server, and the worker
# warms at start.
my $write = q{UPDATE customer SET name = md5(:r::text) WHERE id_customer = 1 + :r % 200;};
# The clients' backends (the tests' PGAPPNAME names every session, so they are found by their query).
my $writers = q{query LIKE 'UPDATE customer SET name = md5%' AND pid <> pg_backend_pid()};
my $churn = start_churn($node, $write, 30, clients => 3);
ok(poll_until(sub { $node->safe_psql('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE $writers") eq 't' }),
	'the clients are writing');
for my $round ([ 'a writing backend', $writers ], [ 'the worker', q{backend_type = 'cachepusher'} ])
{
	my ($what, $which) = @$round;
	my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $which LIMIT 1");
	$old = worker_pid($node);
	kill 'KILL', $pid;
	ok(poll_until(sub { my $p = eval { worker_pid($node) }; defined $p && $p =~ /^\d+$/ && $p ne $old }),
		"$what SIGKILLed: the server restarts its backends and the worker");
	$churn->{harness}->finish;    # the crash restart ended the clients
	$churn = start_churn($node, $write, 3, clients => 3);
	$churn->{harness}->finish;
	converged($node, $redis, 'customer', $customers, "after $what was SIGKILLed under writes");
	$churn = start_churn($node, $write, 30, clients => 3);
	ok(poll_until(sub { $node->safe_psql('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE $writers") eq 't' }),
		'the clients are writing again');
}
$node->stop('immediate');
$churn->{harness}->finish;
$node->start;
churn_ok(start_churn($node, $write, 3, clients => 3),
	'after the immediate restart');
converged($node, $redis, 'customer', $customers, 'after an immediate stop under writes');
$node->stop;

# A full queue (64 kB, the smallest; a worker whose pending set is full while Redis is away stops
# reading it): every commit succeeds, the sources are resynced. Each commit has keys of two sources
# (a second one, "copy", watches customer too), and the worker is stopped (SIGSTOP) while they
# commit, so that it counts all the transactions it was not given at once.
my $small = watched_node('small_queue', $redis, "cachepusher.queue_size = 64\ncachepusher.max_pending = 100\n");
$small->safe_psql('postgres', q{
	SELECT cachepusher.add_source('copy', 'customer_get(int)', 'SELECT id_customer FROM customer');
	SELECT cachepusher.watch('copy', 'customer', 'id_customer');
	SELECT cachepusher.wait_for_sync();
});
$redis->stop(keep => 1);
ok(poll_until(sub { source_status($small, 'customer')->{state} eq 'redis_down' }), 'Redis is away');
my $stopped = worker_pid($small);
kill 'STOP', $stopped;
$small->safe_psql('postgres', q{
	DO $$ BEGIN
	    FOR i IN 1..6000 LOOP
	        UPDATE customer SET name = 'overflow ' || i WHERE id_customer = 1 + i % 200;
	        COMMIT;
	    END LOOP;
	END $$;
});
kill 'CONT', $stopped;
pass('6000 commits while the queue has room for about 1000 of them: none failed');
ok(poll_until(sub { slurp_file($small->logfile) =~ /the commit queue was full: the keys of (\d+) transactions were not queued; resyncing ("customer", "copy"|"copy", "customer")$/m }),
	'the worker says the queue was full, once, and that it resyncs the sources');
my ($unqueued) = slurp_file($small->logfile) =~ /the keys of (\d+) transactions were not queued/;
# At most 1,024 of these commits fit (two 32-byte entries each); a count per source would be twice.
ok($unqueued >= 4900 && $unqueued <= 6000, "it counts the transactions ($unqueued), not their sources");
like($small->safe_psql('postgres', q{SELECT last_error FROM cachepusher.status WHERE source = 'customer'}),
	qr/commit queue was full/, 'status says so too');
$redis->start;
converged($small, $redis, 'customer', $customers, 'after the queue was full');
my $said = () = slurp_file($small->logfile) =~ /the commit queue was full/g;
is($said, 1, 'said once');

# The same small queue with the worker reading it and four clients committing at once: their
# reservations race for the head and go round the 64 kB lap after lap (a one-key entry takes 32
# bytes, so a lap holds about 2,000), and Redis ends equal to the database.
my $laps = start_churn($small, $write, 5, clients => 4);
my $committed = churn_ok($laps, 'with four clients on the 64 kB queue');
ok($committed > 2048, "more commits ($committed) than one lap of the queue holds");
converged($small, $redis, 'customer', $customers, 'after four clients went round the small queue');
$small->stop;

# A commit that waits for synchronous replication (here, for a standby that never comes) has its keys
# in the queue as tentative entries: the worker reads past them, and the space from them on is freed
# only once that commit ends. Other commits fill the rest; the worker says which transaction holds
# the space. Only the session that asks for synchronous_commit = on waits.
my $held = watched_node('held_queue', $redis,
	"cachepusher.queue_size = 64\nwal_level = replica\nmax_wal_senders = 2\n"
	  . "synchronous_standby_names = 'nobody'\nsynchronous_commit = local\n");
my $waiter = IPC::Run::start(
	[ 'psql', '-X', '-h', $held->host, '-p', $held->port, '-d', 'dbname=postgres application_name=waiter',
	  '-c', 'SET synchronous_commit = on', '-c', q{UPDATE customer SET name = 'waited' WHERE id_customer = 7} ],
	'>', \my $waiter_out, '2>', \my $waiter_err);
ok($held->poll_query_until('postgres', q{SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE application_name = 'waiter'}),
	'a commit waits for synchronous replication');
my $waiting_xid = $held->safe_psql('postgres', q{SELECT backend_xid FROM pg_stat_activity WHERE application_name = 'waiter'});
$held->safe_psql('postgres', q{
	DO $$ BEGIN
	    FOR i IN 1..3000 LOOP
	        UPDATE customer SET name = 'behind ' || i WHERE id_customer = 1 + i % 200 AND id_customer <> 7;
	        COMMIT;
	    END LOOP;
	END $$;
});
pass('3000 commits while the waiting one holds the queue: none failed');
ok(poll_until(sub { slurp_file($held->logfile) =~ /the commit queue was full: the keys of \d+ transactions were not queued; resyncing "customer"\n.*DETAIL:  Their commits succeeded; the resync writes what they changed\. Transaction $waiting_xid has not finished committing/ }),
	"the worker names the transaction ($waiting_xid) that holds the queue's space");
# Cancelled, the wait ends; the transaction has committed locally, and its keys are sent.
$held->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'waiter'});
$waiter->finish;
like($waiter_err, qr/canceling wait for synchronous replication/, 'the waiting commit was released');
converged($held, $redis, 'customer', $customers, 'after the held commit ended');
is(name_in_redis($redis, 7), 'waited', "the held commit's change is in Redis");

done_testing();
