# Redis loses what the worker wrote: restarted empty, flushed while connected, restarted from an
# older snapshot. Notifications cannot repair that; the worker notices (run_id, marker key) and
# resyncs, and verify() finds nothing afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('lost_data', $redis);
load_seed_schema($node, customers => 500, addresses => 800);
add_seed_source($node);
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm');

# Restarted empty: no persistence, everything gone.
$redis->stop;
$redis->start;
cache_matches($node, $redis, 'customer', $docs, 'Redis restarted empty is filled again');
ok($node->log_contains(qr/cachepusher: Redis restarted \(its run_id changed\); resyncing every source/),
	'the restart is logged');

# Flushed while the worker stays connected.
$redis->command('FLUSHALL');
cache_matches($node, $redis, 'customer', $docs, 'Redis flushed while connected is filled again');
ok($node->log_contains(qr/cachepusher: Redis lost our marker key cachepusher#marker#\d+#\d+ \(flushed\)/),
	'the flush is logged');

# Restarted from an older snapshot: its data is there, but stale.
$redis->command('SAVE');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'after the snapshot' WHERE id_customer <= 20});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the changes are written');
$redis->stop;           # killed: the changes after the snapshot are lost
$redis->start;          # loads the snapshot
cache_matches($node, $redis, 'customer', $docs, 'Redis restarted from an older snapshot is brought up to date');

# Changes go on being applied, and a final check finds nothing.
$node->safe_psql('postgres', q{DELETE FROM customer WHERE id_customer BETWEEN 30 AND 40});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'in step again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

# wait_for_sync() knows about lost data too: called right after a flush or a restart, it returns
# only once the resync has filled Redis again.
$redis->command('FLUSHALL');
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'wait_for_sync right after FLUSHALL');
is(scalar(cache_differences($node, $redis, 'customer', $docs)), 0, 'returns with Redis filled again');
$redis->stop;
$redis->start;
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'wait_for_sync right after a restart');
is(scalar(cache_differences($node, $redis, 'customer', $docs)), 0, 'returns with Redis filled again');

done_testing();
