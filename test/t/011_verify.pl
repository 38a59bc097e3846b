# verify(): finds every key where Redis and the database differ, and with repair hands them to the
# worker, after which there is nothing left to find.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $redis = start_redis();
# A small batch size, so verify and the worker go through many batches and SCAN pages.
my $node = new_node('verify', $redis, conf => "cachepusher.batch_size = 50\n");
load_seed_schema($node, customers => 1000, addresses => 1500);
$node->safe_psql('postgres', q{
	CREATE TABLE tag (name text PRIMARY KEY, color text);
	INSERT INTO tag SELECT 'tag-' || i, 'red' FROM generate_series(1, 120) i;
	CREATE FUNCTION tag_doc(n text) RETURNS text LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('color', color)::text FROM tag WHERE name = n $$;
});
add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('tag', 'tag_doc(text)', 'SELECT name FROM tag');
	SELECT cachepusher.watch('tag', 'tag', 'name');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm');

my $all = 'SELECT source, key, problem FROM cachepusher.verify() ORDER BY 1, 2';
is($node->safe_psql('postgres', $all), '', 'nothing differs after warmup');

# Every kind of difference, made behind the worker's back.
$redis->command('DEL', 'customer:5');
$redis->command('SET', 'customer:6', 'not the document');
$redis->command('SET', 'customer:99999', '{}');
$redis->command('SET', 'customer:abc', 'not even a key of the right type');
$redis->command('DEL', 'tag:tag-7');
$redis->command('SET', 'tag:gone', '{"color" : "blue"}');
# A row the trigger never told about: the cache is stale for it (as after a lost notification).
$node->safe_psql('postgres', q{
	ALTER TABLE customer DISABLE TRIGGER customer_notify;
	UPDATE customer SET name = 'silently changed' WHERE id_customer = 8;
	ALTER TABLE customer ENABLE TRIGGER customer_notify;
});

my $expected = join("\n",
	'customer|5|missing', 'customer|6|stale', 'customer|8|stale', 'customer|99999|orphan',
	'customer|abc|orphan', 'tag|gone|orphan', 'tag|tag-7|missing');
is($node->safe_psql('postgres', $all), $expected, 'verify() finds missing, stale and orphan keys of every source');
is($node->safe_psql('postgres', q{SELECT string_agg(key, ',' ORDER BY key) FROM cachepusher.verify('tag')}),
	'gone,tag-7', 'verify(source) looks at that source only');
is($redis->get('customer:6'), 'not the document', 'without repair nothing is changed');

# repair: the rows are the same; the worker fixes them after commit.
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify(repair => true)}), '7',
	'verify(repair => true) reports what it repairs');
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the worker took the repairs');
is($node->safe_psql('postgres', $all), '', 'nothing differs after the repair');
is($redis->get('customer:abc'), undef, 'a key that is not even of the key type is deleted');
cache_matches($node, $redis, 'customer', 'SELECT id_customer, customer_get(id_customer) FROM customer',
	'the customer source is equal to the database');

# A document function that fails for one key: reported as error, with a NOTICE.
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION tag_doc(n text) RETURNS text LANGUAGE plpgsql STABLE AS $$
	BEGIN
	    IF n = 'tag-3' THEN RAISE EXCEPTION 'tag-3 is broken'; END IF;
	    RETURN (SELECT json_build_object('color', color)::text FROM tag WHERE name = n);
	END $$;
});
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT key, problem FROM cachepusher.verify('tag')});
is($out, 'tag-3|error', 'a key whose document cannot be built is reported as error');
like($err, qr/NOTICE:  cachepusher source "tag", key "tag-3": tag-3 is broken/, 'with the reason');

($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM cachepusher.verify('nosuch')});
like($err, qr/cachepusher source "nosuch" does not exist/, 'an unknown source is an error');

