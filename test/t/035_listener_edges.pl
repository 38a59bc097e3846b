# The worker as a listener and a reader of its catalog, at the edges:
#   - a client_encoding set for the database does not garble keys or end the worker;
#   - a worker whose first catalog read keeps failing does not hold PostgreSQL's notification queue,
#     and status says why for every source;
#   - drop_source(delete_keys) that commits between the worker's two catalog reads still deletes;
#   - wait_for_sync() with no source after the Redis target changed;
#   - add_source beyond cachepusher.max_sources is refused.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use CachePusher::Test;

my $redis = start_redis();

# --- client_encoding: notifications come through the client protocol's code, which converts them.
my $node = new_node('listener_edges', $redis);
$node->safe_psql('postgres', q{
	CREATE TABLE word (w text PRIMARY KEY, note text NOT NULL);
	INSERT INTO word VALUES ('café', 'one'), ('euro€', 'two'), ('plain', 'three');
	CREATE FUNCTION word_get(w text) RETURNS json LANGUAGE sql STABLE
	  AS $$ SELECT json_build_object('note', x.note) FROM word x WHERE x.w = $1 $$;
	SELECT cachepusher.add_source('word', 'word_get(text)', 'SELECT w FROM word', channels => ARRAY['word_changed']);
	ALTER DATABASE postgres SET client_encoding = 'LATIN1';
});
$node->stop;
$node->start;    # not restart: its pg_ctl would run the real server without the sanitizers' wrapper
my $words = 'SELECT w, word_get(w) FROM word';
cache_matches($node, $redis, 'word', $words, 'warmed');
my $pid = worker_pid($node);
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	UPDATE word SET note = note || ' (changed)';
	SELECT pg_notify('word_changed', w) FROM word;
});
cache_matches($node, $redis, 'word', $words,
	'keys notified in a UTF8 database whose client_encoding is LATIN1 are written, "euro€" too');
is(worker_pid($node), $pid, 'the worker is the same');
ok(!$node->log_contains(qr/has no equivalent in encoding/, $log_offset), 'and said nothing of encodings');

# --- wait_for_sync() with no source, after the Redis target changed: nothing to write is in step.
$node->safe_psql('postgres', q{SELECT cachepusher.drop_source('word', delete_keys => true)});
my $other_redis = start_redis();
my $other_port = $other_redis->port;
$node->append_conf('postgresql.conf', "cachepusher.redis_port = $other_port\n");
$node->reload;
$node->wait_for_log(qr/Redis target changed/, $log_offset);
is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('5 s')}), 't',
	'wait_for_sync() with no source after the Redis target changed');
$other_redis->stop;
my $port = $redis->port;
$node->append_conf('postgresql.conf', "cachepusher.redis_port = $port\n");
$node->reload;

# --- drop_source(delete_keys) committed while the worker reads the catalog (sources, then the
# dropped prefixes, in two transactions): held here between the two with a lock on the second.
$node->safe_psql('postgres', q{
	CREATE TABLE a_item (id int PRIMARY KEY);
	INSERT INTO a_item SELECT generate_series(1, 50);
	CREATE FUNCTION a_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT json_build_object('id', $1) $$;
	SELECT cachepusher.add_source('a', 'a_get(int)', 'SELECT id FROM a_item');
	SELECT cachepusher.wait_for_sync();
});
is(scalar(keys %{ $redis->all_under('a') }), 50, 'source a warmed');
my ($in, $out, $err) = ('', '', '');
my $locker = IPC::Run::start([ 'psql', '-XAtq', '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1' ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN; LOCK cachepusher.forgotten_prefix; SELECT 'locked';\n";
$locker->pump until $out =~ /locked/;
$node->safe_psql('postgres', q{NOTIFY cachepusher_control, 'reload'});
ok($node->poll_query_until('postgres',
		q{SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE backend_type = 'cachepusher'}),
	'the worker read the sources and waits to read the dropped prefixes');
$in .= "SELECT cachepusher.drop_source('a', delete_keys => true); COMMIT; SELECT 'dropped';\n";
$locker->pump until $out =~ /dropped/;
$in .= "\\q\n";
$locker->finish;
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'in step after the drop');
ok(poll_until(sub { !%{ $redis->all_under('a') } }), "the dropped source's keys are deleted all the same");
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.forgotten_prefix'), '0', 'and its prefix is done');
$node->stop;

# --- A first catalog read that keeps failing (the worker's role may not read the catalog): the worker
# does not LISTEN before it has read it once, so it holds no notification of any database.
my $locked_out = new_node('locked_out', $redis);
$locked_out->safe_psql('postgres', q{
	CREATE ROLE nobody LOGIN;
	CREATE DATABASE other;
	CREATE FUNCTION n_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT json_build_object('id', $1) $$;
	SELECT cachepusher.add_source('unread', 'n_get(int)', 'SELECT 1');
});
$locked_out->append_conf('postgresql.conf', "cachepusher.role = 'nobody'\n");
$locked_out->stop;
$locked_out->start;
$locked_out->wait_for_log(qr/could not read the sources: permission denied/);
pass('the worker cannot read its sources');
ok($locked_out->poll_query_until('postgres', q{SELECT state || ': ' || last_error FROM cachepusher.status WHERE source = 'unread'},
		'error: the worker cannot read the sources: permission denied for schema cachepusher'),
	'status says so for the sources it cannot take up, not "loading"');
$locked_out->safe_psql('other', q{
	DO $$ BEGIN
	    FOR i IN 1..10000 LOOP
	        PERFORM pg_notify('elsewhere', i || repeat('x', 7000));
	    END LOOP;
	END $$;
});
is($locked_out->safe_psql('other', 'SELECT pg_notification_queue_usage()'), '0',
	"other databases' notifications do not pile up behind it");
$locked_out->stop;

# --- max_sources: the worker's shared memory shows that many sources; more are refused.
my $few = new_node('few_sources', $redis, conf => "cachepusher.max_sources = 2\n");
$few->safe_psql('postgres', q{
	CREATE FUNCTION n_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT json_build_object('id', $1) $$;
	SELECT cachepusher.add_source('one', 'n_get(int)', 'SELECT 1');
	SELECT cachepusher.add_source('two', 'n_get(int)', 'SELECT 2');
});
my ($rc, $stdout, $stderr) = $few->psql('postgres', q{SELECT cachepusher.add_source('three', 'n_get(int)', 'SELECT 3')});
like($stderr, qr/cachepusher.max_sources \(2\) sources exist already/, 'a source beyond max_sources is refused');
ok($few->poll_query_until('postgres', q{SELECT string_agg(state, ',' ORDER BY source) FROM cachepusher.status},
		'streaming,streaming'), 'and the others are served and shown');
$few->stop;

done_testing();
