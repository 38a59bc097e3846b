# A key is a value, not a spelling. Keys of types whose text depends on the session (timestamptz in
# another TimeZone, a date in DateStyle 'SQL, DMY', a float with extra_float_digits 0) and of types
# whose cast to text is not their output (boolean, inet, character(n)) reach Redis under the key the
# key query prints, whatever session changed the row; verify() agrees whatever its caller SET.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $redis = start_redis();
my $node = new_node('key_spelling', $redis);
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE event (at timestamptz PRIMARY KEY, what text NOT NULL);
INSERT INTO event SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 day', 'event ' || i
  FROM generate_series(0, 9) i;
CREATE FUNCTION event_get(at timestamptz) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('at', e.at, 'what', e.what) FROM event e WHERE e.at = $1 $$;

CREATE TABLE day (d date PRIMARY KEY, note text NOT NULL);
INSERT INTO day SELECT date '2024-01-01' + i, 'day ' || i FROM generate_series(0, 40) i;
CREATE FUNCTION day_get(d date) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('d', x.d, 'note', x.note) FROM day x WHERE x.d = $1 $$;

CREATE TABLE measure (v float8 PRIMARY KEY, label text NOT NULL);
INSERT INTO measure VALUES (0.1::float8 + 0.2::float8, 'not quite 0.3'), (0.3, 'exactly 0.3'), (1e-7, 'small');
CREATE FUNCTION measure_get(v float8) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('label', m.label) FROM measure m WHERE m.v = $1 $$;

-- Types whose cast to text is not their output: 't' casts to 'true', an inet address gains /32,
-- character(3) loses its trailing blanks.
CREATE TABLE flag (on_off boolean, n int, note text NOT NULL, PRIMARY KEY (on_off, n));
INSERT INTO flag SELECT b, n, 'flag ' || b || n FROM unnest(ARRAY[true, false]) b, generate_series(1, 3) n;
CREATE FUNCTION flag_get(b boolean, n int) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('note', f.note) FROM flag f WHERE (f.on_off, f.n) = ($1, $2) $$;
CREATE TABLE host (addr inet PRIMARY KEY, name text NOT NULL);
INSERT INTO host VALUES ('10.0.0.1', 'one'), ('10.0.0.2', 'two'), ('192.168.0.0/24', 'a network');
CREATE FUNCTION host_get(addr inet) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('name', h.name) FROM host h WHERE h.addr = $1 $$;
CREATE TABLE code (c character(3) PRIMARY KEY, meaning text NOT NULL);
INSERT INTO code VALUES ('ab', 'padded'), ('abc', 'full');
CREATE FUNCTION code_get(c character) RETURNS json LANGUAGE sql STABLE
  AS $$ SELECT json_build_object('meaning', x.meaning) FROM code x WHERE x.c = $1 $$;

SELECT cachepusher.add_source('event', 'event_get(timestamptz)', 'SELECT at FROM event');
SELECT cachepusher.watch('event', 'event', 'at');
SELECT cachepusher.add_source('day', 'day_get(date)', 'SELECT d FROM day');
SELECT cachepusher.watch('day', 'day', 'd');
SELECT cachepusher.add_source('measure', 'measure_get(float8)', 'SELECT v FROM measure');
SELECT cachepusher.watch('measure', 'measure', 'v');
SELECT cachepusher.add_source('flag', 'flag_get(boolean, int)', 'SELECT on_off, n FROM flag');
SELECT cachepusher.watch('flag', 'flag', 'on_off', 'n');
SELECT cachepusher.add_source('host', 'host_get(inet)', 'SELECT addr FROM host');
SELECT cachepusher.watch('host', 'host', 'addr');
SELECT cachepusher.add_source('code', 'code_get(character)', 'SELECT c FROM code');
SELECT cachepusher.watch('code', 'code', 'c');
-- The same boolean and inet keys from a documents query (it prints keys in C, verify() in SQL).
SELECT cachepusher.add_source('flag_set', NULL, 'SELECT on_off, n FROM flag', documents_query =>
  $$ SELECT f.on_off, f.n, json_build_object('note', f.note) FROM flag f
      WHERE (f.on_off, f.n) IN (SELECT * FROM unnest($1::boolean[], $2::int[])) $$);
