# What an operator sees: status during a warmup (state, done/total), the progress lines in the
# log, and the counters, lag and timestamps once streaming.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $redis = start_redis();
my $node = new_node('status', $redis, conf => "cachepusher.batch_size = 20\n");
$node->safe_psql('postgres', q{
	CREATE TABLE item (id int PRIMARY KEY, label text);
	INSERT INTO item SELECT i, 'item ' || i FROM generate_series(1, 3000) i;
	-- 2 ms a document: the warmup of 3000 takes about 6 s, long enough to watch.
	CREATE FUNCTION slow_item(k int) RETURNS json LANGUAGE plpgsql STABLE AS $$
	BEGIN
	    PERFORM pg_sleep(0.002);
	    RETURN (SELECT json_build_object('id', id, 'label', label) FROM item WHERE id = k);
	END $$;
	SELECT cachepusher.add_source('item', 'slow_item(int)', 'SELECT id FROM item');
	SELECT cachepusher.watch('item', 'item', 'id');
});

my $row;
ok(poll_until(sub {
	$row = $node->safe_psql('postgres',
		q{SELECT state, warmup_total, warmup_done FROM cachepusher.status WHERE source = 'item'});
	$row =~ /^warming\|3000\|(\d+)$/ && $1 > 0 && $1 < 3000 }), "status during the warmup: $row");
$node->wait_for_log(qr/cachepusher: warming source "item": \d+ of 3000 keys \(\d+%\), \d+ keys\/s, about \d+ s left/);
pass('a progress line while warming');
$node->wait_for_log(qr/cachepusher: source "item" warmed: 3000 keys in [\d.]+ s/);
pass('a summary line at the end');
ok(poll_until(sub { source_status($node, 'item')->{state} eq 'streaming' }), 'streaming after the warmup');

# A source added while the worker has not read the catalog since (stopped here): "loading", not
# "stopped", which says no worker runs.
my $worker = worker_pid($node);
kill 'STOP', $worker;
$node->safe_psql('postgres', q{SELECT cachepusher.add_source('later', 'slow_item(int)', 'SELECT id FROM item WHERE id <= 5')});
is(source_status($node, 'later')->{state}, 'loading', 'a source the worker has not taken up yet is loading');
kill 'CONT', $worker;
ok(poll_until(sub { source_status($node, 'later')->{state} eq 'streaming' }), 'then streaming');
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('later', delete_keys => true)});

$node->safe_psql('postgres', q{
	UPDATE item SET label = 'changed' WHERE id <= 10;
	DELETE FROM item WHERE id BETWEEN 11 AND 13;
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'changes written');
is($node->safe_psql('postgres', q{
	SELECT state, keys_received, documents_written, keys_deleted, errors, pending, lag_ms,
	       warmup_done, warmup_total, last_error IS NULL, last_push_at > now() - interval '1 min'
	FROM cachepusher.status WHERE source = 'item'}),
	'streaming|13|3010|3|0|0|0|3000|3000|t|t', 'every status column after the warmup and 13 changes');

# lag_ms: the age of the oldest change not yet in Redis.
$redis->stop(keep => 1);
$node->safe_psql('postgres', q{UPDATE item SET label = 'waiting' WHERE id = 20});
ok(poll_until(sub { $node->safe_psql('postgres',
	q{SELECT state = 'redis_down' AND pending = 1 AND lag_ms >= 200 FROM cachepusher.status}) eq 't' }),
	'lag_ms grows while a change waits for Redis');
$redis->start;
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'written once Redis is back');
is($node->safe_psql('postgres', q{SELECT state, pending, lag_ms FROM cachepusher.status}), 'streaming|0|0',
	'no lag once in step');

done_testing();
