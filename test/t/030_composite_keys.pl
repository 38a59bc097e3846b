# Keys of several columns: a key query of two columns, a document function of two arguments (and a
# documents query of two arrays), watch() with two key columns, keys whose components hold the
# separator and the escapes (':', '\', '{', '}', the empty string) written under distinct Redis keys,
# a key template that makes one component the Cluster hash tag, a NOTIFY trigger of one's own that
# builds its keys with cachepusher.key(), and verify() and the warmup's sweep for keys laid out
# otherwise.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $redis = start_redis();
my $node = new_node('composite', $redis);
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE orders (channel text, order_no int, amount numeric NOT NULL, PRIMARY KEY (channel, order_no));
CREATE TABLE order_line (
    channel text, order_no int, line int, item text NOT NULL,
    PRIMARY KEY (channel, order_no, line),
    FOREIGN KEY (channel, order_no) REFERENCES orders ON DELETE CASCADE ON UPDATE CASCADE);
INSERT INTO orders SELECT ch, n, n * 10 FROM unnest(ARRAY['web', 'a:b', 'back\slash', '{shop}', '', 'x\:y', ':']) ch,
                                            generate_series(1, 5) n;
INSERT INTO order_line SELECT channel, order_no, l, 'item ' || l FROM orders, generate_series(1, 2) l;
CREATE FUNCTION order_doc(ch text, no int) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('channel', o.channel, 'no', o.order_no, 'amount', o.amount,
                             'lines', (SELECT json_agg(l.item ORDER BY l.line) FROM order_line l
                                       WHERE (l.channel, l.order_no) = (o.channel, o.order_no)))
    FROM orders o WHERE (o.channel, o.order_no) = (ch, no)
$$;
-- The escaping the tests expect, written here on its own (not cachepusher.key()).
CREATE FUNCTION esc(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(replace(t, '\', '\\'), ':', '\:'), '{', '\{'), '}', '\}')
$$;
SELECT cachepusher.add_source('orders', 'order_doc(text, int)', 'SELECT channel, order_no FROM orders');
SELECT cachepusher.watch('orders', 'orders', 'channel', 'order_no');
SELECT cachepusher.watch('orders', 'order_line', 'channel', 'order_no');
SQL
my $docs = q{SELECT esc(channel) || ':' || esc(order_no::text), order_doc(channel, order_no) FROM orders};
cache_matches($node, $redis, 'orders', $docs, 'warmup writes every order under its two-column key');
is(scalar(keys %{ $redis->all_under('orders') }), 35, 'seven channels of five orders: 35 distinct keys');
like($redis->get('orders:a\:b:1'), qr/"channel" : "a:b"/, 'a ":" in a component is escaped');
like($redis->get('orders:back\\\\slash:2'), qr/"amount" : 20/, 'a "\\" is escaped');
like($redis->get('orders:\{shop\}:3'), qr/"no" : 3/, 'braces are escaped');
ok(defined $redis->get('orders::4'), 'an empty component is a key');
is($node->safe_psql('postgres', q{SELECT key FROM cachepusher.verify('orders') LIMIT 1}), '', 'verify() finds nothing');
is($node->safe_psql('postgres', q{SELECT cachepusher.key('a:b', 'x\y', '{}')}), 'a\:b:x\\\\y:\{\}',
	'cachepusher.key() escapes as the worker does');
is($node->safe_psql('postgres', q{SELECT cachepusher.key('web', NULL) IS NULL}), 't', 'and is NULL when a component is');

# Changes through both tables: a statement of many rows, a child row, a delete, and a key that
# changes (ON UPDATE CASCADE moves its lines along): the old key goes, the new one comes.
$node->safe_psql('postgres', q{
	UPDATE orders SET amount = amount + 1 WHERE channel IN ('web', 'a:b');
	INSERT INTO order_line VALUES ('{shop}', 1, 3, 'added');
	DELETE FROM orders WHERE channel = 'x\:y' AND order_no = 2;
	UPDATE orders SET order_no = 99 WHERE channel = ':' AND order_no = 5;
});
cache_matches($node, $redis, 'orders', $docs, 'updates, a child row, a delete and a changed key');
is($redis->command('EXISTS', 'orders:x\\\\\:y:2'), 0, 'the deleted order has no key');
is($redis->command('EXISTS', 'orders:\::5'), 0, 'the old key of a changed key is gone');
like($redis->get('orders:\::99'), qr/"no" : 99/, 'and its new key written');

# A set-based source of the same orders, its keys laid out with the channel as the hash tag.
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('tagged', NULL, 'SELECT channel, order_no FROM orders',
	    documents_query => $$SELECT o.channel, o.order_no, order_doc(o.channel, o.order_no)
	                        FROM orders o JOIN unnest($1::text[], $2::int[]) AS k(ch, no)
	                          ON (o.channel, o.order_no) = (k.ch, k.no)$$,
	    key_template => '{$1}:$2');
	SELECT cachepusher.watch('tagged', 'orders', 'channel', 'order_no');
	SELECT cachepusher.watch('tagged', 'order_line', 'channel', 'order_no');
});
is($node->safe_psql('postgres', q{SELECT key_columns || ' ' || key_template FROM cachepusher.source WHERE name = 'tagged'}),
	'2 {$1}:$2', 'the catalog says how keys are made');
my $tagged = q{SELECT '{' || esc(channel) || '}:' || esc(order_no::text), order_doc(channel, order_no) FROM orders};
cache_matches($node, $redis, 'tagged', $tagged, 'a documents query of two arrays, keys with a hash tag');
ok(defined $redis->get('tagged:{web}:1'), 'the channel in braces');
ok(defined $redis->get('tagged:{a\:b}:1'), 'escaped inside the braces');
$node->safe_psql('postgres', q{UPDATE order_line SET item = 'changed' WHERE channel = 'web' AND line = 1});
cache_matches($node, $redis, 'tagged', $tagged, 'followed through the child table');

# Redis keys the sources do not have: one that decodes (verify(repair) has the worker delete it),
# one of one column under a two-column source and one without the template's braces (neither names
# a key: reported, and the next warmup deletes them).
$redis->command('SET', 'orders:web:12345', 'stale');
$redis->command('SET', 'orders:web', 'not a key');
$redis->command('SET', 'tagged:web:1', 'no braces');
is($node->safe_psql('postgres', q{SELECT string_agg(source || ' ' || key || ' ' || problem, ', ' ORDER BY source, key) FROM cachepusher.verify()}),
	'orders web orphan, orders web:12345 orphan, tagged web:1 orphan', 'verify() reports the three');
$node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify(repair => true)});
$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
is($redis->command('EXISTS', 'orders:web:12345'), 0, 'repair deletes the one that is a key');
is($redis->command('EXISTS', 'orders:web'), 1, 'not those that are none');
$node->safe_psql('postgres', q{SELECT cachepusher.resync()});
$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
cache_matches($node, $redis, 'orders', $docs, 'a resync deletes the key of one column');
cache_matches($node, $redis, 'tagged', $tagged, 'and the key without braces');

