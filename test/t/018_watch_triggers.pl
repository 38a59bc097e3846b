# What the triggers watch() installs send through the commit queue: every key of a transaction's old
# and new rows, each once, whatever its bytes; a key too long for the queue asks for a resync. A row
# trigger of 1.1's watch() keeps working (the same C function, the same queue) until watch() replaces it.
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

# Runs statements; returns the keys the worker received for them (each counted in status.keys_received).
sub sent_by
{
	my ($sql) = @_;
	my $before = keys_received($node, 'item');
	$node->safe_psql('postgres', $sql);
	return keys_received($node, 'item') - $before;
}

# 3000 rows in one statement, 3000 keys of 30 bytes: about 90 kB of keys, more than one queue entry holds.
is(sent_by(q{INSERT INTO item (k) SELECT 'key-' || lpad(i::text, 5, '0') || '-' || repeat('x', 19) FROM generate_series(1, 3000) i}),
	3000, 'a 3000-row INSERT sends every key');
cache_matches($node, $redis, 'item', $docs, 'and the worker writes every document');

# An UPDATE names each key in its old and its new row: sent once.
is(sent_by(q{UPDATE item SET v = v + 1}), 3000, 'an UPDATE of every row sends each key once, not once per old and new row');
# Many rows of one key: one key.
$node->safe_psql('postgres', q{INSERT INTO item (k) SELECT 'shared' FROM generate_series(1, 50)});
is(sent_by(q{UPDATE item SET v = v + 1 WHERE k = 'shared'}), 1, 'fifty rows of one key: the key once');
# One transaction of many statements: each key once.
is(sent_by(q{BEGIN; UPDATE item SET v = v + 1 WHERE k = 'shared'; UPDATE item SET v = v + 1 WHERE k = 'shared'; COMMIT;}), 1,
	'two statements of one transaction on the same key: the key once');
cache_matches($node, $redis, 'item', $docs, 'updates reach Redis');

# A row that moves to another key refreshes both.
my $moved = $node->safe_psql('postgres', q{SELECT min(id) FROM item WHERE k = 'shared'});
is(sent_by("UPDATE item SET k = 'moved' WHERE id = $moved"), 2, 'a row that changes its key sends the old and the new key');
cache_matches($node, $redis, 'item', $docs, 'both documents are right');

# Keys with a line break and a backslash arrive whole.
is(sent_by(q{INSERT INTO item (k) VALUES ('two' || chr(10) || 'lines'), ('back' || chr(92) || 'slash'),
                                         ('both' || chr(92) || 'n' || chr(10))}), 3, 'keys with line breaks and backslashes');
cache_matches($node, $redis, 'item', $docs, 'their documents are in Redis under those keys');
is($redis->get("item:two\nlines") // '', $node->safe_psql('postgres', q{SELECT item_doc('two' || chr(10) || 'lines')}),
	'a key with a line break is one key in Redis');

# DELETE and MERGE statements.
is(sent_by(q{DELETE FROM item WHERE k LIKE 'key-0000%'}), 9, 'DELETE sends the keys it deleted');
is(sent_by(q{
	MERGE INTO item i USING (SELECT 'key-00010-' || repeat('x', 19) AS k UNION ALL SELECT 'merged') s ON i.k = s.k
	WHEN MATCHED THEN UPDATE SET v = 100
	WHEN NOT MATCHED THEN INSERT (k) VALUES (s.k)}), 2, 'MERGE sends the keys it inserted and updated');
cache_matches($node, $redis, 'item', $docs, 'deleted keys are gone, merged ones written');

# A key longer than a queue entry holds (64 kB) asks for a resync of the source, which writes it too.
my $warmed = () = slurp_file($node->logfile) =~ /warming source "item"/g;
$node->safe_psql('postgres', q{INSERT INTO item (k) VALUES (repeat('z', 70000)), ('short')});
cache_matches($node, $redis, 'item', $docs, 'a key too long for a queue entry: the resync it asks for writes it');
my $warmed_now = () = slurp_file($node->logfile) =~ /warming source "item"/g;
is($warmed_now, $warmed + 1, 'by one resync of the source');

# A partitioned table: statements naming a partition, even one attached after watch(), are seen too.
$node->safe_psql('postgres', q{
	CREATE TABLE part_item (k text NOT NULL, region int NOT NULL) PARTITION BY LIST (region);
	CREATE TABLE part_item_1 PARTITION OF part_item FOR VALUES IN (1);
	SELECT cachepusher.watch('item', 'part_item', 'k');
	CREATE TABLE part_item_2 PARTITION OF part_item FOR VALUES IN (2);
});
is(sent_by(q{INSERT INTO part_item VALUES ('via parent', 1)}), 1,
	'a statement through the partitioned table');
is(sent_by(q{UPDATE part_item_1 SET k = 'renamed'}), 2,
	'a statement naming a partition');
is(sent_by(q{INSERT INTO part_item_2 VALUES ('later', 2)}), 1,
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
is(sent_by(q{INSERT INTO tag (k) VALUES ('moved'), ('merged')}), 2, 'a row trigger of 1.1 sends the key of each row');
cache_matches($node, $redis, 'item', $docs, 'through the commit queue too');
$node->safe_psql('postgres', q{SELECT cachepusher.watch('item', 'tag', 'k')});
is($node->safe_psql('postgres', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'tag'::regclass}),
	'cachepusher_item_delete,cachepusher_item_insert,cachepusher_item_truncate,cachepusher_item_update',
	'watch() replaces it with its statement triggers');

# A backend keeps the key columns of the triggers it fired from one statement to the next: a key
# column dropped and added again, or renamed, in the same session is looked up anew.
is(sent_by(q{
	INSERT INTO tag (k) VALUES ('cached');
	ALTER TABLE tag DROP COLUMN k;
	ALTER TABLE tag ADD COLUMN k text;
	INSERT INTO tag (k) VALUES ('re-added');
}), 2, 'a key column dropped and added again in the session is read where it is now');
my ($rc, $out, $err) = $node->psql('postgres', q{
	INSERT INTO tag (k) VALUES ('before the rename');
	ALTER TABLE tag RENAME COLUMN k TO label;
	INSERT INTO tag (label) VALUES ('after the rename');
});
like($err, qr/column "k" of the watched table does not exist/, 'a key column renamed in the session is missed at once');
$node->safe_psql('postgres', q{ALTER TABLE tag RENAME COLUMN label TO k});

$node->safe_psql('postgres', q{
	CREATE TRIGGER cachepusher_item AFTER INSERT OR UPDATE OR DELETE ON tag
	    FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger('item', 'k');
	SELECT cachepusher.drop_source('item');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc}),
	'0', "drop_source removes the source's triggers, whatever watch() named them");

done_testing();
