# Randomized convergence: concurrent clients make random inserts, updates, deletes and child moves
# on the seed's schema while faults strike at random moments (Redis killed empty, flushed, away for
# a while, hung; the worker terminated; resyncs). At the end Redis equals the database, verify()
# finds nothing, and no application transaction failed.
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
$node->safe_psql('postgres', <<'SQL');
INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 2000) i;
INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 2000, i || ' Main St', 'City' FROM generate_series(1, 4000) i;

-- One random change of an application, chosen by r. Races between clients that a real
-- application would see too (a customer deleted under a new address) are caught here, so that
-- every transaction commits: a failed transaction at the end means something else went wrong.
CREATE FUNCTION chaos(r bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c int := 1 + (r / 16) % 2400;   -- a customer id, sometimes one that does not exist (yet)
    a int := 1 + (r / 16) % 5000;   -- an address id, likewise
BEGIN
    CASE r % 16
        WHEN 0, 1, 2, 3 THEN UPDATE customer SET name = 'name ' || r WHERE id_customer = c;
        WHEN 4 THEN INSERT INTO customer (name) VALUES ('new ' || r);
        WHEN 5 THEN DELETE FROM customer WHERE id_customer = c;
        WHEN 6, 7 THEN INSERT INTO address (fk_customer, street, city) VALUES (c, r || ' New St', 'Town');
        WHEN 8, 9 THEN UPDATE address SET city = 'city ' || r WHERE id_address = a;
        WHEN 10, 11 THEN UPDATE address SET fk_customer = c WHERE id_address = a;   -- a child moves
        WHEN 12 THEN DELETE FROM address WHERE id_address = a;
        WHEN 13 THEN UPDATE customer SET email = 'bulk' || r WHERE id_customer % 97 = r % 97;   -- many at once
        WHEN 14 THEN UPDATE customer SET id_customer = id_customer + 10000 WHERE id_customer = c;   -- a key changes
        ELSE UPDATE address SET street = 'moved ' || r, fk_customer = c WHERE id_address IN (a, a + 1);
    END CASE;
EXCEPTION WHEN foreign_key_violation OR unique_violation THEN
    NULL;
END $$;
SQL
# id_customer + 10000 must not cascade-fail: let address follow the customer's new id.
$node->safe_psql('postgres', q{
	ALTER TABLE address DROP CONSTRAINT address_fk_customer_fkey,
	    ADD FOREIGN KEY (fk_customer) REFERENCES customer ON DELETE CASCADE ON UPDATE CASCADE;
});
add_seed_source($node);
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm before the storm');

my $script = PostgreSQL::Test::Utils::tempdir() . '/chaos.sql';
append_to_file($script, "\\set r random(0, 1000000000)\nSELECT chaos(:r);\n");
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', $seconds, '-f', $script, "--random-seed=$seed",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$bench_out, '2>', \$bench_err);

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

$bench->finish;
note($bench_out);
is($?, 0, 'pgbench finished without an error');
my ($done) = $bench_out =~ /number of transactions actually processed: (\d+)/;
ok(($done // 0) > 100, 'the clients committed ' . ($done // 0) . ' transactions');
unlike($bench_out . $bench_err, qr/number of failed transactions: [1-9]|aborted/, 'no application transaction failed');

is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('120 s')}), 't', 'in step after the storm');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');
cache_matches($node, $redis, 'customer', 'SELECT id_customer, customer_get(id_customer) FROM customer',
	"Redis equals the database (seed $seed)");

done_testing();
