# TLS to every node: a Redis Cluster whose masters the worker finds through a seed's slot map (Redis
# names its TLS ports to a TLS client), and a Sentinel reached in plain TCP
# (redis_sentinel_tls = off) naming a master and replicas that speak TLS only to the worker; a
# failover moves the worker to the promoted replica, over TLS. Skipped when built without TLS (025
# checks the refusal then).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;
use CachePusher::Tls;
use CachePusher::RedisCluster;
use CachePusher::RedisSentinel;

my $ca = make_ca('ca');
my ($server_crt, $server_key) = make_cert('server', 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1');
my $tls = { cert => $server_crt, key => $server_key, ca => $ca };
my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

sub seeded_node
{
	my ($name, $redis, $conf) = @_;
	my $node = new_node($name, $redis, conf => $conf . "cachepusher.redis_tls = on\ncachepusher.redis_tls_ca_file = '$ca'\n");
	load_seed_schema($node);
	$node->safe_psql('postgres', q{
		INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 1000) i;
		INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 1000, 'street ' || i, 'city' FROM generate_series(1, 2000) i;
	});
	add_seed_source($node);
	return $node;
}

sub change_converges
{
	my ($node, $redis, $what) = @_;
	$node->safe_psql('postgres', "UPDATE customer SET name = 'changed: $what' WHERE id_customer % 7 = 0");
	cache_matches($node, $redis, 'customer', $docs, "$what: changes reach Redis");
	return;
}

my $cluster = CachePusher::RedisCluster->new(masters => 3, replicas => 0, tls => $tls);
my $node = seeded_node('tls_cluster', $cluster,
	"cachepusher.redis_cluster = on\ncachepusher.redis_port = " . $cluster->worker_port . "\n");
plan skip_all => 'built without TLS support (hiredis >= 1.0 with hiredis_ssl is needed)' unless tls_built($node, 0);

cache_matches($node, $cluster, 'customer', $docs, 'Cluster over TLS: warmed');
my $tls_ports = join(', ', sort map { '127.0.0.1:' . $_->tls_port } $cluster->masters);
ok($node->log_contains(qr/connected to Redis at Redis Cluster, 3 masters over TLS: \Q$tls_ports\E/),
	"the worker connected to each master on its TLS port ($tls_ports)");
change_converges($node, $cluster, 'Cluster over TLS');
$node->stop;
$cluster->stop;

my $sentinel = CachePusher::RedisSentinel->new(name => 'cache', tls => $tls);
$node = seeded_node('tls_sentinel', $sentinel,
	"cachepusher.redis_sentinel_master = 'cache'\ncachepusher.redis_sentinel_tls = off\n");
ok(tls_built($node, 0), 'Sentinel: connected over TLS');
my $first = $sentinel->master;
my $first_port = $first->tls_port;
ok($node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$first_port over TLS \(master "cache" of the Sentinel at 127\.0\.0\.1:\d+/),
	"to the master's TLS port, asking a Sentinel reached in plain TCP");
cache_matches($node, $sentinel, 'customer', $docs, 'Sentinel, master over TLS: warmed');

$first->stop;
my $promoted = $sentinel->wait_for_new_master($first);
ok($promoted, 'the master killed, the Sentinel promotes a replica');
my $promoted_port = $promoted->tls_port;
ok(poll_until(sub { $node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$promoted_port over TLS/) }),
	'the worker follows it, over TLS');
change_converges($node, $sentinel, 'after the failover');

done_testing();
