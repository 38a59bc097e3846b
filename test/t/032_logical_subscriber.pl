# A cluster that receives its tables by logical replication keeps their documents in step too. The
# subscription's apply worker runs with session_replication_role = replica, where ordinary triggers
# do not fire, and it fires row triggers only, never statement triggers: watch() makes its triggers
# fire always, and puts row triggers on a table a subscription writes to. A session in replica mode
# (as tools that bypass triggers use) is seen the same way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use CachePusher::Test;

my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';

# The publisher: the seed's tables and some data, no cachepusher.
my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;
load_seed_schema($publisher, customers => 50, addresses => 100);
$publisher->safe_psql('postgres', 'CREATE PUBLICATION seed FOR TABLE customer, address');

# The subscriber: cachepusher's node, the same tables, filled by the subscription.
my $redis = start_redis();
my $node = new_node('subscriber', $redis);
load_seed_schema($node);
my $publisher_connection = $publisher->connstr . ' dbname=postgres';
$node->safe_psql('postgres', "CREATE SUBSCRIPTION seed CONNECTION '$publisher_connection' PUBLICATION seed");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')}),
	'the subscription copied the tables');

watch_seed_source($node);
is($node->safe_psql('postgres', q{
	SELECT string_agg(tgrelid::regclass || ' ' || tgname || ' ' || CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END
	                  || ' ' || tgenabled::text, E'\n' ORDER BY tgrelid::regclass::text, tgname)
	FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc}),
	join("\n",
		'address cachepusher_customer_delete row A',
		'address cachepusher_customer_insert row A',
		'address cachepusher_customer_truncate statement A',
		'address cachepusher_customer_update row A',
		'customer cachepusher_customer_delete row A',
		'customer cachepusher_customer_insert row A',
		'customer cachepusher_customer_truncate statement A',
		'customer cachepusher_customer_update row A'),
	'watch() puts row triggers that fire always on the tables the subscription writes to');
converged($node, $redis, 'customer', $docs, 'after the warmup');

# Changes made on the publisher, applied by the subscription.
seed_changes($publisher);
$publisher->safe_psql('postgres', q{
	UPDATE address SET city = city || ' (moved)', fk_customer = 7 WHERE fk_customer = 3;
	UPDATE customer SET email = 'c' || id_customer || '@example.com' WHERE id_customer BETWEEN 10 AND 30;
	DELETE FROM address WHERE fk_customer = 4;
});
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after the subscription applied the publisher\'s changes');
is($redis->get('customer:1') =~ /"renamed"/ ? 1 : 0, 1, 'a customer renamed on the publisher is renamed in Redis');

# A session in replica mode on the subscriber.
$node->safe_psql('postgres', q{
	SET session_replication_role = replica;
	UPDATE customer SET name = 'written in replica mode' WHERE id_customer = 2;
	DELETE FROM customer WHERE id_customer = 6;
});
converged($node, $redis, 'customer', $docs, 'after a session in replica mode changed rows');

# TRUNCATE on the publisher: the subscription truncates too, and the TRUNCATE trigger fires for it.
$publisher->safe_psql('postgres', 'TRUNCATE address, customer');
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after the publisher truncated the tables');
is(scalar($redis->keys_under('customer')), 0, 'Redis holds no customer document after the TRUNCATE');
$publisher->safe_psql('postgres', q{INSERT INTO customer (name) VALUES ('after the truncate')});
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'customer', $docs, 'after a row came in again');

