# The security model, rule by rule (docs/security.md). A background worker runs with
# the power of the server; it must never become a way around PostgreSQL's permissions:
#   - a granted role adds sources over its own tables, and they are served;
#   - a source's SQL runs as its owner: what the owner cannot read never reaches Redis;
#   - one owner's SQL cannot change what another owner's SQL runs with (settings, temp tables,
#     the worker's LISTEN registrations);
#   - roles see and change only their own sources;
#   - the Redis password is for superusers only and in no log line;
#   - every text argument is refused or harmless when it carries SQL or Redis protocol;
#   - a wrong Redis password is reported clearly and retried with back-off, without a log flood.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use CachePusher::Test;

# A password no other line of the log could contain by chance.
my $password = 'pw-' . join('', map { ('a' .. 'z', 0 .. 9)[ int(rand(36)) ] } 1 .. 20);

# Redis as docs/security.md says to run it: the worker has an ACL user of its own that may run only
# the commands the worker needs (the default user stays open for the test's own client).
my $redis = start_redis();
$redis->command('ACL', 'SETUSER', 'cacher', 'on', ">$password", '~*', '-@all',
	map { "+$_" } qw(select set del get exists scan info));
my $node = new_node('security', $redis, conf => <<"CONF");
cachepusher.redis_username = 'cacher'
cachepusher.redis_password = '$password'
CONF

# Runs SQL as a role, over its own connection (not SET ROLE: session_user is that role too).
sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

# SQL that must fail for the role with an error matching $expected.
sub refused
{
	my ($role, $sql, $expected, $name) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	ok($rc != 0 && $err =~ $expected, $name)
	  or diag("rc $rc, stdout: $out\nstderr: $err");
	return;
}

sub status_of
{
	my ($source, $columns) = @_;
	return $node->safe_psql('postgres',
		"SELECT $columns FROM cachepusher.status WHERE source = '$source'");
}

# Roles: alice and bob are granted the API as the README says; mallory too, and tries everything;
# carol is granted nothing. The superuser owns the table "secret".
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE mallory LOGIN; CREATE ROLE carol LOGIN;
	GRANT USAGE ON SCHEMA cachepusher TO alice, bob, mallory;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO alice, bob, mallory;
	GRANT SELECT ON ALL TABLES IN SCHEMA cachepusher TO alice, bob, mallory;
	GRANT CREATE ON SCHEMA public TO alice, bob, mallory;
	CREATE SCHEMA mallory AUTHORIZATION mallory;

	CREATE TABLE secret (id int PRIMARY KEY, code text);
	INSERT INTO secret VALUES (1, 'the crown jewels');
	-- A function anyone may call that reads the secret: its owner (the superuser) allows that.
	CREATE FUNCTION secret_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS 'SELECT to_json(s.code) FROM secret s WHERE s.id = $1';
	REVOKE EXECUTE ON FUNCTION secret_get(int) FROM PUBLIC;
});

# Alice's own tables, with a document function that names them unqualified: the search_path of
# the worker decides which table that is, so nobody else may change it.
as_role('alice', q{
	CREATE TABLE alice_item (id int PRIMARY KEY, name text NOT NULL);
	INSERT INTO alice_item SELECT i, 'item ' || i FROM generate_series(1, 20) i;
	CREATE FUNCTION alice_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', i.id, 'name', i.name) FROM alice_item i WHERE i.id = $1 $$;
});
my $alice_docs = 'SELECT id, alice_get(id) FROM alice_item';

###
### A granted role adds a source over its own tables, and it is served.
###
as_role('alice', q{
	SELECT cachepusher.add_source('alice', 'alice_get(int)', 'SELECT id FROM alice_item');
	SELECT cachepusher.watch('alice', 'alice_item', 'id');
});
is($node->safe_psql('postgres', q{SELECT owner::text FROM cachepusher.source WHERE name = 'alice'}),
	'alice', 'the source is owned by the role that added it');
cache_matches($node, $redis, 'alice', $alice_docs, "alice's source is warmed");
as_role('alice', q{UPDATE alice_item SET name = name || ' (changed)' WHERE id <= 5});
cache_matches($node, $redis, 'alice', $alice_docs, "alice's changes are followed");

