# wait_for_sync(): true once everything committed before the call is in Redis, so a reader that
# calls it after its write reads its write from Redis; false when the timeout passes first.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('sync', $redis);
load_seed_schema($node, customers => 2000, addresses => 3000);

# After add_source, its warmup is part of what the call waits for.
add_seed_source($node);
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'wait_for_sync after add_source');
is(scalar(cache_differences($node, $redis, 'customer', $docs)), 0, 'the warmup is complete when it returns');

# Read-your-writes, over and over: no polling, Redis must hold the write when the call returns.
my $misses = 0;
for my $i (1 .. 100)
{
	my $id = 1 + ($i * 37) % 2000;
	my $got = $node->safe_psql('postgres', qq{
		UPDATE customer SET name = 'write $i' WHERE id_customer = $id;
		SELECT cachepusher.wait_for_sync();
	});
	$misses++ unless $got eq 't' && ($redis->get("customer:$id") // '') =~ /"write $i"/;
}
is($misses, 0, '100 writes, each read back from Redis right after wait_for_sync');

# A child row moving and a delete, in one transaction.
$node->safe_psql('postgres', q{
	UPDATE address SET fk_customer = 5 WHERE fk_customer = 6;
	DELETE FROM customer WHERE id_customer = 7;
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'wait_for_sync after a move and a delete');
is(scalar(cache_differences($node, $redis, 'customer', $docs)), 0, 'Redis equals the database when it returns');

# A resync asked for before the call is waited for.
$redis->command('DEL', 'customer:10', 'customer:11');
$node->safe_psql('postgres', q{SELECT cachepusher.resync('customer')});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'wait_for_sync after resync');
ok(defined $redis->get('customer:10') && defined $redis->get('customer:11'), 'the resync is complete when it returns');

# Redis down: the change cannot reach Redis, the call says so when its timeout passes.
$redis->stop(keep => 1);
$node->safe_psql('postgres', q{UPDATE customer SET name = 'during the outage' WHERE id_customer = 20});
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('300 ms')}), 'f',
	'false when Redis is down and the timeout passes');
$redis->start;
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'true once Redis is back');
like($redis->get('customer:20'), qr/during the outage/, 'the change made during the outage is in Redis');

# With nothing to do it returns at once, also with a zero timeout once the worker caught up.
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('0 s') OR cachepusher.wait_for_sync()}), 't',
	'nothing pending');

my ($ret, $out, $err) = $node->psql('postgres', q{SELECT cachepusher.wait_for_sync('-1 s')});
like($err, qr/timeout must not be negative/, 'a negative timeout is refused');

# Another database is not served by the worker: an error, not a silent false.
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION cachepusher');
($ret, $out, $err) = $node->psql('other', 'SELECT cachepusher.wait_for_sync()');
like($err, qr/the cachepusher worker serves database "postgres", not "other"/, 'refused in a database not served');

# A source of the same name there is not the worker's: status shows none of the served one's counters.
$node->safe_psql('other', q{
	CREATE FUNCTION doc(id int) RETURNS json LANGUAGE sql AS 'SELECT NULL::json';
	SELECT cachepusher.add_source('customer', 'doc(int)', 'SELECT 1');
});
is($node->safe_psql('other', 'SELECT state, documents_written, last_push_at IS NULL FROM cachepusher.status'),
	'stopped|0|t', "status in another database does not show the served database's source of that name");

# A cancel interrupts the wait.
$redis->stop(keep => 1);
$node->safe_psql('postgres', q{UPDATE customer SET name = 'again' WHERE id_customer = 21});
($ret, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '200ms'; SELECT cachepusher.wait_for_sync('1 min')});
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout cancels the wait');
$redis->start;
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'and the next call works');

# Once wait_for_sync() is true, status says so too: a deploy script may check either.
my @states;
for (1 .. 20)
{
	my @out = split /\n/, $node->safe_psql('postgres', q{
		SELECT cachepusher.resync();
		SELECT cachepusher.wait_for_sync();
		SELECT string_agg(DISTINCT state, ',') FROM cachepusher.status});
	push @states, "$out[-2] $out[-1]";
}
is_deeply([ grep { $_ ne 't streaming' } @states ], [], 'status is streaming whenever wait_for_sync() returned true');

done_testing();
