# Redis is killed (SIGKILL: it saves nothing and says goodbye to no one) and stays away for 10 s
# while four clients keep committing changes on customer and address; then it starts again. Twice:
#  - empty: it never saved, so every document is gone;
#  - from the snapshot it saved a moment before it died, the harder case: what comes back looks
#    right (the worker's marker key is there, and most documents) but is not. Changes written after
#    the snapshot are undone, documents deleted since are back as orphans. The notifications of the
#    outage cover only what changed while Redis was away; only the changed run_id says the rest.
# The clients touch every customer during an outage (a bulk update of one in 97 customers is one
# change in 16), so a second source that no client touches, "probe", is what shows a lost write:
# only a resync brings it back.
# Throughout, no application transaction fails and the worker keeps draining notifications; at
# the end wait_for_sync() is true, verify() finds nothing and Redis equals the database.
#
# Seeded: the seed is printed; CACHEPUSHER_SEED=<n> replays the clients' choices (not their
# interleaving).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use CachePusher::Test;

my $seed = $ENV{CACHEPUSHER_SEED} // int(rand(1_000_000_000));
diag("random seed $seed (replay: CACHEPUSHER_SEED=$seed)");

my $outage = 10;             # seconds Redis stays away
my $before_kill = 2;         # seconds of writes Redis takes before it is killed
my $after_start = 2;         # and after it is back, while the worker catches up
my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $probes = 'SELECT id, probe_doc(id) FROM probe';

my $redis = start_redis();
my $node = new_node('redis_killed', $redis);
load_seed_schema($node);
load_random_writes($node);
add_seed_source($node);
$node->safe_psql('postgres', q{
	CREATE TABLE probe (id int PRIMARY KEY, v text NOT NULL);
	INSERT INTO probe SELECT i, 'as first written' FROM generate_series(1, 100) i;
	CREATE FUNCTION probe_doc(k int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', id, 'v', v) FROM probe WHERE id = k $$;
	SELECT cachepusher.add_source('probe', 'probe_doc(int)', 'SELECT id FROM probe');
	SELECT cachepusher.watch('probe', 'probe', 'id');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm before the first kill');
my $pid = worker_pid($node);

sub wait_until { my ($t) = @_; usleep(int(($t - time) * 1e6)) if $t > time; return; }

# One outage under load: $snapshot says whether Redis saves (SAVE) while the clients write, just
# before it is killed, and so comes back with that snapshot rather than empty.
sub outage
{
	my ($name, $snapshot, $round) = @_;
	note("Redis killed, back $name");
	my $started = time;
	my $churn = start_churn($node, 'SELECT chaos(:r);', $before_kill + $outage + $after_start,
		clients => 4, seed => $seed + $round);

	# Redis takes writes; with a snapshot, it saves amid them, and the writes after it are lost: the
	# probes changed and deleted then are written to Redis before it dies, and no client touches them.
	wait_until($started + $before_kill / 2);
	if ($snapshot)
	{
		$redis->command('SAVE');
		$node->safe_psql('postgres', q{
			UPDATE probe SET v = 'after the snapshot' WHERE id <= 50;
			DELETE FROM probe WHERE id > 90;
		});
		is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't',
			"$name: the probes changed after the snapshot are in Redis");
	}
	wait_until($started + $before_kill);
	$redis->stop;    # SIGKILL
	my $killed = time;

	ok(poll_until(sub { source_status($node, 'customer')->{state} eq 'redis_down' }, $outage),
		"$name: status says redis_down");
	my $received = source_status($node, 'customer')->{keys_received};
	wait_until($killed + $outage - 1);
	my $status = source_status($node, 'customer');
	cmp_ok($status->{keys_received}, '>', $received, "$name: the worker keeps draining notifications while Redis is away");
	cmp_ok($status->{pending}, '>', 0, "$name: and keeps the changed keys ($status->{pending} pending)");
	is($status->{state}, 'redis_down', "$name: still redis_down after " . int(time - $killed) . ' s');

	wait_until($killed + $outage);
	$redis->start;
	if ($snapshot)
	{
		my ($loaded) = slurp_file($redis->logfile) =~ /.*keys loaded: (\d+)/s;
		cmp_ok($loaded // 0, '>', 1000, "$name: Redis came back with the " . ($loaded // 0) . ' keys of its snapshot');
	}
	churn_ok($churn, "while Redis was killed and back $name");

	converged($node, $redis, 'customer', $docs, "after Redis came back $name (seed $seed)");
	cache_matches($node, $redis, 'probe', $probes, "$name: the probes are as the database has them");
	is(source_status($node, 'customer')->{state}, 'streaming', "$name: streaming again");
	note(sprintf('%s: %.1f s from the first write to Redis equal to the database', $name, time - $started));
	return;
}

outage('empty', 0, 1);
outage('from an older snapshot', 1, 2);

my $restarts = () = slurp_file($node->logfile) =~ /cachepusher: Redis restarted \(its run_id changed\); resyncing every source/g;
is($restarts, 2, 'the worker noticed both restarts by their run_id');
is(worker_pid($node), $pid, 'the worker kept its pid throughout');

done_testing();
