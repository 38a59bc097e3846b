# The worker as a good citizen of the server: SIGTERM ends it promptly, a cancel does not, SIGHUP
# applies new settings, and a new Redis address is filled and then kept in step.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

my $redis = start_redis();
my $node = new_node('signals', $redis);
load_seed_schema($node, customers => 100);
add_seed_source($node);
cache_matches($node, $redis, 'customer', $docs, 'warm');

# A cancel (pg_cancel_backend) interrupts what the worker does, not the worker.
my $pid = worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$node->safe_psql('postgres', "UPDATE customer SET name = 'after a cancel' WHERE id_customer = 1");
cache_matches($node, $redis, 'customer', $docs, 'a cancelled worker carries on');
is(worker_pid($node), $pid, 'same worker process');

# A cancel while the worker waits for Redis's replies (Redis holds writes back): the batch in flight
# has lost its replies, so its keys are pending again and written once Redis answers.
$redis->command('CLIENT', 'PAUSE', 2000, 'WRITE');
$node->safe_psql('postgres', "UPDATE customer SET name = 'cancelled in flight' WHERE id_customer = 2");
usleep(500_000);
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$node->safe_psql('postgres', "UPDATE customer SET name = 'after the cancel in flight' WHERE id_customer = 3");
cache_matches($node, $redis, 'customer', $docs, 'a worker cancelled while waiting for Redis carries on');
is(worker_pid($node), $pid, 'same worker process after a cancel in flight');
ok(!$node->log_contains(qr/terminated by signal/), 'no crash');

# A second cancel while the worker waits out retry_interval after the first (3 s here).
$node->append_conf('postgresql.conf', "cachepusher.retry_interval = 3000\n");
$node->reload;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
usleep(500_000);
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$node->safe_psql('postgres', "UPDATE customer SET name = 'after two cancels' WHERE id_customer = 4");
cache_matches($node, $redis, 'customer', $docs, 'a worker cancelled again while it waits after a cancel carries on');
is(worker_pid($node), $pid, 'same worker process after two cancels');
$node->append_conf('postgresql.conf', "cachepusher.retry_interval = 100\n");
$node->reload;

# SIGTERM: the worker exits at once (the postmaster starts it again after bgw_restart_time).
my $sent = time;
kill 'TERM', $pid;
ok(poll_until(sub { !kill(0, $pid) }, 10), 'SIGTERM ends the worker');
my $took = time - $sent;
note(sprintf('worker exited %.0f ms after SIGTERM', $took * 1000));
cmp_ok($took, '<', 2, 'within the second it is allowed, with slack for a loaded machine');
ok(poll_until(sub { worker_pid($node) =~ /^\d+$/ }), 'the postmaster restarts it');
cache_matches($node, $redis, 'customer', $docs, 'the restarted worker serves the source');

# SIGHUP: a smaller batch size takes effect at once.
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "cachepusher.batch_size = 7\n");
$node->reload;
$node->safe_psql('postgres', "UPDATE customer SET email = 'batched' || id_customer");
cache_matches($node, $redis, 'customer', $docs, 'a 100-key change with batch_size = 7');

# SIGHUP with a new Redis: the worker connects to it, fills it, and keeps it in step.
my $second = start_redis();
$node->append_conf('postgresql.conf', 'cachepusher.redis_port = ' . $second->port . "\n");
$node->reload;
cache_matches($node, $second, 'customer', $docs, 'the new Redis is filled after a reload');
$node->safe_psql('postgres', "UPDATE customer SET name = 'only in the second' WHERE id_customer = 2");
cache_matches($node, $second, 'customer', $docs, 'and kept in step');
unlike($redis->get('customer:2'), qr/only in the second/, 'the old Redis is left alone');
$node->wait_for_log(qr/cachepusher: Redis target changed to 127\.0\.0\.1:${\ $second->port }/, $log_offset);
pass('the new target is logged');

# A bad value is refused with a clear message, and the old one is kept.
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "cachepusher.batch_size = 0\ncachepusher.redis_port = 'not a port'\n");
$node->reload;
$node->wait_for_log(qr/0 is outside the valid range for parameter "cachepusher.batch_size" \(1 \.\. 100000\)/, $log_offset);
$node->wait_for_log(qr/invalid value for parameter "cachepusher.redis_port": "not a port"/, $log_offset);
pass('bad values are refused with a clear message');
is($node->safe_psql('postgres', 'SHOW cachepusher.batch_size'), '7', 'the old batch size is kept');
$node->safe_psql('postgres', "UPDATE customer SET name = 'after a bad reload' WHERE id_customer = 3");
cache_matches($node, $second, 'customer', $docs, 'the worker goes on with the old settings');

# A retry_interval longer than retry_max_interval (1 s here) is taken, and cut to it: no wait is longer
# than the longest. (The two were checked against each other once; a check sees the other setting as
# it was, so a file that set both was refused at a reload after being taken at start.)
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "cachepusher.retry_interval = 5000\n");
$node->reload;
ok(poll_until(sub { $node->safe_psql('postgres', 'SHOW cachepusher.retry_interval') eq '5s' }),
	'a retry_interval longer than retry_max_interval is taken');
$second->stop(keep => 1);
$node->safe_psql('postgres', "UPDATE customer SET name = 'while the second is down' WHERE id_customer = 4");
$node->wait_for_log(qr/next attempt in \d+ ms/, $log_offset);
my ($first_wait) = substr(slurp_file($node->logfile), $log_offset) =~ /next attempt in (\d+) ms/;
is($first_wait, 1000, 'the first wait is retry_max_interval');
$second->start;
cache_matches($node, $second, 'customer', $docs, 'and the change reaches Redis once it is back');

# A fast shutdown of the server is not held up by the worker.
$sent = time;
$node->stop('fast');
note(sprintf('fast shutdown took %.0f ms', (time - $sent) * 1000));
ok($node->log_contains('database system is shut down'), 'the server shut down');

done_testing();