# An empty string is no key: its Redis key would be the bare "note:", which no document can have.
# A key query that returns one, a row whose key is empty, a notification of one: nothing is written
# under "note:", even though the function builds a document for any key. One found there is an
# orphan, which verify(repair) and a warmup remove.
$node->safe_psql('postgres', q{
	CREATE TABLE note (k text PRIMARY KEY, body text);
	INSERT INTO note VALUES ('', 'empty'), ('a', 'first'), ('b', 'second');
	CREATE FUNCTION note_doc(key text) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('k', key, 'body', (SELECT body FROM note WHERE k = key)) $$;
	SELECT cachepusher.add_source('note', 'note_doc(text)', 'SELECT k FROM note');
	SELECT cachepusher.watch('note', 'note', 'k');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the source with an empty key is warm');
is_deeply([ sort keys %{ $redis->all_under('note') } ], [ 'note:a', 'note:b' ], 'the warmup writes no "note:"');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('note')}), '0',
	'verify() expects none');
$node->safe_psql('postgres', q{UPDATE note SET body = 'changed' WHERE k IN ('', 'a')});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'a change of the row with the empty key');
is_deeply([ sort keys %{ $redis->all_under('note') } ], [ 'note:a', 'note:b' ], 'writes no "note:" either');
$redis->command('SET', 'note:', '{}');
is($node->safe_psql('postgres', q{SELECT key || '|' || problem FROM cachepusher.verify('note')}), '|orphan',
	'"note:" in Redis is an orphan');
$node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('note', repair => true)});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'repaired');
is($redis->get('note:'), undef, 'verify(repair) deletes it');
$redis->command('SET', 'note:', '{}');
$node->safe_psql('postgres', q{SELECT cachepusher.resync('note')});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'resynced');
is($redis->get('note:'), undef, 'and so does a warmup');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('note')}), '0', 'nothing differs');

# Keys of type char(2): cast to the type without a length (bpchar), not to character, which is
# character(1) and made 'US' into 'U'. A function source and a set-based one; verify() agrees.
$node->safe_psql('postgres', q{
	CREATE TABLE country (code char(2) PRIMARY KEY, name text NOT NULL);
	INSERT INTO country VALUES ('US', 'United States'), ('DE', 'Germany');
	CREATE FUNCTION country_get(code char(2)) RETURNS json LANGUAGE sql STABLE
		AS 'SELECT json_build_object(''code'', c.code, ''name'', c.name) FROM country c WHERE c.code = $1';
	SELECT cachepusher.add_source('country', 'country_get(char)', 'SELECT code FROM country');
	SELECT cachepusher.add_source('country_set', NULL, 'SELECT code FROM country',
		documents_query => 'SELECT c.code, json_build_object(''code'', c.code, ''name'', c.name) FROM country c WHERE c.code = ANY($1)');
	SELECT cachepusher.wait_for_sync();
});
like($redis->get('country:US') // '', qr/United States/, 'a char(2) key of a function source is written');
like($redis->get('country_set:DE') // '', qr/Germany/, 'and of a set-based source');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('country')}), '0',
	'verify() finds nothing different for the function source');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('country_set')}), '0',
	'nor for the set-based one');

# A cancel (here statement_timeout) ends verify(): the batch it lands in is not retried key by key as
# if one key had failed.
$node->safe_psql('postgres', q{
	CREATE TABLE slow (id int PRIMARY KEY);
	INSERT INTO slow SELECT generate_series(1, 40);
	CREATE FUNCTION slow_get(id int) RETURNS json LANGUAGE sql STABLE
		AS 'SELECT json_build_object(''id'', id) FROM pg_sleep(0.05)';
	SELECT cachepusher.add_source('slow', 'slow_get(int)', 'SELECT id FROM slow');
	SELECT cachepusher.wait_for_sync('60 s');
});
($ret, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '300ms'; SELECT count(*) FROM cachepusher.verify('slow')});
like($err, qr/canceling statement due to statement timeout/, 'a statement_timeout cancels verify()');

# Redis unreachable: an error, not an empty (reassuring) result.
$redis->stop(keep => 1);
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM cachepusher.verify()});
like($err, qr/could not connect to Redis/, 'Redis down is an error');
$redis->start;

done_testing();
