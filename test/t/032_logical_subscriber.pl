# A cluster that receives its tables by logical replication keeps their documents in step too. The
# subscription's apply worker runs with session_replication_role = replica, where ordinary triggers
# do not fire, and it fires row triggers only, never statement triggers: watch() makes its triggers
# fire always, and puts row triggers on a table a subscription writes to. A session in replica mode
# (as tools that bypass triggers use) is seen the same way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

# The publisher: the seed's tables and some data, no cachepusher.
my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;
load_seed_schema($publisher, customers => 50, addresses => 100);
$publisher->safe_psql('postgres', 'CREATE PUBLICATION seed FOR TABLE customer, address');

# The subscriber: cachepusher's node, the same tables, filled by the subscription.
my $redis = start_redis();
my $node = new_node('subscriber', $redis);
load_seed_schema($node);
my $publisher_connection = $publisher->connstr . ' dbname=postgres';
$node->safe_psql('postgres', "CREATE SUBSCRIPTION seed CONNECTION '$publisher_connection' PUBLICATION seed");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')}),
	'the subscription copied the tables');

watch_seed_source($node);
is($node->safe_psql('postgres', q{
	SELECT string_agg(tgrelid::regclass || ' ' || tgname || ' ' || CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END
	                  || ' ' || tgenabled::text, E'\n' ORDER BY tgrelid::regclass::text, tgname)
	FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc}),
	join("\n",
		'address cachepusher_customer_delete row A',
		'address cachepusher_customer_insert row A',
		'address cachepusher_customer_truncate statement A',
		'address cachepusher_customer_update row A',
		'customer cachepusher_customer_delete row A',
		'customer cachepusher_customer_insert row A',
		'customer cachepusher_customer_truncate statement A',
		'customer cachepusher_customer_update row A'),
	'watch() puts row triggers that fire always on the tables the subscription writes to');
converged($node, $redis, 'customer', $docs, 'after the warmup');

# Changes made on the publisher, applied by the subscription.
seed_changes($publisher);
$publisher->safe_psql('postgres', q{
	UPDATE address SET city = city || ' (moved)', fk_customer = 7 WHERE fk_customer = 3;
	UPDATE customer SET email = 'c' || id_customer || '@example.com' WHERE id_customer BETWEEN 10 AND 30;
	DELETE FROM address WHERE fk_customer = 4;
});
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after the subscription applied the publisher\'s changes');
is($redis->get('customer:1') =~ /"renamed"/ ? 1 : 0, 1, 'a customer renamed on the publisher is renamed in Redis');

# A session in replica mode on the subscriber.
$node->safe_psql('postgres', q{
	SET session_replication_role = replica;
	UPDATE customer SET name = 'written in replica mode' WHERE id_customer = 2;
	DELETE FROM customer WHERE id_customer = 6;
});
converged($node, $redis, 'customer', $docs, 'after a session in replica mode changed rows');

# TRUNCATE on the publisher: the subscription truncates too, and the TRUNCATE trigger fires for it.
$publisher->safe_psql('postgres', 'TRUNCATE address, customer');
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after the publisher truncated the tables');
is(scalar($redis->keys_under('customer')), 0, 'Redis holds no customer document after the TRUNCATE');
$publisher->safe_psql('postgres', q{INSERT INTO customer (name) VALUES ('after the truncate')});
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after a row came in again');

$node->safe_psql('postgres', 'DROP SUBSCRIPTION seed');
$node->stop;
$publisher->stop;
done_testing();
