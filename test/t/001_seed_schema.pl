# The customer/address schema of examples/schema.sql (our version of the 2015 seed's): its own
# triggers and channels drive the cache. Warmup (with stale and wrong keys already in Redis), then
# every kind of row change.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('seed', $redis);
load_seed_schema($node);
$node->safe_psql('postgres', q{
	INSERT INTO customer (name, email)
	SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 500) i;
	INSERT INTO address (fk_customer, street, city, zip)
	SELECT 1 + (i % 500), i || ' Main Street', 'Springfield', lpad(i::text, 5, '0')
	  FROM generate_series(1, 1200) i;
});

# What an earlier cache left behind: a key of a customer that is gone, and a wrong document.
$redis->command('SET', 'customer:99999', '{"id": 99999}');
$redis->command('SET', 'customer:7', 'stale');
$redis->command('SET', 'other:1', 'not ours');

add_seed_source($node);
cache_matches($node, $redis, 'customer', $docs, 'warmup writes every document and removes stale keys');
is($redis->get('other:1'), 'not ours', 'keys outside the prefix are left alone');
ok(poll_until(sub { source_status($node, 'customer')->{state} eq 'streaming' }),
	'source streams after warmup');

# Row changes, each in its own transaction, as an application makes them.
$node->safe_psql('postgres', "UPDATE customer SET name = 'renamed' WHERE id_customer = 3");
cache_matches($node, $redis, 'customer', $docs, 'update of a customer');
like($redis->get('customer:3'), qr/"renamed"/, 'the new name is in Redis');

$node->safe_psql('postgres', "DELETE FROM customer WHERE id_customer = 4");
cache_matches($node, $redis, 'customer', $docs, 'delete of a customer');
is($redis->get('customer:4'), undef, 'deleted customer has no key');

my $new_id = $node->safe_psql('postgres',
	"INSERT INTO customer (name) VALUES ('newcomer') RETURNING id_customer");
cache_matches($node, $redis, 'customer', $docs, 'insert of a customer');
like($redis->get("customer:$new_id"), qr/"newcomer"/, 'the new customer is in Redis');

$node->safe_psql('postgres',
	"INSERT INTO address (fk_customer, street, city) VALUES ($new_id, '1 New Road', 'Shelbyville')");
cache_matches($node, $redis, 'customer', $docs, 'insert of an address');
like($redis->get("customer:$new_id"), qr/"1 New Road"/, 'the address is embedded');

$node->safe_psql('postgres', "UPDATE address SET city = 'Capital City' WHERE fk_customer = $new_id");
cache_matches($node, $redis, 'customer', $docs, 'update of an address');

$node->safe_psql('postgres', "DELETE FROM address WHERE fk_customer = $new_id");
cache_matches($node, $redis, 'customer', $docs, 'delete of an address');
like($redis->get("customer:$new_id"), qr/"addresses" : \[\]/, 'the document has no address left');

# An address moving to another customer changes both documents.
my $moved = $node->safe_psql('postgres',
	"SELECT min(id_address) FROM address WHERE fk_customer = 10");
$node->safe_psql('postgres', "UPDATE address SET fk_customer = 11 WHERE id_address = $moved");
cache_matches($node, $redis, 'customer', $docs, 'an address moving to another customer');
unlike($redis->get('customer:10'), qr/"id" : $moved,/, 'the old customer lost the address');
like($redis->get('customer:11'), qr/"id" : $moved,/, 'the new customer has it');

# A transaction touching many customers at once.
$node->safe_psql('postgres', "UPDATE customer SET email = upper(email) WHERE id_customer % 3 = 0");
cache_matches($node, $redis, 'customer', $docs, 'one transaction changing many customers');

my $status = source_status($node, 'customer');
is($status->{errors}, 0, 'no errors counted');
ok($status->{keys_received} >= 170, "keys received counted ($status->{keys_received})");
ok($status->{keys_deleted} >= 1, 'deletions counted');
is($status->{pending}, 0, 'nothing pending');

# The README's quick start on this schema, line by line: its triggers replaced by watch()'s (with
# both, every change would be sent twice), the source added again.
$node->safe_psql('postgres', q{
	SELECT cachepusher.drop_source('customer');
	DROP TRIGGER customer_notify ON customer;
	DROP TRIGGER address_notify ON address;
});
$node->safe_psql('postgres', readme_quick_start());
converged($node, $redis, 'customer', $docs, 'after the README\'s quick start');
$node->safe_psql('postgres', "UPDATE address SET fk_customer = 12 WHERE id_address = $moved");
$node->safe_psql('postgres', "UPDATE customer SET name = 'quick' WHERE id_customer = 3");
converged($node, $redis, 'customer', $docs, 'after changes through watch()\'s triggers');

done_testing();
