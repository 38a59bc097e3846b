# Faults of every kind, each ending with verify() empty: document functions that raise, return
# non-JSON text, return 10 MB, run forever, return NULL; more pending keys than max_pending; a
# Redis that hangs (DEBUG SLEEP) while the worker is told to stop; the worker killed with SIGKILL
# during a warmup and during a write storm.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use CachePusher::Test;

my $redis = start_redis(args => [ '--enable-debug-command', 'yes' ]);
my $node = new_node('faults', $redis, conf => <<'CONF');
cachepusher.batch_size = 100
cachepusher.statement_timeout = 3000
cachepusher.command_timeout = 60000
restart_after_crash = on
CONF
load_seed_schema($node, customers => 1000, addresses => 1500);
$node->safe_psql('postgres', <<'SQL');

	-- One source whose function misbehaves for a few keys, each in its own way.
	CREATE TABLE thing (id int PRIMARY KEY, kind text NOT NULL DEFAULT 'fine');
	INSERT INTO thing SELECT i, 'fine' FROM generate_series(1, 300) i;
	UPDATE thing SET kind = 'raises' WHERE id = 11;
	UPDATE thing SET kind = 'not json' WHERE id = 12;
	UPDATE thing SET kind = 'huge' WHERE id = 13;
	UPDATE thing SET kind = 'forever' WHERE id = 14;
	UPDATE thing SET kind = 'null' WHERE id = 15;
	CREATE FUNCTION thing_doc(k int) RETURNS text LANGUAGE plpgsql STABLE AS $$
	DECLARE t thing;
	BEGIN
	    SELECT * INTO t FROM thing WHERE id = k;
	    IF NOT FOUND THEN RETURN NULL; END IF;
	    CASE t.kind
	        WHEN 'raises' THEN RAISE EXCEPTION 'thing % raises', k;
	        WHEN 'not json' THEN RETURN 'this is not {json';
	        WHEN 'huge' THEN RETURN json_build_object('id', k, 'blob', repeat('x', 10 * 1024 * 1024))::text;
	        WHEN 'forever' THEN PERFORM pg_sleep(3600);
	        WHEN 'null' THEN RETURN NULL;
	        ELSE NULL;
	    END CASE;
	    RETURN json_build_object('id', k, 'kind', t.kind)::text;
	END $$;
SQL
add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('thing', 'thing_doc(int)', 'SELECT id FROM thing');
	SELECT cachepusher.watch('thing', 'thing', 'id');
});
my $good_things = q{SELECT id, thing_doc(id) FROM thing WHERE kind IN ('fine', 'huge', 'null')};
my $customers = 'SELECT id_customer, customer_get(id_customer) FROM customer';

