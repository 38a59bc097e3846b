# Bad input loses nothing else: a payload that is not a key, a document function that raises for
# one key, Redis refusing one command. Each gives a log line naming source and key and an error
# counted in status, and every other key of the batch is written.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

# Redis refuses the worker's user every key that starts with "customer:9"; all else is allowed.
my $redis = start_redis();
$redis->command('ACL', 'SETUSER', 'pusher', 'on', '>s3cret', '~customer:[^9]*', '~picky:[^9]*', '+@all');
my $node = new_node('bad_input', $redis, conf => <<'CONF');
cachepusher.redis_username = 'pusher'
cachepusher.redis_password = 's3cret'
CONF
load_seed_schema($node, customers => 30);
$node->safe_psql('postgres', q{
	-- A document function that fails for one key only (as long as the table says so).
	CREATE TABLE unlucky (id int);
	INSERT INTO unlucky VALUES (13);
	CREATE FUNCTION picky_get(id int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN
	    IF EXISTS (SELECT 1 FROM unlucky u WHERE u.id = picky_get.id) THEN
	        RAISE EXCEPTION 'thirteen is unlucky';
	    END IF;
	    RETURN customer_get(id);
	END $$;
});
add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('picky', 'picky_get(int)', 'SELECT id_customer FROM customer',
	                              channels => ARRAY['customer_updated', 'customer_deleted'])});

# Redis refusing one command: customer:9 is never written, every other key is.
my $all_but_9 = "$docs WHERE id_customer <> 9";
cache_matches($node, $redis, 'customer', $all_but_9, 'warmup writes every key Redis accepts');
is($redis->get('customer:9'), undef, 'the refused key is not in Redis');
# Replies are read while the next batch is built: the refusal is logged a moment after the others are in.
$node->wait_for_log(qr/cachepusher: source "customer", key "9": Redis refused SET: NOPERM/);
pass('the refused command is logged with source and key');

# A function raising for one key: the other keys of the same query are written.
my $picky = "SELECT id_customer, customer_get(id_customer) FROM customer WHERE id_customer NOT IN (9, 13)";
cache_matches($node, $redis, 'picky', $picky, 'warmup writes every key the function builds');
ok($node->log_contains(qr/cachepusher: source "picky", key "13": thirteen is unlucky/),
	'the raising key is logged with source and key');

my $errors_before = source_status($node, 'customer')->{errors};
my $log_offset = -s $node->logfile;

# A payload that is not an integer, amid good keys of the same transaction.
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT pg_notify('customer_updated', 'abc');
	UPDATE customer SET name = name || ' (changed)' WHERE id_customer BETWEEN 1 AND 20;
	COMMIT;
});
cache_matches($node, $redis, 'customer', $all_but_9, 'the good keys beside a bad payload are written');
cache_matches($node, $redis, 'picky', $picky, 'the good keys beside a raising key are written');
$node->wait_for_log(qr/cachepusher: source "customer", key "abc": invalid input syntax for type integer/,
	$log_offset);
pass('the bad payload is logged with source and key');
# Failing keys are retried (retry_max_interval), but logged and counted once while they keep failing.
# Redis counts the refused SETs of customer:9 and picky:9: they go on.
my $refused = sub {
	my ($n) = $redis->command('INFO', 'commandstats') =~ /cmdstat_set:.*rejected_calls=(\d+)/;
	return $n // 0;
};
my $refused_before = $refused->();
ok(poll_until(sub { $refused->() >= $refused_before + 4 }), 'the refused keys are retried');
my $log = slurp_file($node->logfile);
my $lines = () = $log =~ /key "13": thirteen is unlucky/g;
is($lines, 1, 'a key that keeps failing is logged once');
$lines = () = $log =~ /source "customer", key "9": Redis refused/g;
is($lines, 1, 'a key that Redis keeps refusing is logged once');

# errors: "abc" (customer:9 keeps failing: counted once, before).
ok(poll_until(sub { source_status($node, 'customer')->{errors} >= $errors_before + 1 }),
	'errors are counted in status');
