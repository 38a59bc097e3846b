# What the triggers watch() installs send: once per statement, every key of the statement's old and
# new rows, each once, packed into as few notifications as fit in 8000 bytes, keys with line breaks
# and backslashes escaped as the worker reads them. A row trigger of 1.1's watch() keeps working
# until watch() replaces it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $redis = start_redis();
my $node = new_node('watch_triggers', $redis);
my $docs = 'SELECT k, item_doc(k) FROM (SELECT DISTINCT k FROM item) AS keys';
$node->safe_psql('postgres', q{
	-- Documents named by a column that many rows share: the document of k lists its rows.
	CREATE TABLE item (id serial PRIMARY KEY, k text NOT NULL, v int NOT NULL DEFAULT 0);
	CREATE INDEX ON item (k);
	CREATE FUNCTION item_doc(key text) RETURNS json LANGUAGE sql STABLE AS $$
	    SELECT json_build_object('k', key, 'rows', json_agg(json_build_object('id', i.id, 'v', i.v) ORDER BY i.id))
	      FROM item i WHERE i.k = key HAVING count(*) > 0 $$;
	SELECT cachepusher.add_source('item', 'item_doc(text)', 'SELECT DISTINCT k FROM item');
	SELECT cachepusher.watch('item', 'item', 'k');
});

# Runs statements in a session that listens on the worker's channel; returns the payloads it got.
sub payloads_of
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', "LISTEN cachepusher;\n$sql");
	my @payloads;
	push @payloads, $1
	  while $out =~ /Asynchronous notification "cachepusher" with payload "(.*?)" received from server process with PID \d+\./gs;
	return @payloads;
}

# The keys in payloads of source "item", unescaped as the worker does.
sub keys_in
{
	my @keys;
	for my $payload (@_)
	{
		my ($source, @lines) = split /\n/, $payload, -1;
		is($source, 'item', 'a payload names its source first') if $source ne 'item';
		push @keys, map { s/\\(.)/$1 eq 'n' ? "\n" : $1/ger } @lines;
	}
	return @keys;
}

# 3000 rows in one statement, 3000 keys of 30 bytes: about 90 kB of keys.
my @payloads = payloads_of(q{INSERT INTO item (k) SELECT 'key-' || lpad(i::text, 5, '0') || '-' || repeat('x', 19) FROM generate_series(1, 3000) i});
my @keys = keys_in(@payloads);
is(scalar(@keys), 3000, 'a 3000-row INSERT sends every key');
ok(@payloads >= 12 && @payloads <= 13, 'in as few notifications as 8000 bytes allow (' . scalar(@payloads) . ')');
ok(!(grep { length($_) > 7999 } @payloads), 'none longer than 7999 bytes (NOTIFY refuses 8000)');
cache_matches($node, $redis, 'item', $docs, 'and the worker writes every document');

# An UPDATE names each key in its old and its new row: sent once.
@keys = keys_in(payloads_of(q{UPDATE item SET v = v + 1}));
is(scalar(@keys), 3000, 'an UPDATE of every row sends each key once, not once per old and new row');
# Many rows of one key: one key.
$node->safe_psql('postgres', q{INSERT INTO item (k) SELECT 'shared' FROM generate_series(1, 50)});
is_deeply([ keys_in(payloads_of(q{UPDATE item SET v = v + 1 WHERE k = 'shared'})) ], ['shared'],
	'fifty rows of one key: the key once');
cache_matches($node, $redis, 'item', $docs, 'updates reach Redis');

# A row that moves to another key refreshes both; a one-row statement sends one notification.
my $moved = $node->safe_psql('postgres', q{SELECT min(id) FROM item WHERE k = 'shared'});
@payloads = payloads_of("UPDATE item SET k = 'moved' WHERE id = $moved");
is(scalar(@payloads), 1, 'a one-row UPDATE sends one notification');
is_deeply([ sort(keys_in(@payloads)) ], [ 'moved', 'shared' ], 'with the old and the new key');

# Keys with a line break and a backslash arrive whole.
@keys = keys_in(payloads_of(q{INSERT INTO item (k) VALUES ('two' || chr(10) || 'lines'), ('back' || chr(92) || 'slash'),
                                                         ('both' || chr(92) || 'n' || chr(10))}));
is_deeply([ sort @keys ], [ "back\\slash", "both\\n\n", "two\nlines" ], 'keys with line breaks and backslashes are escaped and come back whole');
cache_matches($node, $redis, 'item', $docs, 'and their documents are in Redis under those keys');

# DELETE and MERGE statements.
$node->safe_psql('postgres', q{DELETE FROM item WHERE k LIKE 'key-0000%'});
@keys = keys_in(payloads_of(q{
	MERGE INTO item i USING (SELECT 'key-00010-' || repeat('x', 19) AS k UNION ALL SELECT 'merged') s ON i.k = s.k
	WHEN MATCHED THEN UPDATE SET v = 100
	WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k)}));