as_role('bob', q{
	CREATE TABLE bob_item (id int PRIMARY KEY, name text NOT NULL);
	INSERT INTO bob_item SELECT i, 'bob ' || i FROM generate_series(1, 10) i;
	CREATE FUNCTION bob_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', b.id, 'name', b.name) FROM bob_item b WHERE b.id = $1 $$;
	SELECT cachepusher.add_source('bob', 'bob_get(int)', 'SELECT id FROM bob_item');
	SELECT cachepusher.watch('bob', 'bob_item', 'id');
});
my $bob_docs = 'SELECT id, bob_get(id) FROM bob_item';
cache_matches($node, $redis, 'bob', $bob_docs, "bob's source is warmed");

# Without the grants, nothing of the API is usable.
refused('carol', q{SELECT cachepusher.add_source('carol', 'alice_get(int)', 'SELECT 1')},
	qr/permission denied for schema cachepusher/, 'a role granted nothing cannot add a source');
refused('carol', q{SELECT * FROM cachepusher.status},
	qr/permission denied for schema cachepusher/, 'nor read the status');
is($node->safe_psql('postgres', q{
	SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
	WHERE p.pronamespace = 'cachepusher'::regnamespace AND has_function_privilege('carol', p.oid, 'EXECUTE')}),
	'_notify_trigger,key', 'PUBLIC may execute only the trigger function and key(), which reads nothing');

