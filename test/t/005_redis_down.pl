# Redis goes away and comes back. Meanwhile the application's commits go on undisturbed, the
# worker keeps draining notifications and keeps the changed keys, and writes them all once Redis
# is back.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('redis_down', $redis);
load_seed_schema($node, customers => 200, addresses => 400);
add_seed_source($node);
cache_matches($node, $redis, 'customer', $docs, 'warm before the outage');

# Redis saves and stops: when it starts again it holds what it held, and misses what changed since.
$redis->stop(keep => 1);
my $received = source_status($node, 'customer')->{keys_received};
my $started = time;
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', qq{
		UPDATE customer SET name = 'changed during the outage $i' WHERE id_customer = $i;
		INSERT INTO address (fk_customer, city) VALUES (100 + $i, 'new during the outage');
		DELETE FROM customer WHERE id_customer = 150 + $i;
	});
}
my $elapsed = time - $started;
note(sprintf('40 application transactions during the outage took %.3f s', $elapsed));

ok(poll_until(sub { source_status($node, 'customer')->{state} eq 'redis_down' }), 'status says redis_down');
ok(poll_until(sub { source_status($node, 'customer')->{keys_received} >= $received + 120 }),
	'the worker kept draining notifications');
ok(poll_until(sub { source_status($node, 'customer')->{pending} > 0 }), 'the changed keys are kept pending');
# No batch can be written: the worker sleeps until its next reconnect, it does not spin on its keys.
my $pid = worker_pid($node);
my ($cpu, $since) = (cpu_seconds($pid), time);
sleep 3;
my $share = (cpu_seconds($pid) - $cpu) / (time - $since);
cmp_ok($share, '<', 0.2,
	sprintf('the worker waits while Redis is down and keys are pending (%.0f %% of a core; a busy loop takes all of it)',
		100 * $share));
ok($node->log_contains(qr/cachepusher: .*Redis.*\n.*DETAIL:  Changes are kept and written once Redis is back/),
	'the outage is logged');
isnt(worker_pid($node), '', 'the worker is still running');

$redis->start;
cache_matches($node, $redis, 'customer', $docs, 'every change of the outage is written once Redis is back');
ok(poll_until(sub { source_status($node, 'customer')->{state} eq 'streaming' }), 'status says streaming again');
is(source_status($node, 'customer')->{pending}, 0, 'nothing left pending');
ok($node->log_contains('cachepusher: connected to Redis'), 'the reconnection is logged');

$node->safe_psql('postgres', "UPDATE customer SET name = 'after the outage' WHERE id_customer = 199");
cache_matches($node, $redis, 'customer', $docs, 'kept in step after the outage');

# Redis full (maxmemory with the default noeviction): it refuses every write with OOM. That is the
# server, not the keys: the worker keeps the batch and backs off as in an outage, and counts no key
# as failing; once memory is freed, everything is written.
my $errors_before = source_status($node, 'customer')->{errors};
my $log_offset = -s $node->logfile;
$redis->command('CONFIG', 'SET', 'maxmemory', '1');
$node->safe_psql('postgres', "UPDATE customer SET name = 'while Redis is full' WHERE id_customer <= 30");
$node->wait_for_log(qr/Redis \(.*\) cannot take writes now: OOM/, $log_offset);
pass('a full Redis is logged as Redis refusing writes');
ok(poll_until(sub { source_status($node, 'customer')->{state} eq 'redis_down' }), 'status says redis_down');
ok(!$node->log_contains(qr/source "customer", key "\d+": .*OOM/, $log_offset), 'no key is logged as failing');
$redis->command('CONFIG', 'SET', 'maxmemory', '0');
cache_matches($node, $redis, 'customer', $docs, 'every change made while Redis was full is written once it has room');
is(source_status($node, 'customer')->{errors}, $errors_before + 1, 'one error counted for the whole episode');

# An outage whose cause changes: the connection is lost, and the Redis it comes back to wants a
# password. The new cause is logged at once with what to set, and status shows it, not the first.
$errors_before = source_status($node, 'customer')->{errors};
$log_offset = -s $node->logfile;
$redis->command('CONFIG', 'SET', 'requirepass', 'now-secret');    # this connection stays authenticated
$redis->command('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
$node->safe_psql('postgres', "UPDATE customer SET name = 'while a password is wanted' WHERE id_customer = 7");
$node->wait_for_log(qr/refused the connection set-up: NOAUTH.*\(the server wants a password: set cachepusher.redis_password\)/,
	$log_offset);
pass('a Redis that wants a password: logged, with the setting to set');
ok(poll_until(sub { $node->safe_psql('postgres', q{SELECT last_error FROM cachepusher.status WHERE source = 'customer'}) =~ /NOAUTH/ }),
	'last_error shows the latest cause');
$redis->command('CONFIG', 'SET', 'requirepass', '');
cache_matches($node, $redis, 'customer', $docs, 'written once Redis lets the worker in again');
is(source_status($node, 'customer')->{errors}, $errors_before + 1, 'one error counted for the outage');

done_testing();
