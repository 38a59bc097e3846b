# Documents as the server's JSON type (value_type => 'json': JSON.SET key $ document, for a Redis or
# Valkey with a JSON module).
#
# First against a server without the module, as Debian's are: switching a source to json is refused
# by Redis key by key, the worker says why in words a user acts on (load a module, or another value
# type), counts it, and keeps every old value in place (no key deleted, no cold cache); verify() says
# the same; switching back converges.
#
# Then against a server that has a JSON module, when the test is given one: REDIS_JSON_MODULE names
# the module (.so) and REDIS_JSON_SERVER the server that loads it (default: the suite's server).
# Debian ships no JSON module for Redis or Valkey, so CI skips this part and says so. Warmup,
# changes, deletes, verify() (which compares JSON as JSON: spacing and member order aside), repair, a
# TTL set and cleared, switching between every value type with no key missing meanwhile, and random
# writes converging.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

# --- A server without a JSON module.
my $plain = start_redis();
my $node = new_node('json_plain', $plain);
load_seed_schema($node, customers => 30, addresses => 60);
watch_seed_source($node);
cache_matches($node, $plain, 'customer', $docs, 'warmed as strings');
my $errors_before = source_status($node, 'customer')->{errors};

$node->safe_psql('postgres', q{SELECT cachepusher.set_value_type('customer', 'json')});
$node->wait_for_log(qr/cachepusher: source "customer", key "\d+": Redis refused the JSON.SET script \(EVAL\): .*Unknown .*command.* \(the server has no JSON module: load RedisJSON or Valkey JSON into it, or give the source another value_type with cachepusher.set_value_type\)/);
pass('json on a server without a JSON module: the worker says why, and what to do');
ok(poll_until(sub { source_status($node, 'customer')->{errors} > $errors_before }), 'the refusals are counted');
like($node->safe_psql('postgres', q{SELECT last_error FROM cachepusher.status WHERE source = 'customer'}),
	qr/the server has no JSON module/, 'status says it too');
is(scalar(cache_differences($node, $plain, 'customer', $docs)), 0, 'every key keeps its old value: none deleted');
my ($stdout, $stderr);
$node->psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')},
	stdout => \$stdout, stderr => \$stderr);
is($stdout, '30', 'verify() reports every key as an error');
like($stderr, qr/Redis refused JSON.GET: .*unknown command.* \(the server has no JSON module/, 'and says why');

$node->safe_psql('postgres', q{
	UPDATE customer SET name = 'changed meanwhile' WHERE id_customer = 1;
	SELECT cachepusher.set_value_type('customer', 'string');
});
cache_matches($node, $plain, 'customer', $docs, 'back to string: every key written again, the change made meanwhile too');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0', 'verify() finds nothing');
$node->stop;
$plain->stop;

# --- A server with a JSON module.
my $module = $ENV{REDIS_JSON_MODULE};
if (!$module)
{
	my $why = 'no JSON module to load: Debian ships none for Redis or Valkey; set REDIS_JSON_MODULE=/path/to/module.so '
	  . '(and REDIS_JSON_SERVER to the server that loads it) to run the part with one';
	diag("031_json_values: $why");
  SKIP: { skip $why, 1; }
	done_testing();
	exit 0;
}
my $redis = start_redis(args => [ '--loadmodule', $module ],
	($ENV{REDIS_JSON_SERVER} ? (server => $ENV{REDIS_JSON_SERVER}) : ()));
$node = new_node('json', $redis);
load_seed_schema($node, customers => 40, addresses => 80);
$node->safe_psql('postgres', q{
	UPDATE customer SET name = E'Ada "the first"\nof her name ✓' WHERE id_customer = 4;
});
watch_seed_source($node, "value_type => 'json'");
cache_matches($node, $redis, 'customer', $docs, 'warmup writes every document as JSON', \&json_differences);
is($redis->command('TYPE', 'customer:1'), 'ReJSON-RL', "of the module's type");
like($redis->command('JSON.GET', 'customer:4', '$.name'), qr/^\["Ada \\"the first\\"\\nof her name ✓"\]$/,
	'a member is read by path');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer')}), '0', 'verify() finds nothing');

seed_changes($node);
cache_matches($node, $redis, 'customer', $docs, 'changes, a child added, a delete, an insert', \&json_differences);
is($redis->command('EXISTS', 'customer:5'), 0, 'a deleted document has no key');

# verify() compares JSON as JSON: the same document spelled otherwise is no difference.
my $seven = $node->safe_psql('postgres', q{SELECT customer_get(7)::jsonb::text});
$redis->command('JSON.SET', 'customer:7', '$', $seven);
$redis->command('JSON.SET', 'customer:6', '$.name', '"tampered"');
$redis->command('DEL', 'customer:8');
$redis->command('SET', 'customer:9', 'a string where JSON belongs');
is($node->safe_psql('postgres', q{SELECT string_agg(key || ' ' || problem, ', ' ORDER BY key) FROM cachepusher.verify('customer')}),
	'6 stale, 8 missing, 9 stale', 'verify() finds a changed member, a missing key, a key of another type, and not a respelled document');
$node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('customer', repair => true)});
cache_matches($node, $redis, 'customer', $docs, 'repaired: the string replaced by JSON too', \&json_differences);

# A TTL is set with the document and cleared when the source has none.
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('customer', '1 hour')});
ok(poll_until(sub { $redis->command('PTTL', 'customer:1') > 3_500_000 }), 'a JSON document gets the TTL');
$node->safe_psql('postgres', q{SELECT cachepusher.set_ttl('customer', NULL)});
ok(poll_until(sub { $redis->command('PTTL', 'customer:1') == -1 }), 'and loses it when the source has none');

# Switching between every value type rewrites every key, none missing meanwhile.
for my $switch ([ 'string', \&cache_differences ], [ 'hash', \&hash_differences ], [ 'json', \&json_differences ])
{
	my ($type, $differences) = @$switch;
	my $gaps = 0;
	my $keys = $node->safe_psql('postgres', 'SELECT count(*) FROM customer');
	$node->safe_psql('postgres', "SELECT cachepusher.set_value_type('customer', '$type')");
	ok(poll_until(sub {
		my $present = keys %{ $redis->all_json_under('customer') };    # of any type
		$gaps++ if $present < $keys;
		!$differences->($node, $redis, 'customer', $docs) }), "set_value_type($type): every key rewritten");
	is($gaps, 0, "no key was missing meanwhile ($type)");
}

# Random application writes converge (on tables emptied first: TRUNCATE, a resync, is one of them).
$node->safe_psql('postgres', 'TRUNCATE customer, address RESTART IDENTITY');
load_random_writes($node);
my $churn = start_churn($node, 'SELECT chaos(:r);', 5);
churn_ok($churn, 'on JSON documents');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after the writes');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing after them');
cache_matches($node, $redis, 'customer', $docs, 'Redis equals the database after random writes', \&json_differences);

done_testing();
