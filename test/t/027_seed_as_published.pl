# The 2015 seed's schema as it was published (examples/seed_schema.sql): no index on
# address.fk_customer, addresses with no customer, array_agg without ORDER BY, its own
# customer_warmup(), and its database role named "cachepusher", like the extension's schema.
# cachepusher converges on it, says why its documents are slow, ignores the empty notifications of
# addresses without a customer, and warns about the role.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;
use File::Basename qw(dirname);

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $redis = start_redis();
my $node = new_node('published', $redis, extension => 0);

# The seed's role exists before the extension: CREATE EXTENSION warns, and says what to do.
$node->safe_psql('postgres', q{
	CREATE ROLE cachepusher LOGIN;
	GRANT CREATE ON SCHEMA public TO cachepusher;
});
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION cachepusher');
is($ret, 0, 'CREATE EXTENSION with a role named cachepusher');
like($err, qr/WARNING:  a role named "cachepusher" exists: once it may use this extension/, 'warns about the role');
like($err, qr/HINT:  Give that role a search_path of its own: ALTER ROLE cachepusher SET search_path = public;/,
	'and says how to fix it');

# What the warning is about: granted the API (as the README says), the seed's role has our schema
# first on its search path, and the seed's migration, run as that role, tries to create there.
$node->safe_psql('postgres', 'GRANT USAGE ON SCHEMA cachepusher TO cachepusher');
my $schema = slurp_file(dirname(__FILE__) . '/../../examples/seed_schema.sql');
($ret, $out, $err) = $node->psql('postgres', $schema, extra_params => [ '-U', 'cachepusher' ]);
like($err, qr/permission denied for schema cachepusher/, 'without the fix the seed\'s migration fails');
$node->safe_psql('postgres', 'ALTER ROLE cachepusher SET search_path = public');
($ret, $out, $err) = $node->psql('postgres', $schema, extra_params => [ '-U', 'cachepusher', '-v', 'ON_ERROR_STOP=1' ]);
is($ret, 0, 'with it the migration runs') or diag($err);

# Data like the seed's fake data: many addresses, some without a customer. No index, on purpose.
$node->safe_psql('postgres', q{
	INSERT INTO customer (name) SELECT 'customer ' || i FROM generate_series(1, 3000) i;
	INSERT INTO address (description, fk_customer)
	SELECT 'address ' || i, CASE WHEN i % 20 = 0 THEN NULL ELSE 1 + i % 3000 END FROM generate_series(1, 30000) i;
});
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer',
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
});
converged($node, $redis, 'customer', $docs, 'after the warmup');
like($redis->get('customer:7'), qr/^\{"id_customer":7,"name":"customer 7","addresses":\[\{"id_address":\d+,"description":"address \d+"\}/,
	'documents are the seed\'s JSON');

# 3000 documents that each scan 30,000 addresses: the worker says so, once, naming the cause.
$node->wait_for_log(qr/source "customer": each document takes [0-9.]+ ms to build/);
pass('the slow documents are logged');
ok($node->log_contains(qr/HINT:  A document function that looks child rows up by a column with no index on it/),
	'with the usual cause');
cmp_ok(source_status($node, 'customer')->{ms_per_document}, '>=', 0.5, 'status shows the cost');
my $since = source_status($node, 'customer')->{stats_reset};
ok($since ne '', 'and since when it counts');

# The seed's own warmup: it touches every customer, so its trigger notifies them all.
$node->safe_psql('postgres', 'SELECT customer_warmup()');
converged($node, $redis, 'customer', $docs, 'after customer_warmup()');

# Its writes: new customers and addresses, renames, addresses changed and deleted, a customer deleted.
my $errors = source_status($node, 'customer')->{errors};
$node->safe_psql('postgres', q{
	INSERT INTO customer (name) VALUES ('new one');
	INSERT INTO address (description, fk_customer) SELECT 'new address', max(id_customer) FROM customer;
	UPDATE customer SET name = 'renamed' WHERE id_customer % 100 = 1;
	UPDATE address SET description = 'changed' WHERE id_address % 97 = 0;
	DELETE FROM address WHERE id_address % 89 = 0;
	DELETE FROM address WHERE fk_customer = 10;
	DELETE FROM customer WHERE id_customer = 10;
});
converged($node, $redis, 'customer', $docs, 'after the seed\'s writes');
is($redis->get('customer:10'), undef, 'the deleted customer is gone from Redis');

# An address with no customer notifies an empty id: ignored and counted, not an error.
my $ignored = source_status($node, 'customer')->{keys_ignored};
$node->safe_psql('postgres', q{UPDATE address SET description = 'nobody''s' WHERE fk_customer IS NULL AND id_address <= 200});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync()}), 't', 'in step after orphan addresses changed');
cmp_ok(source_status($node, 'customer')->{keys_ignored} - $ignored, '==', 1,
	'their empty notification (one: NOTIFY folds a transaction\'s duplicates) is ignored');
is(source_status($node, 'customer')->{errors}, $errors, 'and no error is counted');
ok($node->log_contains(qr/source "customer": ignored an empty notification on channel "customer_updated"/),
	'the log names the channel');
is($redis->get('customer:'), undef, 'no bare "customer:" key is written');

# The same documents, byte for byte, from one query per batch (examples/seed_documents.sql).
my $query = slurp_file(dirname(__FILE__) . '/../../examples/seed_documents.sql');
$query =~ s/^--.*\n//mg;
$node->safe_psql('postgres', "SELECT cachepusher.add_source('customer_set', NULL, 'SELECT id_customer FROM customer', "
	  . "key_prefix => 'cs', documents_query => \$q\$$query\$q\$, channels => ARRAY['customer_updated', 'customer_deleted'])");
converged($node, $redis, 'cs', $docs, 'for the set-based source');

# With the index, a document costs far less: the next window of documents shows it.
$node->safe_psql('postgres', 'CREATE INDEX ON address (fk_customer)');
$node->safe_psql('postgres', q{SELECT cachepusher.resync('customer')});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'resynced with the index');
cmp_ok(source_status($node, 'customer')->{ms_per_document}, '<', 0.5, 'the cost falls below the hint\'s threshold');

# The README's quick start on this schema too, line by line, with the seed's triggers dropped.
$node->safe_psql('postgres', q{
	SELECT cachepusher.drop_source('customer');
	SELECT cachepusher.drop_source('customer_set');
	DROP TRIGGER customer_updated_trigger ON customer;
	DROP TRIGGER address_updated_trigger ON address;
});
$node->safe_psql('postgres', readme_quick_start());
converged($node, $redis, 'customer', $docs, 'after the README\'s quick start');
$node->safe_psql('postgres', q{
	UPDATE address SET fk_customer = 12 WHERE id_address = (SELECT min(id_address) FROM address WHERE fk_customer = 11);
	UPDATE address SET fk_customer = 13 WHERE fk_customer IS NULL AND id_address < 100;
	UPDATE customer SET name = 'quick' WHERE id_customer = 3;
});
converged($node, $redis, 'customer', $docs, 'after changes through watch()\'s triggers, an address moved too');

done_testing();
