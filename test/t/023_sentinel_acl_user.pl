# A Sentinel without a password in front of data nodes that the worker reaches as an ACL user
# (cachepusher.redis_username): the Sentinel refuses AUTH user password (WRONGPASS, it has no such
# user) yet answers; the worker still finds the master and writes there as that user.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
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
load_seed_schema($node);
$node->safe_psql('postgres', q{INSERT INTO customer (name) SELECT 'customer ' || i FROM generate_series(1, 100) i;});
add_seed_source($node);

is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warmed');
cache_matches($node, $redis, 'customer', $docs, 'the documents reached the master the Sentinel names');
my $port = $redis->master->port;
ok($node->log_contains(qr/connected to Redis at 127\.0\.0\.1:$port \(master "cache"/), 'connected through the Sentinel');
ok(!$node->log_contains(qr/sentinel-test-secret/), 'the password is in no log line');

done_testing();
