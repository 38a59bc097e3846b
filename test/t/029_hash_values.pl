# Documents as Redis hashes (value_type => 'hash'): each member of the JSON object a field, a string
# as its characters and anything else as its JSON text, as PostgreSQL's json_each_text() splits it.
# Warmup, changes and deletes are followed; a hash is replaced whole (a field the document lost is
# gone, and a reader never sees a hash half old and half new); a document that is no object costs its
# key only; verify() compares fields; switching between string and hash rewrites every key with no
# key missing meanwhile; a TTL applies to hashes too.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $redis = start_redis();
my $node = new_node('hash', $redis);
load_seed_schema($node, customers => 40, addresses => 80);
$node->safe_psql('postgres', q{
	UPDATE customer SET email = NULL WHERE id_customer = 3;
	UPDATE customer SET name = E'Ada "the first"\nof her name' WHERE id_customer = 4;
});
watch_seed_source($node, "value_type => 'hash'");
cache_matches($node, $redis, 'customer', $docs, 'warmup writes every document as a hash', \&hash_differences);
is($redis->command('TYPE', 'customer:1'), 'hash', 'of type hash');
my $four = { @{ $redis->command('HGETALL', 'customer:4') } };
is($four->{name}, "Ada \"the first\"\nof her name", 'a string field holds its characters, escapes undone');
like($four->{addresses}, qr/^\[\{"id"/, 'a nested value holds its JSON text');
is($redis->command('HGET', 'customer:3', 'email'), 'null', 'a JSON null is "null"');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0', 'verify() finds nothing');

seed_changes($node);
cache_matches($node, $redis, 'customer', $docs, 'changes, a child added, a delete, an insert', \&hash_differences);
is($redis->command('EXISTS', 'customer:5'), 0, 'a deleted document has no key');

# verify() compares field by field.
$redis->command('HSET', 'customer:6', 'name', 'tampered');
$redis->command('HSET', 'customer:7', 'extra', 'field');
$redis->command('DEL', 'customer:8');
$redis->command('SET', 'customer:9', 'a string where a hash belongs');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ' ORDER BY key) FROM cachepusher.verify('customer')}),
	'6 stale, 7 stale, 8 missing, 9 stale', 'verify() finds a changed field, an extra field, a missing hash, a key of another type');
$node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer', repair => true)});
cache_matches($node, $redis, 'customer', $docs, 'repaired', \&hash_differences);

# Documents of one's own: a field the document loses is gone from the hash; an empty object leaves
# no key; a document that is no object fails for its key only, and its old hash goes.
$node->safe_psql('postgres', q{
	CREATE TABLE item (id int PRIMARY KEY, attrs jsonb NOT NULL);
	INSERT INTO item SELECT i, jsonb_build_object('a', i, 'b', i) FROM generate_series(1, 20) i;
	CREATE FUNCTION item_get(k int) RETURNS jsonb LANGUAGE sql STABLE AS 'SELECT attrs FROM item WHERE id = k';
	SELECT cachepusher.add_source('item', 'item_get(int)', 'SELECT id FROM item', value_type => 'hash');
	SELECT cachepusher.watch('item', 'item', 'id');
});
my $items = 'SELECT id, attrs FROM item';
cache_matches($node, $redis, 'item', $items, 'items warmed', \&hash_differences);
$node->safe_psql('postgres', q{
	UPDATE item SET attrs = '{"a": 1}' WHERE id = 1;
	UPDATE item SET attrs = '{}' WHERE id = 2;
	UPDATE item SET attrs = '[1, 2]' WHERE id = 3;
	UPDATE item SET attrs = '{"a": 40, "b": 40}' WHERE id = 4;
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'four items changed');
is_deeply({ @{ $redis->command('HGETALL', 'item:1') } }, { a => 1 }, 'the field the document lost is gone');
is($redis->command('EXISTS', 'item:2'), 0, 'an empty object leaves no key');
is_deeply({ @{ $redis->command('HGETALL', 'item:4') } }, { a => 40, b => 40 }, 'the others of the batch are written');
is($redis->command('EXISTS', 'item:3'), 0, 'an array document has its old hash deleted: no reader is served it');
$node->wait_for_log(qr/cachepusher: source "item", key "3": a document written as a hash must be a JSON object, not an array/);
pass('and says why');
is(source_status($node, 'item')->{errors}, 1, 'one error counted');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ') FROM cachepusher.verify('item')}),
	'3 error', 'verify() reports that key as an error');
$node->safe_psql('postgres', q{UPDATE item SET attrs = '{"a": 3}' WHERE id = 3});
cache_matches($node, $redis, 'item', $items, 'fixed, it is written', \&hash_differences);

# A reader never sees a hash half old and half new: while one item flips between two documents of
# two fields each, every read finds both fields equal.
my $flips = start_churn($node, q{UPDATE item SET attrs = jsonb_build_object('a', :r, 'b', :r) WHERE id = 5;}, 4, clients => 1);
my ($reads, $torn) = (0, 0);
my $until = time + 3.5;
while (time < $until)
{
	my $h = { @{ $redis->command('HGETALL', 'item:5') } };
	$reads++;
	$torn++ unless keys %$h == 2 && defined $h->{a} && $h->{a} eq $h->{b};
}
churn_ok($flips, 'flipping an item');
ok($reads > 100, "$reads reads while it flipped");
is($torn, 0, 'none saw a torn or merged hash');

# Switching the value type rewrites every key, none missing meanwhile.
my $gaps = 0;
$node->safe_psql('postgres', q{SELECT cachepusher.set_value_type('customer', 'string')});
ok(poll_until(sub {
	my $n = () = keys %{ $redis->all_hashes_under('customer') };
	$gaps++ if $n < 40;
	!grep { ref $_ } values %{ $redis->all_hashes_under('customer') } }), 'set_value_type(string): every key rewritten');
is($gaps, 0, 'no key was missing meanwhile');
cache_matches($node, $redis, 'customer', $docs, 'as JSON strings');
$node->safe_psql('postgres', q{SELECT cachepusher.set_value_type('customer', 'hash')});
cache_matches($node, $redis, 'customer', $docs, 'and back as hashes', \&hash_differences);

# A TTL applies to hashes too.
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('customer', '1 hour')});
ok(poll_until(sub { my $t = $redis->command('PTTL', 'customer:1'); $t > 3_500_000 }), 'a hash gets the TTL');
cache_matches($node, $redis, 'customer', $docs, 'and is still the same hash', \&hash_differences);

done_testing();