cache_matches($node, $redis, 'thing', $good_things, 'every well-behaved document is written, the huge one too');
is(length($redis->get('thing:13') // ''), $node->safe_psql('postgres', 'SELECT octet_length(thing_doc(13))'),
	'the 10 MB document is whole in Redis');
for my $case ([ 11, qr/thing 11 raises/ ], [ 12, qr/invalid input syntax for type json/ ],
	[ 14, qr/canceling statement due to statement timeout/ ])
{
	my ($id, $why) = @$case;
	$node->wait_for_log(qr/cachepusher: source "thing", key "$id": .*$why/);
	pass("key $id logged with its reason");
}
is($redis->get('thing:15'), undef, 'a NULL document is no key');
cmp_ok(source_status($node, 'thing')->{errors}, '>=', 3, 'the failures are counted');
cache_matches($node, $redis, 'customer', $customers, 'the other source is untouched by all this');

# Fixed, the bad keys are written with the next change.
$node->safe_psql('postgres', q{UPDATE thing SET kind = 'fine' WHERE id BETWEEN 11 AND 15});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'fixed keys written');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# A batch too slow as a whole while each key alone is quick (80 keys of 50 ms against a 3 s
# statement_timeout): every document is still written, and the worker says to lower batch_size.
# When one key is slow on its own ("lagging" key 7), the batch was not too big: no such line.
$node->safe_psql('postgres', q{
	CREATE FUNCTION lagging_doc(k int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN IF k = 7 THEN PERFORM pg_sleep(3600); END IF; RETURN json_build_object('id', k); END $$;
	SELECT cachepusher.add_source('lagging', 'lagging_doc(int)', 'SELECT i FROM generate_series(1, 20) i');
});
$node->wait_for_log(qr/cachepusher: source "lagging", key "7": canceling statement due to statement timeout/);
cache_matches($node, $redis, 'lagging', q{SELECT i, json_build_object('id', i) FROM generate_series(1, 20) i WHERE i <> 7},
	'a key slow on its own costs only itself');
$node->safe_psql('postgres', q{
	CREATE FUNCTION sluggish_doc(k int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN PERFORM pg_sleep(0.05); RETURN json_build_object('id', k); END $$;
	SELECT cachepusher.add_source('sluggish', 'sluggish_doc(int)', 'SELECT i FROM generate_series(1, 80) i');
});
$node->wait_for_log(qr/cachepusher: source "sluggish": a batch of 80 keys ran past cachepusher.statement_timeout \(3000 ms\); each of its keys alone did not/);
pass('a batch past statement_timeout whose keys alone are quick: logged');
ok($node->log_contains(qr/HINT:  Lower cachepusher.batch_size \(now 100\) or raise cachepusher.statement_timeout/),
	'with what to change');
cache_matches($node, $redis, 'sluggish', q{SELECT i, json_build_object('id', i) FROM generate_series(1, 80) i},
	'and every document is written');
ok(!$node->log_contains(qr/source "lagging": a batch of/), 'a key slow on its own gives no such line');
$node->safe_psql('postgres', q{
	SELECT cachepusher.drop_source('sluggish', delete_keys => true);
	SELECT cachepusher.drop_source('lagging', delete_keys => true);
});

# max_pending: more keys than that while Redis is away: they are dropped and a resync follows.
$node->append_conf('postgresql.conf', "cachepusher.max_pending = 100\n");
$node->reload;
$redis->stop(keep => 1);
$node->safe_psql('postgres', q{UPDATE customer SET email = 'overflow' || id_customer WHERE id_customer <= 600});
$node->wait_for_log(qr/more than cachepusher.max_pending \(100\) keys waiting; falling back to a full resync/);
pass('the overflow is logged');
$redis->start;
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'the resync completes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# Overload during a warmup: bursts of more than max_pending keys on a NOTIFY-fed source while its
# resync reads. The first burst owes one more warmup after the running one, and that warmup covers
# every later key: one overflow, two warmups in all, however many bursts; then Redis is in step.
$node->safe_psql('postgres', q{
	CREATE TABLE busy (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
	INSERT INTO busy SELECT i FROM generate_series(1, 2000) i;
	CREATE FUNCTION busy_doc(k int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN PERFORM pg_sleep(0.002); RETURN (SELECT json_build_object('id', id, 'n', n) FROM busy WHERE id = k); END $$;
	CREATE FUNCTION busy_notify() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN PERFORM pg_notify('busy_changed', NEW.id::text); RETURN NULL; END $$;
	CREATE TRIGGER busy_changed AFTER UPDATE ON busy FOR EACH ROW EXECUTE FUNCTION busy_notify();
	SELECT cachepusher.add_source('busy', 'busy_doc(int)', 'SELECT id FROM busy', channels => ARRAY['busy_changed']);
});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'the busy source is warm');
my $log_from = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT cachepusher.resync('busy')});
ok(poll_until(sub { $node->safe_psql('postgres',
	q{SELECT state = 'warming' AND warmup_done > 0 FROM cachepusher.status WHERE source = 'busy'}) eq 't' }),
	'its resync is reading');
for my $burst (1 .. 4)
{
	$node->safe_psql('postgres', "UPDATE busy SET n = $burst WHERE id % 5 = 0");    # 400 keys
	Time::HiRes::sleep(0.4);
}
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('120 s')}), 't', 'in step after the bursts');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('busy')}), '0', 'verify() finds nothing');
my $said = slurp_file($node->logfile, $log_from);
my $overflows = () = $said =~ /source "busy": more than cachepusher.max_pending/g;
my $warmups = () = $said =~ /warming source "busy": 2000 keys/g;
is($overflows, 1, 'four bursts during one warmup: one overflow');
is($warmups, 2, 'and two warmups: the running one and the one it owed');
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('busy', delete_keys => true)});

