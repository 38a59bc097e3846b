# A second source beside the seed's, kept in step by triggers that watch() installs: a parent
# table and a child table whose rows can move between parents, TRUNCATE, unwatch and drop_source.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $customers = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $products = 'SELECT sku, shop.product_doc(sku) FROM shop.product';

my $redis = start_redis();
my $node = new_node('sources', $redis);
load_seed_schema($node, customers => 50);
$node->safe_psql('postgres', q{
	-- Text keys, a jsonb document, a schema of its own, a child table with no triggers of its own.
	CREATE SCHEMA shop;
	CREATE TABLE shop.product (sku text PRIMARY KEY, title text NOT NULL, price numeric);
	CREATE TABLE shop.review (id serial PRIMARY KEY, sku text NOT NULL REFERENCES shop.product ON DELETE CASCADE,
	                          stars int NOT NULL);
	CREATE FUNCTION shop.product_doc(p_sku text) RETURNS jsonb LANGUAGE sql STABLE AS $$
	    SELECT jsonb_build_object('sku', p.sku, 'title', p.title, 'price', p.price,
	           'reviews', (SELECT coalesce(jsonb_agg(r.stars ORDER BY r.id), '[]') FROM shop.review r
	                        WHERE r.sku = p.sku))
	      FROM shop.product p WHERE p.sku = p_sku $$;
	INSERT INTO shop.product SELECT 'sku-' || i, 'product ' || i, i * 1.5 FROM generate_series(1, 80) i;
	INSERT INTO shop.review (sku, stars) SELECT 'sku-' || (1 + i % 80), 1 + i % 5 FROM generate_series(1, 200) i;
});

add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('product', 'shop.product_doc(text)', 'SELECT sku FROM shop.product',
	                              key_prefix => 'prod');
	SELECT cachepusher.watch('product', 'shop.product', 'sku');
	SELECT cachepusher.watch('product', 'shop.review', 'sku');
});
cache_matches($node, $redis, 'customer', $customers, 'first source warmed');
cache_matches($node, $redis, 'prod', $products, 'second source warmed under its own prefix');

$node->safe_psql('postgres', q{
	UPDATE shop.product SET price = 99 WHERE sku = 'sku-5';
	INSERT INTO shop.product VALUES ('sku-new', 'brand new', 1);
	DELETE FROM shop.product WHERE sku = 'sku-6';
	INSERT INTO shop.review (sku, stars) VALUES ('sku-new', 5);
	UPDATE customer SET name = 'both sources in one transaction' WHERE id_customer = 1;
});
cache_matches($node, $redis, 'prod', $products, 'watched parent and child changes');
cache_matches($node, $redis, 'customer', $customers, 'the other source in the same transaction');
is($redis->get('prod:sku-6'), undef, 'deleted product has no key');

my $review = $node->safe_psql('postgres', "SELECT min(id) FROM shop.review WHERE sku = 'sku-7'");
$node->safe_psql('postgres', "UPDATE shop.review SET sku = 'sku-8' WHERE id = $review");
cache_matches($node, $redis, 'prod', $products, 'a child row moving to another parent refreshes both');

$node->safe_psql('postgres', "UPDATE shop.product SET title = 'bulk ' || sku");
cache_matches($node, $redis, 'prod', $products, 'one statement changing every row');

# TRUNCATE fires no row triggers: the truncate trigger asks for a resync, which removes the keys.
$node->safe_psql('postgres', 'TRUNCATE shop.review');
cache_matches($node, $redis, 'prod', $products, 'TRUNCATE of a watched child table');

# unwatch: later changes of that table no longer reach Redis.
$node->safe_psql('postgres', "SELECT cachepusher.unwatch('product', 'shop.product')");
my $before = $redis->get('prod:sku-9');
$node->safe_psql('postgres', "UPDATE shop.product SET title = 'unwatched' WHERE sku = 'sku-9'");
# A change that is still watched, made after, proves the worker went past the unwatched one.
$node->safe_psql('postgres', "INSERT INTO shop.review (sku, stars) VALUES ('sku-10', 3)");
ok(poll_until(sub { ($redis->get('prod:sku-10') // '') =~ /"reviews": \[3\]/ }), 'watched table still served');
is($redis->get('prod:sku-9'), $before, 'unwatched table no longer drives the cache');

# drop_source: its triggers go, its keys stay, the other source carries on.
$node->safe_psql('postgres', "SELECT cachepusher.drop_source('product')");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc"),
	'0', 'drop_source removed the triggers watch() installed');
is($node->safe_psql('postgres', 'SELECT string_agg(source, \',\') FROM cachepusher.status'),
	'customer', 'status lists the remaining source');
ok(defined $redis->get('prod:sku-10'), 'keys of the dropped source stay in Redis');
$node->safe_psql('postgres', "UPDATE customer SET name = 'still served' WHERE id_customer = 2");
cache_matches($node, $redis, 'customer', $customers, 'the remaining source is still kept in step');
ok($node->log_contains('cachepusher: source "product" dropped'), 'the worker logged the drop');

# drop_source(delete_keys => true): the worker deletes the source's keys, and nothing else.
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('product', 'shop.product_doc(text)', 'SELECT sku FROM shop.product',
	                              key_prefix => 'prod');
	SELECT cachepusher.wait_for_sync();
});
ok(scalar(keys %{ $redis->all_under('prod') }) > 50, 'the source is back, with its keys');
$redis->command('SET', 'prodx:1', 'a neighbour that only looks alike');
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('product', delete_keys => true)});
ok(poll_until(sub { !%{ $redis->all_under('prod') } }), 'drop_source(delete_keys) removes every key of the source');
is($redis->get('prodx:1'), 'a neighbour that only looks alike', 'a key of another prefix stays');
ok(poll_until(sub { $node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.forgotten_prefix') eq '0' }),
	'and the worker forgets the prefix when done');
$node->wait_for_log(qr/cachepusher: deleted \d+ keys of dropped source prefix prod:\*/);
pass('the deletion is logged');
cache_matches($node, $redis, 'customer', $customers, 'the remaining source is untouched');

done_testing();