my $picky_status = source_status($node, 'picky');
ok($picky_status->{errors} >= 2, "the raising key is counted ($picky_status->{errors})");
like($node->safe_psql('postgres', "SELECT last_error FROM cachepusher.status WHERE source = 'picky'"),
	qr/^key "(13": thirteen is unlucky|9": Redis refused SET: NOPERM|abc": invalid input syntax)/, 'status shows the last error');
is($picky_status->{state}, 'failing', 'a failing key does not stop the source: state failing (keys of it are not in Redis), not error');

# Payloads that cast but are spelt otherwise than the key query prints keys: " 7" is customer 7, whose
# key is "7", and "042" is customer 42 (there is none). They name those documents: customer:7 is
# written (planted stale here), customer:42 deleted; nothing stays under " 7" or "042". Not errors.
$redis->command('SET', 'customer:7', 'stale');
$redis->command('SET', 'customer: 7', 'left over');
my $errors_respelled = source_status($node, 'customer')->{errors};
$node->safe_psql('postgres', q{SELECT pg_notify('customer_updated', '042'), pg_notify('customer_updated', ' 7')});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'keys spelt otherwise are handled');
is($redis->get('customer:7'), $node->safe_psql('postgres', 'SELECT customer_get(7)'),
	'" 7" writes the document of customer 7 under its key "7"');
is($redis->get('customer: 7'), undef, 'and nothing stays under " 7"');
is($redis->get('customer:042') // $redis->get('customer:42'), undef, 'nor under "042" (customer 42 does not exist)');
is(source_status($node, 'customer')->{errors}, $errors_respelled, 'not counted as errors');

# Payloads that name no key of anything, on the worker's own channel.
$node->safe_psql('postgres', q{
	SELECT pg_notify('cachepusher', '');
	SELECT pg_notify('cachepusher', 'no_such_source' || E'\n' || '1');
	SELECT pg_notify('cachepusher', repeat('x', 7999));
});
$node->safe_psql('postgres', q{UPDATE customer SET email = 'after@garbage' WHERE id_customer = 2});
cache_matches($node, $redis, 'customer', $all_but_9, 'garbage on the worker channel harms nothing');
ok($node->log_contains(qr/for unknown source "no_such_source"/), 'a notification for an unknown source is logged');
isnt(worker_pid($node), '', 'the worker is still running');

# A failure that passes: the retry writes the key without any new change.
$node->safe_psql('postgres', 'DELETE FROM unlucky');
ok(poll_until(sub { defined $redis->get('picky:13') }), 'a key that stops failing is written by the retry');
# Logged once Redis' reply is read, which may be a moment after the key is visible.
$node->wait_for_log(qr/cachepusher: source "picky", key "13" written again after failing/);
pass('and that is logged');

# Redis refusing the deletion of a dropped source's keys (an ACL without UNLINK): logged, the prefix is
# kept and wait_for_sync() says the cache is not in step, until Redis lets the worker delete them.
$redis->command('ACL', 'SETUSER', 'pusher', '-unlink');
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('picky', delete_keys => true)});
$node->wait_for_log(qr/Redis refused to delete keys of dropped source prefix picky:\*: NOPERM/);
pass('a refused deletion is logged');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('1 s')}), 'f',
	'wait_for_sync() is false while the keys of a dropped source cannot be deleted');
is($node->safe_psql('postgres', 'SELECT key_prefix FROM cachepusher.forgotten_prefix'), 'picky',
	'the prefix stays listed');
ok(scalar(keys %{ $redis->all_under('picky') }) > 20, 'and its keys are still there');
$redis->command('ACL', 'SETUSER', 'pusher', '+unlink');
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't',
	'once Redis allows it, wait_for_sync() waits for the deletion');
is(scalar(keys %{ $redis->all_under('picky') }), 0, 'every key of the dropped source is gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.forgotten_prefix'), '0', 'and the prefix forgotten');

done_testing();