# A table watched before a subscription writes to it gets statement triggers, which the apply worker
# does not fire. Once the table is added to the subscription (REFRESH PUBLICATION), the worker gives
# it row triggers itself and resyncs the source, so the rows applied before the switch reach Redis too.
my $note_docs = q{SELECT id, json_build_object('body', body) FROM note};
for my $cluster ($publisher, $node) {
	$cluster->safe_psql('postgres', 'CREATE TABLE note (id int PRIMARY KEY, body text)');
}
$node->safe_psql('postgres', qq{
	SELECT cachepusher.add_source('note', NULL, 'SELECT id FROM note',
	                              documents_query => \$\$$note_docs WHERE id = ANY(\$1)\$\$);
	SELECT cachepusher.watch('note', 'note', 'id');
});
my $note_triggers = q{
	SELECT string_agg(tgname || ' ' || CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END || ' ' || tgenabled::text,
	                  ', ' ORDER BY tgname)
	FROM pg_trigger WHERE tgrelid = 'note'::regclass};
is($node->safe_psql('postgres', $note_triggers),
	'cachepusher_note_delete statement A, cachepusher_note_insert statement A, cachepusher_note_truncate statement A, '
	  . 'cachepusher_note_update statement A',
	'a table no subscription writes to gets statement triggers');
$publisher->safe_psql('postgres', q{
	INSERT INTO note SELECT i, 'note ' || i FROM generate_series(1, 20) i;
	ALTER PUBLICATION seed ADD TABLE note;
});
# While a session holds a lock that CREATE TRIGGER waits for, the switch fails (lock_timeout), is
# logged and shown in status, and is tried again at the next catalog load.
my $log_offset = -s $node->logfile;
# The session holds it until it is ended below (its sleep only bounds it).
my $locker = IPC::Run::start(
	[ 'psql', '-X', '-h', $node->host, '-p', $node->port, '-d', 'dbname=postgres application_name=locker',
	  '-c', 'BEGIN', '-c', 'LOCK TABLE note IN SHARE ROW EXCLUSIVE MODE', '-c', 'SELECT pg_sleep(300)' ],
	'>', \my $locker_out, '2>', \my $locker_err);
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 'note'::regclass AND mode = 'ShareRowExclusiveLock' AND granted}),
	'a session holds a lock on the table that CREATE TRIGGER waits for');
$node->safe_psql('postgres', 'ALTER SUBSCRIPTION seed REFRESH PUBLICATION');
$node->wait_for_log(qr/source "note": the rows a logical replication subscription applies to table public.note do not reach Redis: its statement triggers could not be made row triggers: canceling statement due to lock timeout/,
	$log_offset);
like($node->safe_psql('postgres', q{SELECT last_error FROM cachepusher.status WHERE source = 'note'}),
	qr/table public.note do not reach Redis: its statement triggers could not be made row triggers/,
	'status says why the table keeps its statement triggers');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'locker'});
$locker->finish;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')}),
	'the subscription copied the new table');
$publisher->safe_psql('postgres', q{
	UPDATE note SET body = body || ' (edited)' WHERE id <= 10;
	DELETE FROM note WHERE id = 20;
	INSERT INTO note VALUES (21, 'note 21');
});
$publisher->wait_for_catchup('seed');
ok($node->poll_query_until('postgres', $note_triggers,
		'cachepusher_note_delete row A, cachepusher_note_insert row A, cachepusher_note_truncate statement A, '
		  . 'cachepusher_note_update row A'),
	'the worker gave the table the subscription now writes to row triggers');
ok($node->log_contains(qr/table public.note is written by a logical replication subscription, whose apply worker fires no statement trigger: source "note" now watches it with row triggers, and is resynced/),
	'the worker said so');
converged($node, $redis, 'note', $note_docs, 'after the subscription applied rows to a table added to it after watch()');
$publisher->safe_psql('postgres', q{UPDATE note SET body = 'applied through the row triggers' WHERE id = 1});
$publisher->wait_for_catchup('seed');
converged($node, $redis, 'note', $note_docs, 'after the subscription applied one more change');
is($redis->get('note:1'), '{"body" : "applied through the row triggers"}', 'the last change is in Redis');

$node->safe_psql('postgres', 'DROP SUBSCRIPTION seed');
$node->stop;
$publisher->stop;
done_testing();
