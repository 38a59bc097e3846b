# A hot standby's worker writes nothing (it would fight the primary's worker with older data) and
# shows its sources as "standby"; once the standby is promoted, its worker warms every source.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $primary_redis = start_redis();
my $primary = new_node('primary', $primary_redis, init => { allows_streaming => 1 });
load_seed_schema($primary, customers => 300);
add_seed_source($primary);
is($primary->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the primary is warm');

# The standby's worker is pointed at a Redis of its own, to see that it writes nothing there.
$primary->backup('base');
my $standby_redis = start_redis();
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'cachepusher.redis_port = ' . $standby_redis->port . "\n");
$standby->start;

$primary->safe_psql('postgres', q{UPDATE customer SET name = 'changed on the primary' WHERE id_customer <= 10});
$primary->wait_for_catchup($standby);
ok(poll_until(sub { $standby->safe_psql('postgres', 'SELECT state FROM cachepusher.status') eq 'standby' }),
	'the standby shows its source as standby');
ok($standby->log_contains('cachepusher: the server is a standby; waiting for its promotion'), 'and says so in its log');
is($standby_redis->command('DBSIZE'), 0, 'the standby wrote nothing to Redis');
is($primary->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the primary goes on');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'and is in step');

# Failover: the primary goes away, the standby is promoted and its worker takes over.
$primary->stop('immediate');
$standby->promote;
cache_matches($standby, $standby_redis, 'customer', $docs, 'the promoted server warms its Redis');
ok($standby->log_contains('cachepusher: the server was promoted; starting and warming every source'),
	'the promotion is logged');
$standby->safe_psql('postgres', q{UPDATE customer SET name = 'after the failover' WHERE id_customer = 1});
is($standby->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'and keeps it in step');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

done_testing();
