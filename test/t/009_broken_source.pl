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
$node->stop;

# A source whose documents cannot be built at all while max_pending of its keys wait: the commit
# queue is not read while the pending set is full, so its keys would hold back every other source's.
# Its plan cannot be prepared (its owner may no longer use the function's schema; the catalog, read
# by the worker's role, still finds the function): it is prepared when the first batch comes, here
# after the worker restarted with warmup_on_start off.
my $held = new_node('held_back', $redis, conf => "cachepusher.max_pending = 100\ncachepusher.warmup_on_start = off\n");
$held->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT USAGE ON SCHEMA cachepusher TO alice;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO alice;
	GRANT SELECT ON ALL TABLES IN SCHEMA cachepusher TO alice;
	CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL);
	INSERT INTO item SELECT i, 'item ' || i FROM generate_series(1, 300) i;
	ALTER TABLE item OWNER TO alice;
	CREATE SCHEMA hidden;
	GRANT USAGE ON SCHEMA hidden TO alice;
	CREATE FUNCTION hidden.item_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', i.id, 'name', i.name) FROM public.item i WHERE i.id = $1 $$;
	CREATE TABLE other (id int PRIMARY KEY, name text NOT NULL);
	INSERT INTO other SELECT i, 'other ' || i FROM generate_series(1, 10) i;
	CREATE FUNCTION other_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', o.id, 'name', o.name) FROM other o WHERE o.id = $1 $$;
	SELECT cachepusher.add_source('other', 'other_get(int)', 'SELECT id FROM other');
	SELECT cachepusher.watch('other', 'other', 'id');
	SET ROLE alice;
	SELECT cachepusher.add_source('item', 'hidden.item_get(int)', 'SELECT id FROM item');
	SELECT cachepusher.watch('item', 'item', 'id');
	RESET ROLE;
	SELECT cachepusher.wait_for_sync();
});
my $items = 'SELECT id, hidden.item_get(id) FROM item';
my $others = 'SELECT id, other_get(id) FROM other';
cache_matches($held, $redis, 'item', $items, 'held_back: both sources warmed');
$held->safe_psql('postgres', 'REVOKE USAGE ON SCHEMA hidden FROM alice');
my $old_pid = worker_pid($held);
$held->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok(poll_until(sub { my $pid = worker_pid($held); $pid ne '' && $pid ne $old_pid }), 'the worker restarted');
$log_offset = -s $held->logfile;
$held->safe_psql('postgres', q{UPDATE item SET name = name || ' (changed)'});
$held->wait_for_log(qr/source "item": could not build documents: .*permission denied for schema hidden/, $log_offset);
$held->safe_psql('postgres', q{UPDATE other SET name = 'changed behind the stuck source' WHERE id <= 3});
cache_matches($held, $redis, 'other', $others, "the other source's changes are written meanwhile");
ok($held->log_contains(qr/source "item": its documents cannot be built, and with cachepusher.max_pending \(100\) keys waiting its 300 keys held back every other source's: they are dropped; a resync follows/),
	'the stuck source gives its keys up, and says so');
$held->safe_psql('postgres', 'GRANT USAGE ON SCHEMA hidden TO alice');
cache_matches($held, $redis, 'item', $items, 'once it works again, its resync writes what it dropped');
is($held->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'and wait_for_sync() says so');
$held->stop;

done_testing();
