# Notifications sent while no worker listens are gone; the worker catches up by warming every
# source when it starts. Worker terminated, server restarted (fast and immediate), Redis edited
# behind its back while it was away: each time Redis ends equal to the database.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('restart', $redis);
load_seed_schema($node, customers => 300, addresses => 600);
add_seed_source($node);
cache_matches($node, $redis, 'customer', $docs, 'warm before any restart');

# The worker terminated: the postmaster starts it again, and it warms up what it missed.
my $pid = worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(poll_until(sub { worker_pid($node) ne $pid }), 'terminated worker is gone');
$node->safe_psql('postgres', q{
	UPDATE customer SET name = 'changed while no worker ran' WHERE id_customer <= 10;
	DELETE FROM customer WHERE id_customer BETWEEN 11 AND 15;
	INSERT INTO customer (name) VALUES ('born while no worker ran');
});
ok(poll_until(sub { worker_pid($node) =~ /^\d+$/ }), 'the postmaster restarted the worker');
cache_matches($node, $redis, 'customer', $docs, 'changes made while the worker was away reach Redis');

# A clean server restart, with Redis edited while the server was down.
$node->stop('fast');
$redis->command('SET', 'customer:20', 'edited behind our back');
$redis->command('DEL', 'customer:21');
$redis->command('SET', 'customer:777777', 'orphan');
$node->start;
cache_matches($node, $redis, 'customer', $docs, 'after a server restart Redis is repaired');

$node->safe_psql('postgres', q{UPDATE customer SET email = 'after@restart' WHERE id_customer = 30});
cache_matches($node, $redis, 'customer', $docs, 'and kept in step afterwards');

# A crash: changes committed, then the server stopped without a shutdown checkpoint.
$node->safe_psql('postgres', q{
	UPDATE address SET city = 'just before the crash' WHERE fk_customer BETWEEN 40 AND 50;
});
$node->stop('immediate');
$node->start;
$node->safe_psql('postgres', "DELETE FROM customer WHERE id_customer = 60");
cache_matches($node, $redis, 'customer', $docs, 'after an immediate stop Redis equals the database');

ok($node->log_contains('cachepusher: source "customer" warmed'), 'each start warmed the source');

done_testing();
