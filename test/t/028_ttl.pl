# Documents that expire (add_source(..., ttl), set_ttl()): every write of a document sets the TTL
# anew; a document that expired is rebuilt on its next change, and verify() does not count it as
# missing; set_ttl() changes or removes the TTL and the worker rewrites every document with the new
# one, with no key missing meanwhile; a set-based source the same. A document may name its own TTL
# (ttl_field: a member giving seconds), the source's TTL standing in where it names none.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $redis = start_redis();
my $node = new_node('ttl', $redis);
load_seed_schema($node, customers => 50, addresses => 100);
watch_seed_source($node, "ttl => '1 hour'");

# The TTL of every key under the prefix, in milliseconds (-1: none), by key.
sub ttls
{
	my ($prefix) = @_;
	my @keys = sort keys %{ $redis->all_under($prefix) };
	my @ttls = $redis->pipeline(map { [ 'PTTL', $_ ] } @keys);
	my %ttl;
	@ttl{@keys} = @ttls;
	return \%ttl;
}

# Whether every key of the list has a TTL within [low, high] ms.
sub all_within
{
	my ($ttl, $low, $high) = @_;
	return keys %$ttl && !grep { $_ < $low || $_ > $high } values %$ttl;
}

cache_matches($node, $redis, 'customer', $docs, 'warmup writes every document');
ok(all_within(ttls('customer'), 3_500_000, 3_600_000), 'each with a TTL of an hour');

# An expired document is no difference, and comes back on its next change.
$redis->command('PEXPIRE', 'customer:1', 1);
ok(poll_until(sub { !defined $redis->get('customer:1') }), 'customer:1 expired');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0',
	'verify() does not count an expired document as missing');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'back' WHERE id_customer = 1});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the change is written');
like($redis->get('customer:1'), qr/"back"/, 'the expired document is rebuilt on its next change');
cmp_ok($redis->command('PTTL', 'customer:1'), '>', 3_500_000, 'with the TTL');

# Each write sets the TTL anew: a child's change refreshes its parent's.
$redis->command('PEXPIRE', 'customer:2', 100_000);
$node->safe_psql('postgres', q{UPDATE address SET city = 'Oslo' WHERE fk_customer = 2});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'a child row changed');
cmp_ok($redis->command('PTTL', 'customer:2'), '>', 3_500_000, 'the rewritten document lives an hour again');

# set_ttl(NULL): every document rewritten without a TTL, none missing meanwhile.
my $gaps = 0;
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('customer', NULL)});
ok(poll_until(sub {
	my $ttl = ttls('customer');
	$gaps++ if keys %$ttl < 50;
	all_within($ttl, -1, -1) }), 'set_ttl(NULL): every document rewritten without a TTL');
is($gaps, 0, 'no document was missing while they were rewritten');
$node->wait_for_log(qr/cachepusher: source "customer" warmed: 50 keys/);
pass('a resync did it');

# A short TTL: the documents expire, verify() finds nothing wrong, changes bring theirs back.
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('customer', '1.5 s')});
ok(poll_until(sub { all_within(ttls('customer'), 1, 1500) }), 'set_ttl(1.5 s): every document rewritten with it');
ok(poll_until(sub { !keys %{ $redis->all_under('customer') } }), 'and then expired');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0',
	'verify() finds no difference');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'again' WHERE id_customer <= 5});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'five customers changed');
is(join(',', sort keys %{ $redis->all_under('customer') }), 'customer:1,customer:2,customer:3,customer:4,customer:5',
	'their documents are back');
is(source_status($node, 'customer')->{errors}, 0, 'no errors counted');

# A set-based source writes with its TTL too.
my $documents_query = slurp_file(dirname(__FILE__) . '/../../examples/customer_documents.sql');
$node->safe_psql('postgres', qq{
	SELECT cachepusher.add_source('customer_set', NULL, 'SELECT id_customer FROM customer', key_prefix => 'cs',
	                              documents_query => \$q\$$documents_query\$q\$, ttl => '10 minutes');
	SELECT cachepusher.watch('customer_set', 'customer', 'id_customer');
});
cache_matches($node, $redis, 'cs', $docs, 'a set-based source with a TTL warms');
ok(all_within(ttls('cs'), 590_000, 600_000), 'each of its documents with a TTL of ten minutes');

# Each document its own TTL: the member ttl_field names, in seconds; null or absent: the source's.
$node->safe_psql('postgres', q{
	CREATE TABLE offer (id int PRIMARY KEY, title text, valid_for numeric);
	INSERT INTO offer VALUES (1, 'an hour', 3600), (2, 'a day', 86400), (3, 'the source''s', NULL),
	                         (4, 'broken', -1), (5, 'a string', NULL);
	CREATE FUNCTION offer_get(k int) RETURNS json LANGUAGE sql STABLE AS $$
	    SELECT CASE WHEN id = 5 THEN json_build_object('title', title, 'expires_in', '120')
	                ELSE json_build_object('title', title, 'expires_in', valid_for) END
	    FROM offer WHERE id = k $$;
	SELECT cachepusher.add_source('offer', 'offer_get(int)', 'SELECT id FROM offer', ttl => '10 minutes',
	                              ttl_field => 'expires_in');
	SELECT cachepusher.watch('offer', 'offer', 'id');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'offers warmed');
my $offer = ttls('offer');
ok($offer->{'offer:1'} > 3_590_000 && $offer->{'offer:1'} <= 3_600_000, 'an offer valid for 3600 s lives an hour');
ok($offer->{'offer:2'} > 86_390_000 && $offer->{'offer:2'} <= 86_400_000, 'one valid for 86400 s a day');
ok($offer->{'offer:3'} > 590_000 && $offer->{'offer:3'} <= 600_000, "one that names none the source's ten minutes");
ok($offer->{'offer:5'} > 110_000 && $offer->{'offer:5'} <= 120_000, 'a string holding a number is that number');
ok(!exists $offer->{'offer:4'}, 'a negative TTL is not written');
$node->wait_for_log(qr/cachepusher: source "offer", key "4": the document's TTL member "expires_in" must be a positive number of seconds/);
pass('and says why');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ') FROM cachepusher.verify('offer')}),
	'4 error', 'verify() reports it as an error, no other offer');
$node->safe_psql('postgres', q{UPDATE offer SET valid_for = 2 WHERE id IN (1, 4)});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'two offers changed');
ok(poll_until(sub { !defined $redis->get('offer:1') && !defined $redis->get('offer:4') }), 'valid for 2 s: both expired');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('offer')}), '0',
	'verify() counts no expired offer as missing');

# Without a source TTL, a document that names none never expires: missing, it is a difference.
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('offer', NULL, ttl_field => 'expires_in')});
ok(poll_until(sub { ($redis->command('PTTL', 'offer:3') // -2) == -1 }), 'the offer naming no TTL is rewritten without one');
$redis->command('DEL', 'offer:3');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ') FROM cachepusher.verify('offer')}),
	'3 missing', 'verify() reports it missing once gone');

done_testing();
