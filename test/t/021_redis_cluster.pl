# A Redis Cluster as the target (cachepusher.redis_cluster = on): three masters, each with a replica.
# The warmup spreads the documents over every master, each change reaches the master of its key's
# hash slot (after MOVED or ASK where slots move), and Redis converges to the database while slots are
# resharded under a write load, while a master is killed and its replica takes over, and after one
# master is flushed. Each phase ends with verify() empty and no failed application transaction.
# First, a second source writes the same documents as hashes (value_type => 'hash'): its one script
# per key goes to the master of the key's slot like any command; it is dropped before the faults,
# which keep the load they were tuned for (a cluster-node-timeout of 1 s on a busy machine).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use CachePusher::Test;
use CachePusher::RedisCluster;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $cluster = CachePusher::RedisCluster->new(masters => 3, replicas => 1);
my $node = new_node('cluster', $cluster, conf => <<'CONF');
cachepusher.redis_cluster = on
cachepusher.batch_size = 200
cachepusher.command_timeout = 2000
CONF
load_seed_schema($node);
$node->safe_psql('postgres', <<'SQL');
INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 3000) i;
INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 3000, i || ' Main St', 'City' FROM generate_series(1, 5000) i;
-- What the application does during the faults: one customer renamed, one address moved.
CREATE FUNCTION churn(r bigint) RETURNS void LANGUAGE sql AS $$
    UPDATE customer SET name = 'name ' || r WHERE id_customer = 1 + r % 3000;
    UPDATE address SET fk_customer = 1 + (r / 7) % 3000, city = 'city ' || r WHERE id_address = 1 + r % 5000;
$$;
SQL
add_seed_source($node);

# Warmup: every document, spread over the three masters.
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warmed');
cache_matches($node, $cluster, 'customer', $docs, 'the warmup wrote every document to the cluster');
ok($node->log_contains(qr/cachepusher: connected to Redis at Redis Cluster, 3 masters: /),
	'the worker connected to the three masters');
my @masters = $cluster->masters;
is(scalar(@masters), 3, 'three masters');
for my $m (@masters)
{
	my $held = scalar keys %{ $m->all_under('customer') };
	cmp_ok($held, '>', 500, "master on port " . $m->port . " holds $held of the 3000 documents");
}

# A change reaches the master of its key's slot.
$node->safe_psql('postgres', q{UPDATE customer SET name = 'renamed ' || id_customer WHERE id_customer <= 30});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'changes written');
my $wrong = 0;
for my $id (1 .. 30)
{
	my $expected = $node->safe_psql('postgres', "SELECT customer_get($id)");
	my $owner = $cluster->master_of("customer:$id");
	$wrong++ unless ($owner->get("customer:$id") // '') eq $expected;
}
is($wrong, 0, 'each changed document is on the master that serves its slot');
# Redirections would hide a wrong slot computation: none may have happened yet (the markers, whose
# {hash tags} choose a slot of each master, included).
is($cluster->errors_answered('MOVED'), 0, 'every command went straight to the right master');

# Hashes: warmed over the three masters, changes followed, verify() reads them back, each script
# straight to the master of its key.
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('hashed', 'customer_get(int)', 'SELECT id_customer FROM customer',
	                              value_type => 'hash');
	SELECT cachepusher.watch('hashed', 'customer', 'id_customer');
	SELECT cachepusher.watch('hashed', 'address', 'fk_customer');
});
cache_matches($node, $cluster, 'hashed', $docs, 'the documents as hashes, over the cluster', \&hash_differences);
$node->safe_psql('postgres', q{UPDATE address SET city = 'moved' WHERE id_address <= 300});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'changes written as hashes');
cache_matches($node, $cluster, 'hashed', $docs, 'and followed', \&hash_differences);
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('hashed')}), '0', 'verify() reads the hashes back');
is($cluster->errors_answered('MOVED'), 0, 'each hash script went straight to the right master');
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('hashed', delete_keys => true)});
ok(poll_until(sub { !keys %{ $cluster->all_hashes_under('hashed') } }), 'dropped, its keys deleted');

my $churn_sql = 'SELECT churn(:r);';
sub converged_after { converged($node, $cluster, 'customer', $docs, @_); }