###
### A source's SQL runs as its owner: what the owner cannot read never reaches Redis.
###
as_role('mallory', q{
	CREATE TABLE mallory.item (id int PRIMARY KEY);
	INSERT INTO mallory.item VALUES (1), (2), (3);
	GRANT USAGE ON SCHEMA mallory TO PUBLIC;
	GRANT SELECT ON mallory.item TO PUBLIC;
	CREATE FUNCTION mallory.plain_get(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('id', $1) $$;
	-- Reads a table mallory has no SELECT on.
	CREATE FUNCTION mallory.peek(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT to_json(s.code) FROM public.secret s WHERE s.id = $1 $$;
	-- Reads the Redis password.
	CREATE FUNCTION mallory.password(id int) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT to_json(current_setting('cachepusher.redis_password')) $$;
	SELECT cachepusher.add_source('mallory_peek', 'mallory.peek(int)', 'SELECT id FROM mallory.item');
	SELECT cachepusher.add_source('mallory_pw', 'mallory.password(int)', 'SELECT id FROM mallory.item');
});
# A key query over a table the caller may not read is refused when the source is added; one whose
# table it could read then (but no longer, in the same transaction here) fails at the warmup.
refused('mallory', q{SELECT cachepusher.add_source('mallory_secret_keys', 'mallory.plain_get(int)', 'SELECT id FROM public.secret')},
	qr/key query: permission denied for table secret/, 'a key query over a table the caller may not read is refused');
$node->safe_psql('postgres', q{
	CREATE TABLE lent (id int PRIMARY KEY);
	INSERT INTO lent VALUES (1), (2), (3);
	GRANT SELECT ON lent TO mallory;
	BEGIN;
	SET ROLE mallory;
	SELECT cachepusher.add_source('mallory_keys', 'mallory.plain_get(int)', 'SELECT id FROM public.lent');
	RESET ROLE;
	REVOKE SELECT ON lent FROM mallory;
	COMMIT;
});
ok(poll_until(sub { status_of('mallory_keys', 'errors') >= 1 }),
	'a key query over a table the owner may no longer read fails, counted in status');
like(status_of('mallory_keys', 'last_error'), qr/permission denied for table lent/,
	'last_error says why');
ok(poll_until(sub { status_of('mallory_peek', 'errors') >= 3 }),
	'a document function reading a table the owner may not read fails for every key');
like(status_of('mallory_peek', 'last_error'), qr/permission denied for table secret/, 'last_error says why');
ok(poll_until(sub { status_of('mallory_pw', 'errors') >= 3 }),
	'a document function reading the Redis password fails for every key');
like(status_of('mallory_pw', 'last_error'), qr/permission denied|must be superuser/, 'last_error says why');
$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
for my $prefix (qw(mallory_keys mallory_peek mallory_pw))
{
	is(scalar(keys %{ $redis->all_under($prefix) }), 0, "no key of $prefix is in Redis");
}

# add_source checks EXECUTE on the document function for its caller.
refused('mallory', q{SELECT cachepusher.add_source('mallory_secret', 'public.secret_get(int)', 'SELECT 1')},
	qr/permission denied for function secret_get/, 'a function the caller may not execute is refused');
refused('mallory', q{SELECT cachepusher.add_source('mallory_file', 'pg_read_file(text)', $$SELECT 'postgresql.conf'$$)},
	qr/permission denied for function pg_read_file/, 'so are server files through pg_read_file');

###
### One owner's SQL cannot change what another owner's SQL runs with.
###
# Mallory plants her own alice_item and tries to make alice's unqualified name find it: through
# the worker's search_path (in a document function, and in a key query, which runs at the commit
# that materializes the warmup cursor) and through a temporary table, which comes first in any
# search_path. And she tries to stop the worker from hearing notifications.
as_role('mallory', q{
	CREATE TABLE mallory.alice_item (id int, name text);
	INSERT INTO mallory.alice_item SELECT i, 'poisoned' FROM generate_series(1, 20) i;
	GRANT SELECT ON mallory.alice_item TO PUBLIC;
	CREATE FUNCTION mallory.path_get(id int) RETURNS json LANGUAGE plpgsql AS $$
	BEGIN
	    PERFORM set_config('search_path', 'mallory, public', false);
	    RETURN json_build_object('id', id);
	END $$;
	CREATE FUNCTION mallory.hijack() RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
	    PERFORM set_config('search_path', 'mallory, public', false);
	    RETURN true;
	END $$;
	CREATE FUNCTION mallory.temp_get(id int) RETURNS json LANGUAGE plpgsql AS $$
	BEGIN
	    CREATE TEMP TABLE IF NOT EXISTS alice_item AS
	        SELECT i AS id, 'temp-poisoned'::text AS name FROM generate_series(1, 20) i;
	    RETURN json_build_object('id', id);
	END $$;
	CREATE FUNCTION mallory.deaf_get(id int) RETURNS json LANGUAGE plpgsql AS $$
	BEGIN
	    EXECUTE 'UNLISTEN *';
	    RETURN json_build_object('id', id);
	END $$;
});

# Each attempt in turn, then a change of alice's: her documents must still come from her table, and
# still arrive.
my @attempts = (
	[ 'mallory_path', 'mallory.path_get(int)', 'SELECT id FROM mallory.item',
		'a document function setting search_path' ],
	[ 'mallory_keyq', 'mallory.plain_get(int)', 'SELECT id FROM mallory.item WHERE mallory.hijack()',
		'a key query setting search_path' ],
	[ 'mallory_temp', 'mallory.temp_get(int)', 'SELECT id FROM mallory.item',
		'a document function creating a temporary table', 'refused' ],
	[ 'mallory_deaf', 'mallory.deaf_get(int)', 'SELECT id FROM mallory.item',
		'a document function running UNLISTEN *', 'refused' ]);
my $round = 0;
for my $attempt (@attempts)
{
	my ($source, $function, $query, $what, $refused) = @$attempt;
	as_role('mallory', "SELECT cachepusher.add_source('$source', '$function', \$q\$$query\$q\$)");
	if ($refused)
	{
		ok(poll_until(sub { status_of($source, 'errors') >= 3 }), "$what fails for every key");
		like(status_of($source, 'last_error'), qr/security-restricted operation/, 'last_error says why');
	}
	else
	{
		ok(poll_until(sub { defined $redis->get("$source:3") }), "$what is served (its own business)");
	}
	$round++;
	as_role('alice', "UPDATE alice_item SET name = 'item ' || id || ' round $round'");
	cache_matches($node, $redis, 'alice', $alice_docs,
		"after $what, alice's documents still come from her table, and her changes arrive");
}
unlike(join(',', values %{ $redis->all_under('alice') }), qr/poisoned/, 'nothing of mallory is in them');

###
### Roles see and change only their own sources.
###
refused('alice', q{SELECT cachepusher.drop_source('bob')}, qr/must be owner of cachepusher source "bob"/,
	"alice cannot drop bob's source");
refused('alice', q{SELECT cachepusher.watch('bob', 'alice_item', 'id')}, qr/source "bob" does not exist/,
	"nor watch tables for it");
refused('alice', q{SELECT cachepusher.watch('alice', 'bob_item', 'id')}, qr/permission denied for table bob_item/,
	"nor put triggers on bob's table");
refused('alice', q{SELECT cachepusher.unwatch('bob', 'bob_item')}, qr/must be owner|does not watch/,
	"nor remove bob's triggers");
refused('alice', q{SELECT cachepusher.resync('bob')}, qr/source "bob" does not exist/, 'nor resync it');
refused('alice', q{SELECT * FROM cachepusher.verify('bob')}, qr/source "bob" does not exist/, 'nor verify it');
refused('alice', q{UPDATE cachepusher.source SET key_query = 'SELECT 1' WHERE name = 'bob'},
	qr/permission denied for table source/, 'nor change it in the catalog table');
refused('alice', q{DELETE FROM cachepusher.source WHERE name = 'bob'},
	qr/permission denied for table source/, 'nor delete it there');
refused('alice', q{INSERT INTO cachepusher.source (name, document_function, key_query, key_prefix, owner)
                   VALUES ('forged', 'public.secret_get(integer)', 'SELECT 1', 'forged', 10::oid::regrole)},
	qr/permission denied for table source/, 'nor forge a source owned by someone else');
is(as_role('alice', q{SELECT string_agg(name, ',' ORDER BY name) FROM cachepusher.source}),
	'alice', 'the catalog table shows alice only her source');
is(as_role('alice', q{SELECT string_agg(source, ',' ORDER BY source) FROM cachepusher.status}),
	'alice', 'so does the status view');
is(as_role('alice', q{SELECT string_agg(source, ',' ORDER BY source) FROM cachepusher._source_status()}),
	'alice', 'and the function behind it, called directly');
is(as_role('alice', q{SELECT count(*) FROM cachepusher.verify()}), '0', 'verify() checks only her source');
like($node->safe_psql('postgres', q{SELECT string_agg(source, ',' ORDER BY source) FROM cachepusher.status}),
	qr/^alice,bob,mallory_/, 'a superuser sees every source');
as_role('bob', q{UPDATE bob_item SET name = name || ' (still served)'});
cache_matches($node, $redis, 'bob', $bob_docs, "bob's source is untouched and served");

###
### The Redis password: for superusers only.
###
is($node->safe_psql('postgres', 'SHOW cachepusher.redis_password'), $password, 'a superuser can read it');
refused('alice', 'SHOW cachepusher.redis_password', qr/must be superuser|pg_read_all_settings/,
	'SHOW refuses it to others');
refused('alice', q{SELECT current_setting('cachepusher.redis_password')}, qr/must be superuser|pg_read_all_settings/,
	'current_setting() too');
refused('alice', q{SELECT current_setting('cachepusher.redis_password', true)},
	qr/must be superuser|pg_read_all_settings/, 'also when told the setting may be missing');
is(as_role('alice', q{SELECT count(*) FROM pg_settings WHERE name = 'cachepusher.redis_password'}),
	'0', 'pg_settings does not show it');
is(as_role('alice', q{SELECT count(*) FROM pg_show_all_settings() WHERE name = 'cachepusher.redis_password'}),
	'0', 'nor does SHOW ALL');
refused('alice', q{SELECT * FROM pg_file_settings}, qr/permission denied/, 'the configuration files are closed');
refused('alice', q{SELECT pg_read_file('postgresql.conf')}, qr/permission denied/, 'also as files');
refused('alice', q{SET cachepusher.redis_password = 'x'}, qr/cannot be changed now/, 'nobody sets it in a session');
unlike(as_role('alice', q{SELECT string_agg(coalesce(last_error, ''), ' ') FROM cachepusher.status}),
	qr/\Q$password\E/, 'status does not show it');

###
### Every text argument: refused, or harmless.
###
my $drop = q{x'); DROP TABLE alice_item; --};
for my $name ($drop, 'a b', 'a:b', 'a*', "a\nb", 'naïve', 'x' x 64, '')
{
	my $shown = $name =~ s/\n/\\n/r;
	refused('alice', "SELECT cachepusher.add_source(\$n\$$name\$n\$, 'alice_get(int)', 'SELECT id FROM alice_item')",
		qr/invalid source name/, "source name \"$shown\" is refused");
	refused('alice', "SELECT cachepusher.add_source('alice2', 'alice_get(int)', 'SELECT id FROM alice_item', key_prefix => \$n\$$name\$n\$)",
		qr/invalid key prefix/, "key prefix \"$shown\" is refused");
}
refused('alice', q{SELECT cachepusher.add_source('alice2', 'alice_get(int)', 'SELECT id FROM alice_item', key_prefix => 'bob')},
	qr/key prefix "bob" is already used/, "a prefix of another role's source is refused");
for my $query ('SELECT id FROM alice_item; DROP TABLE alice_item', 'DROP TABLE alice_item',
	'DELETE FROM alice_item RETURNING id',
	'WITH gone AS (DELETE FROM alice_item RETURNING id) SELECT id FROM gone',
	'SELECT id FROM alice_item FOR UPDATE',
	'SELECT id INTO alice_copy FROM alice_item')
{
	refused('alice', "SELECT cachepusher.add_source('alice2', 'alice_get(int)', \$q\$$query\$q\$)",
		qr/key query must be a single SELECT|FOR UPDATE/, "key query \"$query\" is refused");
}
for my $channels (q{ARRAY['cachepusher']}, q{ARRAY['cachepusher_control']}, q{ARRAY[E'a\nb']},
	q{ARRAY[repeat('c', 64)]}, q{ARRAY[NULL]})
{
	refused('alice', "SELECT cachepusher.add_source('alice2', 'alice_get(int)', 'SELECT id FROM alice_item', channels => $channels)",
		qr/channel/, "channels $channels are refused");
}
for my $column ('id; DROP TABLE alice_item', q{id', 'x'); DROP TABLE alice_item; --})
{
	refused('alice', "SELECT cachepusher.watch('alice', 'alice_item', \$c\$$column\$c\$)",
		qr/column .* does not exist/, "key_column \"$column\" is refused");
}
refused('alice', q{SELECT cachepusher.watch('alice', 'alice_item; DROP TABLE alice_item', 'id')},
	qr/invalid name syntax|does not exist/, 'a table name with SQL after it is refused');
for my $fn ('drop_source', 'resync')
{
	refused('alice', "SELECT cachepusher.$fn(\$n\$$drop\$n\$)", qr/does not exist/, "$fn() of \"$drop\" is refused");
}
is(as_role('alice', 'SELECT count(*) FROM alice_item'), '20', 'alice_item is still there, all of it');

# What passes validation is harmless: a channel name full of SQL is only a channel name; a table
# and a column named like SQL are watched like any other; a key full of Redis protocol is one key.
as_role('alice', q{
	CREATE TABLE "we'ird ""tab"";x" ("k'ey ""col"" --" text PRIMARY KEY, body text);
	INSERT INTO "we'ird ""tab"";x" VALUES ('plain', 'one'), (E'a\r\n*1\r\n$8\r\nFLUSHALL\r\n', 'two');
	CREATE FUNCTION weird_get(k text) RETURNS json LANGUAGE sql STABLE
	    AS $$ SELECT json_build_object('k', t."k'ey ""col"" --", 'body', t.body) FROM "we'ird ""tab"";x" t
	          WHERE t."k'ey ""col"" --" = $1 $$;
	SELECT cachepusher.add_source('weird', 'weird_get(text)', $$SELECT "k'ey ""col"" --" FROM "we'ird ""tab"";x" -- a comment$$,
	                              channels => ARRAY[$c$x"; DROP TABLE alice_item; --$c$]);
	SELECT cachepusher.watch('weird', $t$"we'ird ""tab"";x"$t$, $c$k'ey "col" --$c$);
});
my $weird_docs = q{SELECT "k'ey ""col"" --", weird_get("k'ey ""col"" --") FROM "we'ird ""tab"";x"};
cache_matches($node, $redis, 'weird', $weird_docs, 'a source with SQL-like names and Redis protocol in a key is served');
as_role('alice', q{UPDATE "we'ird ""tab"";x" SET body = body || ' (changed)'});
cache_matches($node, $redis, 'weird', $weird_docs, 'the triggers on the oddly named table and column work');
as_role('alice', q{
	SELECT cachepusher.unwatch('weird', $t$"we'ird ""tab"";x"$t$);
	UPDATE "we'ird ""tab"";x" SET body = 'notified' WHERE "k'ey ""col"" --" = 'plain';
	SELECT pg_notify($c$x"; DROP TABLE alice_item; --$c$, 'plain');
});
cache_matches($node, $redis, 'weird', $weird_docs, 'the channel named like SQL is an ordinary channel');
cache_matches($node, $redis, 'alice', $alice_docs, 'Redis was not flushed, alice_item not dropped');
is(as_role('alice', q{SELECT count(*) FROM cachepusher.verify('weird')}), '0',
	'verify() agrees, with a comment at the end of the key query');

###
### A wrong Redis password: a clear error, retried with back-off, no log flood. The password is in
### no log line, neither the right one nor the wrong one.
###
my $wrong = 'wrong-' . join('', map { ('a' .. 'z')[ int(rand(26)) ] } 1 .. 16);
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "cachepusher.redis_password = '$wrong'\n");
$node->reload;
$node->wait_for_log(qr/cachepusher: Redis at 127\.0\.0\.1:\d+ refused the connection set-up: WRONGPASS/, $log_offset);
pass('the wrong password is logged as WRONGPASS');
ok(poll_until(sub { status_of('alice', 'state') eq 'redis_down' }), 'the sources show redis_down');
like(status_of('alice', 'last_error'), qr/WRONGPASS/, 'and last_error says why');
as_role('alice', q{UPDATE alice_item SET name = name || ' (while refused)' WHERE id = 1});

# Over a few seconds: attempts spaced by the back-off (retry_interval 100 ms doubling up to
# retry_max_interval 1 s), not a tight loop, and a bounded number of log lines.
sub connections { return ($redis->command('INFO', 'stats') =~ /total_connections_received:(\d+)/)[0]; }
my ($auths_before, $lines_before) = (connections(), -s $node->logfile);
my $started = time;
poll_until(sub { time - $started >= 4 }, 10);
my $seconds = time - $started;
my $attempts = connections() - $auths_before;
my $log = slurp_file($node->logfile, $lines_before);
my $lines = () = $log =~ /WRONGPASS/g;
note(sprintf('%.1f s: %d connection attempts, %d log lines', $seconds, $attempts, $lines));
cmp_ok($attempts, '>=', 1, 'the worker keeps trying');
cmp_ok($attempts, '<=', 3 * $seconds, 'at most a few attempts a second (back-off, not a tight loop)');
cmp_ok($lines, '<=', 2 * $seconds, 'at most a few log lines a second');

$node->append_conf('postgresql.conf', "cachepusher.redis_password = '$password'\n");
$node->reload;
cache_matches($node, $redis, 'alice', $alice_docs, 'with the right password again, the change made meanwhile arrives');
ok($node->log_contains(qr/Redis connection settings changed; connecting to 127\.0\.0\.1:\d+ again/, $log_offset),
	'a new password makes new connections');
ok(!$node->log_contains(qr/Redis target changed|warming source "alice"/, $log_offset),
	'but the same Redis holds the same keys: no resync');
ok(poll_until(sub { status_of('alice', 'state') eq 'streaming' }), 'and the source streams again');

ok(!$node->log_contains(qr/cachepusher: Redis refused/), 'the ACL allows every command the worker sends');

# PostgreSQL itself logs the new value of every setting a reload changes: the extension redacts it.
my @log = split /\n/, slurp_file($node->logfile);
is(join("\n", grep { /\Q$password\E/ } @log), '', 'the password is in no log line');
is(join("\n", grep { /\Q$wrong\E/ } @log), '', 'nor is the wrong one');
ok((grep { /parameter "cachepusher.redis_password" changed \(value not shown\)/ } @log) == 2,
	'the reloads that changed it are logged without the value');

done_testing();
