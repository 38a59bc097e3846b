# A set-based source: one documents query builds the documents of a whole batch of keys
# (add_source(..., documents_query)). The seed's customers through examples/customer_documents.sql
# give the same Redis content as customer_get(); warmup, changes, deletes and children moving
# between parents are followed; a key the query fails for costs that key only; verify() finds
# nothing; and the query runs as its owner, who reads nothing through it that they could not read.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $documents_query = slurp_file(dirname(__FILE__) . '/../../examples/customer_documents.sql');
my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
# A short statement timeout: a query that runs too long for one key fails that key alone.
my $node = new_node('documents_query', $redis, conf => "cachepusher.statement_timeout = 1000\n");
load_seed_schema($node);
$node->safe_psql('postgres', "\\set customers 300\n" . slurp_file(dirname(__FILE__) . '/../../examples/generate.sql'));

# The same customers twice: built by the documents query (set-based) and by customer_get() (per key).
$node->safe_psql('postgres', qq{
	SELECT cachepusher.add_source('customer', NULL, 'SELECT id_customer FROM customer',
	                              documents_query => \$q\$$documents_query\$q\$,
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
	SELECT cachepusher.add_source('customer_fn', 'customer_get(int)', 'SELECT id_customer FROM customer',
	                              key_prefix => 'fn', channels => ARRAY['customer_updated', 'customer_deleted']);
});
cache_matches($node, $redis, 'customer', $docs, 'warmup: the documents query writes what customer_get() builds');
cache_matches($node, $redis, 'fn', $docs, 'and the function source the same');
my $fn = $redis->all_under('fn');
my $set = $redis->all_under('customer');
my @differ = grep { !defined $set->{ s/^fn:/customer:/r } || $set->{ s/^fn:/customer:/r } ne $fn->{$_} } keys %$fn;
ok(keys %$fn == 300 && keys %$set == 300 && !@differ, 'byte for byte the same documents under both prefixes');

# Changes through the seed's own triggers: a customer, addresses added, changed, moved to another
# customer (both refreshed), deleted; a customer deleted (its key deleted), one signed up.
$node->safe_psql('postgres', q{
	UPDATE customer SET name = 'renamed', email = NULL WHERE id_customer = 1;
	INSERT INTO address (fk_customer, street, city, zip) VALUES (2, '1 New Street', 'Oslo', '0150');
	UPDATE address SET city = 'Bergen' WHERE id_address = (SELECT min(id_address) FROM address WHERE fk_customer = 3);
	UPDATE address SET fk_customer = 5 WHERE id_address = (SELECT min(id_address) FROM address WHERE fk_customer = 4);
	DELETE FROM address WHERE fk_customer = 6;
	DELETE FROM customer WHERE id_customer IN (7, 8);
	INSERT INTO customer (name) VALUES ('newcomer');
});
cache_matches($node, $redis, 'customer', $docs, 'changes, moves between parents and deletes are followed');
is($redis->get('customer:7'), undef, 'a deleted customer has no key: the query returned no row for it');
like($redis->get('customer:4'), qr/"addresses"/, 'the parent an address left was refreshed');

$node->safe_psql('postgres', q{UPDATE customer SET email = 'bulk-' || id_customer});
cache_matches($node, $redis, 'customer', $docs, 'one statement changing every customer');

# A key that is not an integer amid good keys of the same batch: logged and counted, the others
# written; it names no document, so its Redis key (planted here) is deleted. One that is an integer
# spelt otherwise ("042" is 42, whose key is "42") names customer 42's document, planted stale here:
# that is written, and nothing stays under "042".
$redis->command('SET', 'customer:abc', 'left over');
$redis->command('SET', 'customer:042', 'left over');
$redis->command('SET', 'customer:42', 'stale');
my $errors = source_status($node, 'customer')->{errors};
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT pg_notify('customer_updated', 'abc');
	SELECT pg_notify('customer_updated', '042');
	UPDATE customer SET name = name || ' (changed)' WHERE id_customer BETWEEN 10 AND 30;
	COMMIT;
	SELECT cachepusher.wait_for_sync();
});
cache_matches($node, $redis, 'customer', $docs, 'a bad key costs only itself');
is($redis->get('customer:abc') // $redis->get('customer:042'), undef, 'and nothing stays under "abc" or "042"');
ok($node->log_contains(qr/cachepusher: source "customer", key "abc": invalid input syntax for type integer/),
	'a key that does not cast is logged with source and key');
is(source_status($node, 'customer')->{errors}, $errors + 1, 'and counted; "042" is no error');

is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0',
	'verify() finds no difference');

# A query that fails for some keys only: division by zero for 13, two rows for 9, too slow for 21
# (past statement_timeout). The batch is retried key by key: every other key is written.
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('fragile', NULL, 'SELECT id_customer FROM customer WHERE id_customer <= 30',
	    documents_query => $q$
	        SELECT c.id_customer,
	               json_build_object('id', c.id_customer, 'inverse', 1 / (c.id_customer - 13),
	                                 'slept', CASE WHEN c.id_customer = 21 THEN pg_sleep(5)::text END)
	          FROM customer c WHERE c.id_customer = ANY ($1)
	        UNION ALL
	        SELECT 9, '{"twice": true}'::json WHERE 9 = ANY ($1)
	    $q$);
});
my $fragile = q{SELECT id_customer, json_build_object('id', id_customer, 'inverse', 1 / (id_customer - 13), 'slept', NULL::text)
                FROM customer WHERE id_customer <= 30 AND id_customer NOT IN (9, 13, 21)};
cache_matches($node, $redis, 'fragile', $fragile, 'every key but the three the query fails for');
ok($node->log_contains(qr/cachepusher: source "fragile", key "13": division by zero/), 'division by zero: logged');
ok($node->log_contains(qr/cachepusher: source "fragile", key "9": documents query returned more than one row for key "9"/),
	'two rows for one key: logged');
ok($node->log_contains(qr/cachepusher: source "fragile", key "21": canceling statement due to statement timeout/),
	'past statement_timeout: logged');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ' ORDER BY key)
                                   FROM cachepusher.verify('fragile')}),
	'13 error, 21 missing, 9 error',
	'verify() reports the keys that fail (it runs with the session\'s statement_timeout: 21 is only slow there)');

# The query runs as its owner: alice may use the API but may not read customer. Her source over
# customer writes nothing, and says why.
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT USAGE ON SCHEMA cachepusher TO alice;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO alice;
	GRANT SELECT ON ALL TABLES IN SCHEMA cachepusher TO alice;
	GRANT CREATE ON SCHEMA public TO alice;
});
$node->safe_psql('postgres', q{
	CREATE TABLE alice_key (id int PRIMARY KEY);
	INSERT INTO alice_key SELECT generate_series(1, 5);
	SELECT cachepusher.add_source('peek', NULL, 'SELECT id FROM alice_key',
	    documents_query => 'SELECT c.id_customer, to_json(c.name) FROM customer c WHERE c.id_customer = ANY ($1)');
}, extra_params => [ '-U', 'alice' ]);
ok($node->poll_query_until('postgres', q{SELECT errors >= 5 FROM cachepusher.status WHERE source = 'peek'}),
	'the owner may not read the table: every key fails');
ok($node->log_contains(qr/cachepusher: source "peek", key "1": permission denied for table customer/),
	'permission denied, logged');
is_deeply($redis->all_under('peek'), {}, 'nothing of the table reached Redis');

done_testing();