# A slot in the middle of a migration, done by hand as redis-cli does it: its keys have moved to the
# importing master, which the migrating one names in an ASK reply; the worker asks there once, after
# ASKING. verify() reads the same way.
my $asked_key = 'customer:5';
my $slot = $cluster->master_of($asked_key)->command('CLUSTER', 'KEYSLOT', $asked_key);
my $source = $cluster->master_of($asked_key);
my ($importer) = grep { $_ != $source } $cluster->masters;
$importer->command('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $cluster->node_id($source));
$source->command('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $cluster->node_id($importer));
my $in_slot = $source->command('CLUSTER', 'GETKEYSINSLOT', $slot, 1000);
$source->command('MIGRATE', '127.0.0.1', $importer->port, '', 0, 5000, 'KEYS', @$in_slot);
$node->safe_psql('postgres', q{UPDATE customer SET name = 'asked for' WHERE id_customer = 5});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'a change of a key being migrated is written');
my (undef, $asked) = $importer->pipeline([ 'ASKING' ], [ 'GET', $asked_key ]);
is($asked, $node->safe_psql('postgres', 'SELECT customer_get(5)'), 'it went to the importing master');
cmp_ok($cluster->errors_answered('ASK'), '>', 0, 'after an ASK reply');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() follows ASK too');
$_->command('CLUSTER', 'SETSLOT', $slot, 'NODE', $cluster->node_id($importer)) for $cluster->masters;
ok($cluster->wait_until_ok, 'the migration of the slot is finished');

# Resharding under load: 3000 slots move from one master to another while the churn runs.
my ($from, $to) = @masters[0, 1];
my $moved_key = 'customer:1';
my $owner_before = $cluster->master_of($moved_key)->port;
my $churn = start_churn($node, $churn_sql, 8);
my $t0 = time;
my ($out, $err) = ('', '');
IPC::Run::run([ CachePusher::Redis::cli_program(), '--cluster', 'reshard', '127.0.0.1:' . $from->port,
	'--cluster-from', $cluster->node_id($from), '--cluster-to', $cluster->node_id($to),
	'--cluster-slots', '3000', '--cluster-yes' ], '>', \$out, '2>', \$err)
  or diag("reshard: $out $err");
note(sprintf('resharding 3000 slots took %.1f s', time - $t0));
ok($cluster->wait_until_ok, 'the cluster is ok after the reshard');
churn_ok($churn, 'during the reshard');
my $moved = $cluster->errors_answered('MOVED');
cmp_ok($moved, '>', 0, "the worker was redirected ($moved MOVED, " . $cluster->errors_answered('ASK') . ' ASK answered)');
converged_after('after the reshard');
cmp_ok(scalar keys %{ $to->all_under('customer') }, '>', scalar keys %{ $from->all_under('customer') },
	'the documents moved with their slots');

# A master is killed while the churn runs; its replica takes over after cluster-node-timeout.
# The master killed is one that imported no slot here. Redis 7.0 can lose the last slot a master
# imported when that master is killed and later comes back: its promoted replica ends up not owning
# that slot while every other node says it does, so no write of the slot succeeds (seen twice here on
# 12-07 with the reshard's target as the victim: slot 2999 of 0-2999). That is Redis' state, not ours.
my ($victim) = grep { $_ != $to && $_ != $importer } $cluster->masters;
my $victim_port = $victim->port;
$churn = start_churn($node, $churn_sql, 8);
usleep(1_000_000);
$victim->stop;
ok(poll_until(sub { $cluster->wait_until_ok(1) && !grep { $_->port == $victim_port } $cluster->masters }, 60),
	'a replica took over the killed master');
churn_ok($churn, 'during the failover');
converged_after('after the failover');
ok($node->log_contains(qr/Redis master 127\.0\.0\.1:\d+ is not one written to before .*; resyncing every source/),
	'the promoted replica, which may have missed writes, is resynced');

# One master flushed: its marker key is gone, so every source is written again.
my ($flushed) = $cluster->masters;
my $flushed_port = $flushed->port;
$flushed->command('FLUSHALL');
converged_after('after one master was flushed');
ok($node->log_contains(qr/Redis lost our marker key cachepusher#marker#\d+#\d+\{\d+\} on 127\.0\.0\.1:$flushed_port \(flushed\); resyncing every source/),
	'the flush of that master is noticed');

# The killed node comes back as a replica; the cluster and the cache stay as they are.
$victim->start;
ok($cluster->wait_until_ok, 'the old master rejoined') or diag($cluster->describe);
$node->safe_psql('postgres', q{UPDATE customer SET email = 'last' WHERE id_customer % 10 = 0});
converged_after('at the end');

done_testing();
