# Redis behind a Sentinel (cachepusher.redis_sentinel_master): the worker asks the Sentinel for the
# master and writes there. A failover while the application writes converges: the master killed (a
# replica is promoted), and a failover asked of the Sentinel (the old master stays up, and would take
# writes until the Sentinel turns it into a replica: the worker asks the Sentinel every second). The promoted replica may have missed the last writes: its run_id is new, so the worker
# resyncs. Each phase ends with verify() empty and no failed application transaction.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use CachePusher::Test;
use CachePusher::RedisSentinel;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = CachePusher::RedisSentinel->new(name => 'cache');
my $node = new_node('sentinel', $redis, conf => <<'CONF');
cachepusher.redis_sentinel_master = 'cache'
cachepusher.batch_size = 200
cachepusher.command_timeout = 2000
CONF
load_seed_schema($node);
$node->safe_psql('postgres', <<'SQL');
INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 2000) i;
INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 2000, i || ' Main St', 'City' FROM generate_series(1, 3000) i;
CREATE FUNCTION churn(r bigint) RETURNS void LANGUAGE sql AS $$
    UPDATE customer SET name = 'name ' || r WHERE id_customer = 1 + r % 2000;
    UPDATE address SET fk_customer = 1 + (r / 7) % 2000, city = 'city ' || r WHERE id_address = 1 + r % 3000;
$$;
SQL
add_seed_source($node);

my $first = $redis->master;
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warmed');
cache_matches($node, $redis, 'customer', $docs, 'the warmup wrote every document to the master');
my $first_port = $first->port;
ok($node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$first_port \(master "cache" of the Sentinel at 127\.0\.0\.1:\d+\)/),
	'the worker asked the Sentinel and connected to the master');

my $churn_sql = 'SELECT churn(:r);';
sub converged_after { converged($node, $redis, 'customer', $docs, @_); }

# While the application writes, $fail_over ends $old's time as master; returns the new master once
# every write committed and Redis converged, after checking the worker connected to it.
sub fail_over_while_writing
{
	my ($old, $fail_over, $what, $promoted) = @_;
	my $churn = start_churn($node, $churn_sql, 6);
	usleep(1_000_000);
	$fail_over->();
	my $new = $redis->wait_for_new_master($old);
	ok($new, $promoted);
	churn_ok($churn, "during $what");
	converged_after("after $what");
	my $port = $new->port;
	ok($node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$port \(master "cache"/),
		"the worker follows the Sentinel to the new master after $what");
	return $new;
}

# The master is killed while the application writes; the Sentinel promotes the replica.
my $second = fail_over_while_writing($first, sub { $first->stop }, 'the failover', 'the Sentinel promoted the replica');
my $second_port = $second->port;
ok($node->log_contains(qr/Redis master 127\.0\.0\.1:$second_port is not one written to before .*; resyncing every source/),
	'the promoted replica, which may have missed writes, is resynced');

# The other replica follows the new master; the killed one stays down.
ok($redis->wait_for_replicas($second), 'the other replica follows the new master');

# A failover asked of the Sentinel: the master is demoted and answers writes with READONLY.
fail_over_while_writing($second, sub { $redis->sentinel->command('SENTINEL', 'FAILOVER', 'cache') },
	'the failover asked for', 'the Sentinel failed over to the other replica');

done_testing();
