# A Sentinel without a password in front of data nodes that the worker reaches as an ACL user
# (cachepusher.redis_username): the Sentinel refuses AUTH user password (WRONGPASS, it has no such
# user) yet answers; the worker still finds the master and writes there as that user. When the
# Sentinel goes away, the worker goes on writing to the master it has, says so once, and asks the
# Sentinel again with a back-off, not every second.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use CachePusher::Test;
use CachePusher::RedisSentinel;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = CachePusher::RedisSentinel->new(name => 'cache', replicas => 1);
$_->command('ACL', 'SETUSER', 'pusher', 'on', '>sentinel-test-secret', '~*', '&*', '+@all') for $redis->nodes;
my $node = new_node('sentinel_acl', $redis, conf => <<'CONF');
cachepusher.redis_sentinel_master = 'cache'
cachepusher.redis_username = 'pusher'
cachepusher.redis_password = 'sentinel-test-secret'
CONF
load_seed_schema($node, customers => 100);
add_seed_source($node);

is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warmed');
cache_matches($node, $redis, 'customer', $docs, 'the documents reached the master the Sentinel names');
my $port = $redis->master->port;
ok($node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$port \(master "cache"/), 'connected through the Sentinel');
ok(!$node->log_contains(qr/sentinel-test-secret/), 'the password is in no log line');

# The Sentinel stops: the master it named still takes the changes.
my $master = $redis->master;
$redis->sentinel->stop;
$node->safe_psql('postgres', q{UPDATE customer SET name = 'without the Sentinel' WHERE id_customer <= 10});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'changes written without the Sentinel');
cache_matches($node, $master, 'customer', $docs, 'on the master the Sentinel named');
usleep(5_000_000);
my $said = () = slurp_file($node->logfile) =~ /could not ask the Sentinel whether the master is still/g;
is($said, 1, 'said once that the Sentinel cannot be asked');

done_testing();