is_deeply([ sort @keys ], [ 'key-00010-' . ('x' x 19), 'merged' ], 'MERGE sends the keys it inserted and updated');
cache_matches($node, $redis, 'item', $docs, 'deleted keys are gone, merged ones written');

# A key too long for any payload asks for a resync, which writes it too.
@payloads = payloads_of(q{INSERT INTO item (k) VALUES (repeat('z', 9000)), ('short')});
is_deeply([ keys_in(@payloads) ], ['short'], 'a key too long for a payload is not sent; the others are');
cache_matches($node, $redis, 'item', $docs, 'the resync it asked for writes it');

# The longest payload NOTIFY takes is 7999 bytes: its limit of 8000 counts the terminating NUL, and a
# payload of 8000 bytes would fail the statement. "item\n" and the keys, one line each.
@payloads = payloads_of(q{INSERT INTO item (k) VALUES (repeat('a', 3000)), (repeat('b', 4993))});
is_deeply([ map { length } @payloads ], [7999], 'keys that fill a payload to 7999 bytes go in one notification');
@payloads = payloads_of(q{INSERT INTO item (k) VALUES (repeat('c', 3000)), (repeat('d', 4994))});
is_deeply([ sort { $a <=> $b } map { length } @payloads ], [ 3005, 4999 ],
	'one byte more: two notifications, not one of 8000 bytes that fails the statement');
@payloads = payloads_of(q{INSERT INTO item (k) VALUES (repeat('e', 7994))});
is_deeply([ map { length } @payloads ], [7999], 'a key that alone fills a payload to 7999 bytes is sent');
@payloads = payloads_of(q{INSERT INTO item (k) VALUES (repeat('f', 7995))});
is(scalar(@payloads), 0, 'a key one byte longer is not sent, its statement commits');
cache_matches($node, $redis, 'item', $docs, 'and the resync it asked for writes it');

# A partitioned table: statements naming a partition, even one attached after watch(), are seen too.
$node->safe_psql('postgres', q{
	CREATE TABLE part_item (k text NOT NULL, region int NOT NULL) PARTITION BY LIST (region);
	CREATE TABLE part_item_1 PARTITION OF part_item FOR VALUES IN (1);
	SELECT cachepusher.watch('item', 'part_item', 'k');
	CREATE TABLE part_item_2 PARTITION OF part_item FOR VALUES IN (2);
});
is_deeply([ sort(keys_in(payloads_of(q{INSERT INTO part_item VALUES ('via parent', 1)}))) ], ['via parent'],
	'a statement through the partitioned table');
is_deeply([ sort(keys_in(payloads_of(q{UPDATE part_item_1 SET k = 'renamed'}))) ], [ 'renamed', 'via parent' ],
	'a statement naming a partition');
is_deeply([ sort(keys_in(payloads_of(q{INSERT INTO part_item_2 VALUES ('later', 2)}))) ], ['later'],
	'a statement naming a partition created after watch()');
$node->safe_psql('postgres', q{SELECT cachepusher.unwatch('item', 'part_item')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                                   WHERE c.relname LIKE 'part_item%' AND t.tgname LIKE 'cachepusher%'}),
	'0', 'unwatch() removes the triggers of the partitions too');

# A row trigger as watch() of 1.1 installed it still works; watch() replaces it, drop_source removes all.
$node->safe_psql('postgres', q{
	CREATE TABLE tag (id serial PRIMARY KEY, k text NOT NULL);
	CREATE TRIGGER cachepusher_item AFTER INSERT OR UPDATE OR DELETE ON tag
	    FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger('item', 'k');
	CREATE TRIGGER cachepusher_item_truncate AFTER TRUNCATE ON tag
	    FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger('item');
});
@keys = keys_in(payloads_of(q{INSERT INTO tag (k) VALUES ('moved'), ('merged')}));
is_deeply([ sort @keys ], [ 'merged', 'moved' ], 'a row trigger of 1.1 sends the key of each row');
$node->safe_psql('postgres', q{SELECT cachepusher.watch('item', 'tag', 'k')});
is($node->safe_psql('postgres', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'tag'::regclass}),
	'cachepusher_item_delete,cachepusher_item_insert,cachepusher_item_truncate,cachepusher_item_update',
	'watch() replaces it with its statement triggers');
$node->safe_psql('postgres', q{
	CREATE TRIGGER cachepusher_item AFTER INSERT OR UPDATE OR DELETE ON tag
	    FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger('item', 'k');
	SELECT cachepusher.drop_source('item');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc}),
	'0', "drop_source removes the source's triggers, whatever watch() named them");

done_testing();
