# Randomized convergence: concurrent clients make random inserts, updates, deletes and child moves
# on the seed's schema while faults strike at random moments (Redis killed empty, flushed, away for
# a while, hung; the worker terminated; resyncs). At the end Redis equals the database, verify()
# finds nothing, and no application transaction failed. Three sources of the same documents: one fed
# by the seed's NOTIFY triggers (channels), one by watch()'s triggers (the commit queue), and one of
# those written as hashes (value_type => 'hash').
#
# Seeded: the seed is printed; CACHEPUSHER_SEED=<n> replays the same choices (the interleaving of
# concurrent clients can still differ). CACHEPUSHER_RANDOM_SECONDS sets the duration (default 60).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use CachePusher::Test;

my $seed = $ENV{CACHEPUSHER_SEED} // int(rand(1_000_000_000));
my $seconds = $ENV{CACHEPUSHER_RANDOM_SECONDS} // 60;
diag("random seed $seed (replay: CACHEPUSHER_SEED=$seed), $seconds s");
srand($seed);

my $redis = start_redis(args => [ '--enable-debug-command', 'yes' ]);
my $node = new_node('random', $redis, conf => <<'CONF');
cachepusher.batch_size = 200
cachepusher.command_timeout = 2000
CONF
load_seed_schema($node);
load_random_writes($node);
add_seed_source($node);
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('watched', 'customer_get(int)', 'SELECT id_customer FROM customer');
	SELECT cachepusher.watch('watched', 'customer', 'id_customer');
	SELECT cachepusher.watch('watched', 'address', 'fk_customer');
	SELECT cachepusher.add_source('hashed', 'customer_get(int)', 'SELECT id_customer FROM customer',
	                              value_type => 'hash');
	SELECT cachepusher.watch('hashed', 'customer', 'id_customer');
	SELECT cachepusher.watch('hashed', 'address', 'fk_customer');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm before the storm');

my $churn = start_churn($node, 'SELECT chaos(:r);', $seconds, clients => 4, seed => $seed);

my @faults = (
	[ 'Redis killed and started empty', sub { $redis->stop; $redis->start } ],
	[ 'FLUSHALL', sub { $redis->command('FLUSHALL') } ],
	[ 'Redis away for a second', sub { $redis->stop(keep => 1); usleep(1_000_000); $redis->start } ],
	[ 'Redis hung for a second', sub { $redis->command('DEBUG', 'SLEEP', '1') } ],
	[ 'worker terminated', sub {
		$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'cachepusher'});
	} ],
	[ 'resync', sub { $node->safe_psql('postgres', 'SELECT cachepusher.resync()') } ],
);
my $end = time + $seconds - 3;
my @struck;
while (time < $end)
{
	usleep(int((1 + rand(4)) * 1_000_000));
	last if time >= $end;
	my ($name, $strike) = @{ $faults[ int(rand(@faults)) ] };
	$strike->();
	push @struck, $name;
}
note('faults: ' . join(', ', @struck));
ok(scalar(@struck) >= 3, scalar(@struck) . ' faults struck');

churn_ok($churn, 'during the storm');

is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('120 s')}), 't', 'in step after the storm');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');
cache_matches($node, $redis, 'customer', 'SELECT id_customer, customer_get(id_customer) FROM customer',
	"Redis equals the database: the source fed by NOTIFY (seed $seed)");
cache_matches($node, $redis, 'watched', 'SELECT id_customer, customer_get(id_customer) FROM customer',
	"Redis equals the database: the source fed by watch()'s triggers (seed $seed)");
cache_matches($node, $redis, 'hashed', 'SELECT id_customer, customer_get(id_customer) FROM customer',
	"Redis equals the database: the source written as hashes (seed $seed)", \&hash_differences);

done_testing();