# A Redis that accepts the connection and then hangs: SIGTERM still ends the worker at once, and
# the worker holds no transaction open while it waits.
my $hang = IPC::Run::start([ CachePusher::Redis::cli_program(), '-p', $redis->port, 'DEBUG', 'SLEEP', '5' ]);
$node->safe_psql('postgres', q{UPDATE customer SET name = 'while redis sleeps' WHERE id_customer = 1});
my $pid = worker_pid($node);
ok(poll_until(sub { $node->safe_psql('postgres',
	"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $pid") eq 't' }), 'the worker waits on Redis');
is($node->safe_psql('postgres', "SELECT xact_start IS NULL FROM pg_stat_activity WHERE pid = $pid"), 't',
	'with no transaction open');
my $sent = time;
kill 'TERM', $pid;
ok(poll_until(sub { !kill(0, $pid) }, 10), 'SIGTERM ends the worker while Redis hangs');
note(sprintf('exited %.0f ms after SIGTERM', (time - $sent) * 1000));
cmp_ok(time - $sent, '<', 2, 'promptly');
$hang->finish;
ok(poll_until(sub { worker_pid($node) =~ /^\d+$/ }), 'restarted');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'caught up after Redis woke');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# SIGKILL: the postmaster restarts every backend; the worker warms up again. A source that takes
# about 5 s to warm makes sure the kill lands in the middle of a warmup.
$node->safe_psql('postgres', q{
	CREATE FUNCTION slow_customer(id int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN PERFORM pg_sleep(0.005); RETURN customer_get(id); END $$;
	SELECT cachepusher.add_source('slow', 'slow_customer(int)', 'SELECT id_customer FROM customer',
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
});
ok(poll_until(sub { $node->safe_psql('postgres',
	q{SELECT state = 'warming' AND warmup_done > 0 FROM cachepusher.status WHERE source = 'slow'}) eq 't' }),
	'the slow source is warming');
kill_worker_and_wait($node, 'during a warmup');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'warm again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# SIGKILL during a storm of writes from another session.
my $storm = $node->background_psql('postgres', on_error_stop => 0);
$storm->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..400 LOOP
	    UPDATE customer SET name = 'storm ' || i WHERE id_customer = 1 + (i * 7) % 1000;
	    COMMIT;
	END LOOP; END $$;
});
ok(poll_until(sub { $node->safe_psql('postgres', q{SELECT count(*) >= 20 FROM customer WHERE name LIKE 'storm %'}) eq 't' }),
	'the storm is under way');
kill_worker_and_wait($node, 'during writes', sub { eval { $storm->quit } });
# The crash restart ended the storm's session too; write a little more after it.
$node->safe_psql('postgres', q{UPDATE customer SET name = 'after the crash' WHERE id_customer <= 5});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after the crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# SIGKILL the worker and wait for the new one. Until the postmaster has noticed the kill, the old
# pid is still listed, and a query then may meet the crash restart: wait for a different pid.
sub kill_worker_and_wait
{
	my ($node, $when, $after_kill) = @_;
	my $killed = worker_pid($node);
	kill 'KILL', $killed;
	$after_kill->() if $after_kill;
	ok(poll_until(sub { my $p = eval { worker_pid($node) }; defined $p && $p =~ /^\d+$/ && $p ne $killed }),
		"back after SIGKILL $when");
}

done_testing();