SELECT cachepusher.add_source('host_set', NULL, 'SELECT addr FROM host', documents_query =>
  $$ SELECT h.addr, json_build_object('name', h.name) FROM host h WHERE h.addr = ANY ($1::inet[]) $$);
SELECT cachepusher.watch('flag_set', 'flag', 'on_off', 'n');
SELECT cachepusher.watch('host_set', 'host', 'addr');
SELECT cachepusher.wait_for_sync();
SQL

# (key as the key query prints it, document) for each source: format('%s') is the output function.
my %documents = (
	event => 'SELECT format($$%s$$, at), event_get(at) FROM event',
	day => 'SELECT format($$%s$$, d), day_get(d) FROM day',
	measure => 'SELECT format($$%s$$, v), measure_get(v) FROM measure',
	flag => q{SELECT format('%s', on_off) || ':' || n, flag_get(on_off, n) FROM flag},
	host => 'SELECT format($$%s$$, addr), host_get(addr) FROM host',
	code => 'SELECT format($$%s$$, c), code_get(c) FROM code',
	flag_set => q{SELECT format('%s', on_off) || ':' || n, json_build_object('note', note) FROM flag},
	host_set => q{SELECT format('%s', addr), json_build_object('name', name) FROM host},
);
sub all_match
{
	my ($what) = @_;
	cache_matches($node, $redis, $_, $documents{$_}, "$_: $what") for sort keys %documents;
}
all_match('warmed');
is($redis->get('flag:t:1'), $node->safe_psql('postgres', 'SELECT flag_get(true, 1)'),
	'a boolean key is spelt as boolean prints it ("t")');
ok(defined $redis->get('host:10.0.0.1') && defined $redis->get('host:192.168.0.0/24'),
	'an inet key as inet prints it (no /32 for a host)');
is($redis->get('code:ab '), $node->safe_psql('postgres', q{SELECT code_get('ab')}), 'a character(3) key with its blanks');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0',
	'verify() finds nothing: not an orphan among the boolean and inet keys of the documents queries');

# Changes from sessions whose settings spell the keys otherwise: each reaches the key the key query
# prints (inserted, updated and deleted rows alike), and nothing is written under another spelling.
$node->safe_psql('postgres', <<'SQL');
SET TimeZone = 'Europe/Berlin';
INSERT INTO event VALUES ('2024-02-01 01:00:00+01', 'inserted in Berlin');
UPDATE event SET what = 'updated in Berlin' WHERE at = '2024-01-03 00:00:00+00';
DELETE FROM event WHERE at = '2024-01-05 00:00:00+00';
SQL
$node->safe_psql('postgres', <<'SQL');
SET DateStyle = 'SQL, DMY';
UPDATE day SET note = 'changed in DMY' WHERE d = '2024-02-01'::date;
DELETE FROM day WHERE d = '2024-01-03'::date;
SQL
$node->safe_psql('postgres', <<'SQL');
SET DateStyle = 'German';
UPDATE day SET note = 'changed in German style' WHERE d = '2024-01-10'::date;
SQL
$node->safe_psql('postgres', <<'SQL');
SET extra_float_digits = 0;
UPDATE measure SET label = 'changed with 15 digits' WHERE v = 0.1::float8 + 0.2::float8;
UPDATE measure SET label = 'small, changed' WHERE v = 1e-7;
SQL
$node->safe_psql('postgres', <<'SQL');
SET IntervalStyle = 'sql_standard';
UPDATE flag SET note = 'changed' WHERE on_off AND n = 2;
UPDATE host SET name = 'changed' WHERE addr = '10.0.0.2';
UPDATE code SET meaning = 'padded, changed' WHERE c = 'ab';
SQL
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'every change handed over');
all_match('changes from sessions with other settings are followed');
is(scalar(grep { /\+01$/ } keys %{ $redis->all_under('event') }), 0,
	'no event key is spelt in the writing session\'s TimeZone');

# A NOTIFY of one's own that spells a key otherwise: the same document (and nothing under the spelling).
$node->safe_psql('postgres', q{
	SELECT cachepusher.add_source('event_notified', 'event_get(timestamptz)', 'SELECT at FROM event',
	                              key_prefix => 'notified', channels => ARRAY['event_changed']);
	SELECT cachepusher.wait_for_sync();
	UPDATE event SET what = 'changed, notified by hand' WHERE at = '2024-01-02 00:00:00+00';
	SELECT pg_notify('event_changed', '2024-01-02 01:00:00+01');
	SELECT pg_notify('event_changed', 'Tue Jan 02 00:00:00 2024 UTC');
});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'the notifications are handled');
cache_matches($node, $redis, 'notified', 'SELECT format($$%s$$, at), event_get(at) FROM event',
	'a timestamp notified in other spellings writes the one document');
