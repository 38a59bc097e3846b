# Sources are part of a database's dump (pg_extension_config_dump): restored into another server,
# they are served there by its worker, with its own Redis. The old server was installed at 1.1 and
# updated: EXECUTE granted on the API before the update is in the dump too.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $old_redis = start_redis();
my $old = new_node('old', $old_redis, extension => 0);
$old->safe_psql('postgres', q{
	CREATE EXTENSION cachepusher VERSION '1.1';
	CREATE ROLE app_admin;
	GRANT USAGE ON SCHEMA cachepusher TO app_admin;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO app_admin;
	ALTER EXTENSION cachepusher UPDATE;
});
load_seed_schema($old, customers => 200);
$old->safe_psql('postgres', q{
	CREATE TABLE note (id int PRIMARY KEY, body text);
	INSERT INTO note SELECT i, 'note ' || i FROM generate_series(1, 50) i;
	CREATE FUNCTION note_doc(k int) RETURNS jsonb LANGUAGE sql STABLE
	    AS $$ SELECT jsonb_build_object('body', body) FROM note WHERE id = k $$;
	SELECT cachepusher.add_source('note', 'note_doc(int)', 'SELECT id FROM note', key_prefix => 'n');
	SELECT cachepusher.watch('note', 'note', 'id');
	SELECT cachepusher.add_source('note_set', NULL, 'SELECT id FROM note', key_prefix => 'ns',
	    documents_query => $$SELECT id, jsonb_build_object('body', body) FROM note WHERE id = ANY ($1)$$);
	SELECT cachepusher.watch('note_set', 'note', 'id');
	SELECT cachepusher.add_source('note_hash', 'note_doc(int)', 'SELECT id FROM note', key_prefix => 'nh',
	    value_type => 'hash', ttl => '1 day');
	SELECT cachepusher.watch('note_hash', 'note', 'id');
});
add_seed_source($old);
is($old->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the old server is warm');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/db.dump';
$old->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('postgres') ], 'pg_dump');

my $new_redis = start_redis();
my $new = new_node('new', $new_redis, extension => 0);
$new->safe_psql('postgres', 'CREATE ROLE app_admin');
$new->command_ok([ 'pg_restore', '-d', $new->connstr('postgres'), $dump ], 'pg_restore');

is($new->safe_psql('postgres', q{SELECT name, key_prefix, channels, documents_query IS NOT NULL, value_type, ttl = '1 day'
                                 FROM cachepusher.source ORDER BY 1}),
	"customer|customer|{customer_updated,customer_deleted}|f|string|\nnote|n|{}|f|string|\n"
	  . "note_hash|nh|{}|f|hash|t\nnote_set|ns|{}|t|string|",
	'the sources came with the dump, the set-based one with its query, the hash one with its TTL');
is($new->safe_psql('postgres', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgname LIKE 'cachepusher_note\_%'}),
	'cachepusher_note_delete,cachepusher_note_hash_delete,cachepusher_note_hash_insert,cachepusher_note_hash_truncate,'
	  . 'cachepusher_note_hash_update,cachepusher_note_insert,cachepusher_note_set_delete,cachepusher_note_set_insert,'
	  . 'cachepusher_note_set_truncate,cachepusher_note_set_update,cachepusher_note_truncate,cachepusher_note_update',
	'and the watch() triggers of all three');
is($new->safe_psql('postgres', q{SELECT has_function_privilege('app_admin', 'cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text, text)', 'EXECUTE')}),
	't', 'EXECUTE granted on add_source before the updates to 1.2 and 1.4 came with the dump');
is($new->safe_psql('postgres', q{SELECT has_function_privilege('app_admin', 'cachepusher.set_value_type(text, text)', 'EXECUTE')
                                  AND has_function_privilege('app_admin', 'cachepusher.set_ttl(text, interval, text)', 'EXECUTE')}),
	't', 'and on set_ttl and set_value_type, carried over from add_source at the update to 1.4');
is($new->safe_psql('postgres', q{SELECT has_function_privilege('app_admin', 'cachepusher._source_status()', 'EXECUTE')}),
	't', 'and on the function status reads since 1.3, carried over from the one before');
is($new->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't',
	'wait_for_sync() waits for the restored sources to be warm');
is(scalar(cache_differences($new, $new_redis, 'customer', $docs)), 0, 'the new Redis holds every customer');
is(scalar(cache_differences($new, $new_redis, 'n', 'SELECT id, note_doc(id) FROM note')), 0, 'and every note');
is(scalar(cache_differences($new, $new_redis, 'ns', 'SELECT id, note_doc(id) FROM note')), 0, 'also built by the documents query');
is(scalar(hash_differences($new, $new_redis, 'nh', 'SELECT id, note_doc(id) FROM note')), 0, 'and as hashes');
cmp_ok($new_redis->command('PTTL', 'nh:1'), '>', 86_000_000, 'with their TTL');

$new->safe_psql('postgres', q{UPDATE note SET body = 'restored and changed' WHERE id = 1});
is($new->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'a change on the new server');
like($new_redis->get('n:1'), qr/restored and changed/, 'reaches the new Redis');
like($new_redis->get('ns:1'), qr/restored and changed/, 'through both sources');
is($new->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

done_testing();