# A NOTIFY trigger of one's own builds its keys with cachepusher.key(); what is not a key of two
# columns is logged and counted, and a key whose number is spelt otherwise names the document of the key as printed.
$node->safe_psql('postgres', q{
	SELECT cachepusher.drop_source('tagged', delete_keys => true);
	SELECT cachepusher.unwatch('orders', 'orders');
	SELECT cachepusher.unwatch('orders', 'order_line');
	SELECT cachepusher.drop_source('orders');
	SELECT cachepusher.add_source('own', 'order_doc(text, int)', 'SELECT channel, order_no FROM orders',
	                              channels => ARRAY['order_changed']);
	CREATE FUNCTION order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	    PERFORM pg_notify('order_changed', cachepusher.key(NEW.channel, NEW.order_no::text));
	    RETURN NULL;
	END $$;
	CREATE TRIGGER order_changed AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION order_changed();
});
cache_matches($node, $redis, 'own', $docs, 'the own source warmed');
$node->safe_psql('postgres', q{INSERT INTO orders VALUES ('new:channel', 1, 5)});
cache_matches($node, $redis, 'own', $docs, 'a key from cachepusher.key() is followed');
my $errors = source_status($node, 'own')->{errors};
$redis->command('SET', 'own:web:01', 'a key spelt otherwise');
$redis->command('SET', 'own:web:1', 'stale');
$node->safe_psql('postgres', q{SELECT pg_notify('order_changed', 'one part'), pg_notify('order_changed', 'web:01')});
$node->wait_for_log(qr/source "own": "one part" is not a key of 2 columns \(build it with cachepusher.key\(\)\)/);
pass('a payload that is no key of two columns is logged');
$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
cache_matches($node, $redis, 'own', $docs, 'a key whose number is spelt otherwise ("web:01") writes the document of "web:1"');
is($redis->command('EXISTS', 'own:web:01'), 0, 'and nothing stays under its own spelling');
is(source_status($node, 'own')->{errors}, $errors + 1, 'only the payload that is no key is counted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('own')}), '0', 'verify() finds nothing');
ok(poll_until(sub { !%{ $redis->all_under('tagged') } }), 'drop_source(delete_keys) swept the tagged keys');

$node->stop;
$redis->stop;
done_testing();
