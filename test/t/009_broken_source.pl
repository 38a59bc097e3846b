# A source that breaks (its document function dropped) is reported and skipped; it never stops the
# worker from serving the other sources or from loading new ones, and it comes back when repaired.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $customers = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $mirror = 'SELECT id_customer, mirror_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('broken_source', $redis);
load_seed_schema($node, customers => 20);
$node->safe_psql('postgres', q{
	CREATE FUNCTION mirror_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT customer_get(id) $$;
});
add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('mirror', 'mirror_get(int)', 'SELECT id_customer FROM customer',
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
});
cache_matches($node, $redis, 'mirror', $mirror, 'both sources warmed');

$node->safe_psql('postgres', 'DROP FUNCTION mirror_get(int)');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'after the drop' WHERE id_customer = 3});
ok(poll_until(sub {
	$node->safe_psql('postgres', "SELECT state FROM cachepusher.status WHERE source = 'mirror'") eq 'error' }),
	'the broken source is in state error');
like($node->safe_psql('postgres', "SELECT last_error FROM cachepusher.status WHERE source = 'mirror'"),
	qr/document function public\.mirror_get\(integer\) does not exist/, 'last_error says why');
cache_matches($node, $redis, 'customer', $customers, 'the other source goes on');
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't',
	'wait_for_sync() is true: nothing of the broken source can be written');
ok(!$node->log_contains('could not read the sources'), 'every source loads');
# Its key that failed before the source broke is not retried (it cannot be served), and nothing
# else wakes the worker: it sleeps on its latch (once its retry was due, it woke every millisecond).
sleep 2;
my $wakeups = wakeups_during(worker_pid($node), 2);
cmp_ok($wakeups, '<', 200, "an idle worker beside a broken source sleeps ($wakeups wake-ups in 2 s)");

# A source added while another one is broken is served.
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('copy', 'customer_get(int)', 'SELECT id_customer FROM customer', key_prefix => 'copy',
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
	SELECT cachepusher.wait_for_sync();
});
cache_matches($node, $redis, 'copy', $customers, 'a new source is served beside the broken one');

# Repaired: the source is warmed again and streams.
$node->safe_psql('postgres', q{
	CREATE FUNCTION mirror_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT customer_get(id) $$;
	SELECT cachepusher.resync('mirror');
});
cache_matches($node, $redis, 'mirror', $mirror, 'the repaired source is warmed again');
$node->safe_psql('postgres', q{UPDATE customer SET name = 'after the repair' WHERE id_customer = 4});
cache_matches($node, $redis, 'mirror', $mirror, 'and streams again');
is($node->safe_psql('postgres', "SELECT state FROM cachepusher.status WHERE source = 'mirror'"), 'streaming',
	'state streaming');

# More keys failing at once than a source remembers to retry one by one (10,000): a resync stands in
# for the others at the next retry, so every key is written once the failure passes.
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	CREATE TABLE many (id int PRIMARY KEY);
	INSERT INTO many SELECT generate_series(1, 10500);
	CREATE TABLE many_switch (broken boolean NOT NULL);
	INSERT INTO many_switch VALUES (true);
	CREATE FUNCTION many_get(id int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN
		IF (SELECT broken FROM many_switch) THEN
			RAISE EXCEPTION 'many is broken';
		END IF;
		RETURN json_build_object('id', id);
	END $$;
	SELECT cachepusher.add_source('many', 'many_get(int)', 'SELECT id FROM many');
});
$node->wait_for_log(qr/source "many": more than 10000 keys are failing/, $log_offset);
pass('more failing keys than are remembered is logged');
$node->safe_psql('postgres', 'UPDATE many_switch SET broken = false');
cache_matches($node, $redis, 'many', 'SELECT id, many_get(id) FROM many', 'every key is written once the failure passes');

# With no source left and Redis connected, the worker sleeps (its marker check kept it awake).
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source(name) FROM cachepusher.source});
sleep 2;
$wakeups = wakeups_during(worker_pid($node), 2);
cmp_ok($wakeups, '<', 200, "a worker with no source sleeps ($wakeups wake-ups in 2 s)");

done_testing();