is($node->safe_psql('postgres', q{SELECT state FROM cachepusher.status WHERE source = 'event_notified'}), 'streaming',
	'no error');

# A key query whose type prints otherwise than the function's argument type (timestamptz keys for a
# timestamp argument): the documents are written under the keys as the argument's type prints them,
# and neither the warmup's sweep nor a resync deletes them again.
$node->safe_psql('postgres', q{
	CREATE FUNCTION event_local(at timestamp) RETURNS json LANGUAGE sql STABLE
	  AS $$ SELECT json_build_object('what', e.what) FROM event e WHERE e.at = $1::timestamptz $$;
	SELECT cachepusher.add_source('event_local', 'event_local(timestamp)', 'SELECT at FROM event');
	SELECT cachepusher.wait_for_sync();
});
my $local_documents = 'SELECT format($$%s$$, at::timestamp), event_local(at::timestamp) FROM event';
cache_matches($node, $redis, 'event_local', $local_documents, 'keys of another type: warmed under the argument type\'s spelling');
$node->safe_psql('postgres', q{SELECT cachepusher.resync('event_local')});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'resynced');
cache_matches($node, $redis, 'event_local', $local_documents, 'and the warmup\'s sweep keeps them');

# Keys of a text key query for an integer function, spelt with leading zeros: written as the integers
# print, and verify() finds them no orphans.
$node->safe_psql('postgres', q{
	CREATE TABLE num (id int PRIMARY KEY);
	INSERT INTO num SELECT generate_series(1, 5);
	CREATE FUNCTION num_get(id int) RETURNS json LANGUAGE sql STABLE AS $$ SELECT json_build_object('id', $1) $$;
	SELECT cachepusher.add_source('num_text', 'num_get(int)', 'SELECT lpad(id::text, 3, $$0$$) FROM num');
	SELECT cachepusher.wait_for_sync();
});
cache_matches($node, $redis, 'num_text', 'SELECT id, num_get(id) FROM num', 'keys "001" .. "005" are written as 1 .. 5');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cachepusher.verify('num_text')}), '0', 'and verify() finds nothing');

# verify() spells keys and documents as the worker does, whatever the caller SET: a TimeZone, a
# DateStyle, extra_float_digits, and a search_path under which the functions' unqualified table
# names would be other tables.
$node->safe_psql('postgres', q{
	CREATE SCHEMA shadow;
	CREATE TABLE shadow.event (at timestamptz, what text);
	INSERT INTO shadow.event SELECT at, 'shadow' FROM public.event;
});
is($node->safe_psql('postgres', <<'SQL'), '0', 'verify() under other settings finds nothing');
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SET extra_float_digits = 0;
SET search_path = shadow, public;
SELECT count(*) FROM cachepusher.verify();
SQL
is($node->safe_psql('postgres', <<'SQL'), "0\nAsia/Tokyo|shadow, public", 'and leaves the caller\'s settings as they were');
SET TimeZone = 'Asia/Tokyo';
SET search_path = shadow, public;
SELECT count(*) FROM cachepusher.verify();
SELECT current_setting('TimeZone') || '|' || current_setting('search_path');
SQL


# The worker prints floats exactly whatever extra_float_digits the database sets: with 0, 0.1 + 0.2
# would print as 0.3, another row's key.
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET extra_float_digits = 0');
my $old_pid = worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok(poll_until(sub { my $p = worker_pid($node); $p ne '' && $p ne $old_pid }), 'the worker restarted');
# Its session has the setting now; the test's own sessions must not (they print the expected keys).
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET extra_float_digits');
$node->safe_psql('postgres', q{UPDATE measure SET label = 'changed again' WHERE v = 0.1::float8 + 0.2::float8});
is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'handed over');
cache_matches($node, $redis, 'measure', $documents{measure}, 'with extra_float_digits 0 for the database, each float key keeps its document');

$node->stop;
done_testing();
