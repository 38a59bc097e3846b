-- The security rules that plain SQL can check (docs/security.md); test/t/007_security.pl checks
-- the worker's side. Roles see and change only their own sources, the Redis password is for
-- superusers only, and every text argument is refused or harmless.
CREATE EXTENSION cachepusher;
SET client_min_messages = warning;

CREATE ROLE regress_cp_alice;
CREATE ROLE regress_cp_bob;
CREATE ROLE regress_cp_nobody;
GRANT USAGE ON SCHEMA cachepusher TO regress_cp_alice, regress_cp_bob;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO regress_cp_alice, regress_cp_bob;
GRANT SELECT ON ALL TABLES IN SCHEMA cachepusher TO regress_cp_alice, regress_cp_bob;
GRANT CREATE ON SCHEMA public TO regress_cp_alice, regress_cp_bob;

-- Only the trigger function is executable by PUBLIC (triggers check it when they are created).
SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'cachepusher'::regnamespace AND has_function_privilege('regress_cp_nobody', p.oid, 'EXECUTE');
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = 'cachepusher'::regnamespace AND has_table_privilege('regress_cp_nobody', c.oid, 'SELECT');

-- A function its caller may not execute is refused, also when it has the right shape.
CREATE TABLE secret (id int PRIMARY KEY, code text);
CREATE FUNCTION secret_get(id int) RETURNS json LANGUAGE sql STABLE
    AS 'SELECT to_json(s.code) FROM secret s WHERE s.id = $1';
REVOKE EXECUTE ON FUNCTION secret_get(int) FROM PUBLIC;
SET ROLE regress_cp_alice;
SELECT cachepusher.add_source('secret', 'secret_get(int)', 'SELECT 1');
SELECT cachepusher.add_source('file', 'pg_read_file(text)', $$SELECT 'postgresql.conf'$$);

-- Alice's source, over her own table.
CREATE TABLE alice_item (id int PRIMARY KEY, name text);
INSERT INTO alice_item VALUES (1, 'one'), (2, 'two');
CREATE FUNCTION alice_get(id int) RETURNS json LANGUAGE sql STABLE
    AS 'SELECT json_build_object(''id'', i.id, ''name'', i.name) FROM alice_item i WHERE i.id = $1';
-- A key query over a table she may not read: refused when the source is added, not at every warmup.
SELECT cachepusher.add_source('secret_keys', 'alice_get(int)', 'SELECT id FROM secret');
SELECT cachepusher.add_source('alice', 'alice_get(int)', 'SELECT id FROM alice_item');
SELECT cachepusher.watch('alice', 'alice_item', 'id');
SELECT name, owner FROM cachepusher.source;

-- A table alice may put triggers on but does not own: her triggers cannot be made to fire in replica
-- mode (that takes the owner), and watch() warns that they do not fire there.
RESET ROLE;
CREATE TABLE shared_item (id int PRIMARY KEY);
GRANT TRIGGER ON shared_item TO regress_cp_alice, regress_cp_bob;
SET ROLE regress_cp_alice;
SELECT cachepusher.watch('alice', 'shared_item', 'id');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'shared_item'::regclass ORDER BY tgname;
-- PostgreSQL lets her create those triggers but not drop them: unwatch() and drop_source() do, as
-- they do on her own tables, and only for her own source (bob may put triggers there too).
DROP TRIGGER cachepusher_alice_insert ON shared_item;
SELECT cachepusher.unwatch('alice', 'shared_item');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'shared_item'::regclass;
SELECT cachepusher.add_source('alice_shared', 'alice_get(int)', 'SELECT 1');
SELECT cachepusher.watch('alice_shared', 'shared_item', 'id');
RESET ROLE;
SET ROLE regress_cp_bob;
SELECT cachepusher.unwatch('alice_shared', 'shared_item');
RESET ROLE;
SET ROLE regress_cp_alice;
SELECT cachepusher.drop_source('alice_shared');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'shared_item'::regclass;
RESET ROLE;
DROP TABLE shared_item;
SET ROLE regress_cp_alice;

-- The key query only reads, and works as a subquery (a comment at its end is fine).
SELECT cachepusher.add_source('bad', 'alice_get(int)', 'DELETE FROM alice_item RETURNING id');
SELECT cachepusher.add_source('bad', 'alice_get(int)', 'WITH gone AS (DELETE FROM alice_item RETURNING id) SELECT id FROM gone');
SELECT cachepusher.add_source('bad', 'alice_get(int)', 'SELECT id FROM alice_item FOR UPDATE');
SELECT cachepusher.add_source('bad', 'alice_get(int)', 'SELECT id INTO alice_copy FROM alice_item');
SELECT cachepusher.add_source('bad', 'alice_get(int)', 'SELECT id FROM alice_item;');
SELECT cachepusher.add_source('commented', 'alice_get(int)', 'SELECT id FROM alice_item -- every item');
SELECT cachepusher.drop_source('commented');

-- SQL in names, prefixes, channels and columns is refused.
SELECT cachepusher.add_source($$x'); DROP TABLE alice_item; --$$, 'alice_get(int)', 'SELECT 1');
SELECT cachepusher.add_source('x', 'alice_get(int)', 'SELECT 1', key_prefix => $$x'); DROP TABLE alice_item; --$$);
SELECT cachepusher.add_source('x', 'alice_get(int)', 'SELECT 1', key_prefix => 'a:b');
SELECT cachepusher.add_source('x', 'alice_get(int)', 'SELECT 1', channels => ARRAY['cachepusher_control']);
SELECT cachepusher.add_source('x', 'alice_get(int)', 'SELECT 1', channels => ARRAY[E'a\nb']);
SELECT cachepusher.watch('alice', 'alice_item', $$id', 'x'); DROP TABLE alice_item; --$$);
SELECT cachepusher.watch('alice', 'alice_item; DROP TABLE alice_item', 'id');
SELECT cachepusher.drop_source($$x'); DROP TABLE alice_item; --$$);
SELECT count(*) AS alice_item_is_there FROM alice_item;
RESET ROLE;

-- Bob sees nothing of alice's source and can change nothing of it.
SET ROLE regress_cp_bob;
SELECT name FROM cachepusher.source;
SELECT source FROM cachepusher.status;
SELECT cachepusher.drop_source('alice');
SELECT cachepusher.watch('alice', 'alice_item', 'id');
SELECT cachepusher.unwatch('alice', 'alice_item');
SELECT cachepusher.resync('alice');
SELECT cachepusher.set_ttl('alice', '1 s');
SELECT cachepusher.set_value_type('alice', 'hash');
SELECT cachepusher.add_source('bob', 'alice_get(int)', 'SELECT 1', key_prefix => 'alice');
UPDATE cachepusher.source SET key_query = 'SELECT 1';
DELETE FROM cachepusher.source;
INSERT INTO cachepusher.source (name, document_function, key_query, key_prefix, owner)
VALUES ('forged', 'public.secret_get(integer)', 'SELECT 1', 'forged', 10::oid::regrole);
RESET ROLE;
SELECT name, owner FROM cachepusher.source;

-- The Redis password is for superusers only (the GUCs exist once the library is loaded).
LOAD 'cachepusher';
SHOW cachepusher.redis_password;
SET ROLE regress_cp_alice;
SHOW cachepusher.redis_password;
SELECT current_setting('cachepusher.redis_password');
SELECT current_setting('cachepusher.redis_password', true);
SELECT count(*) FROM pg_settings WHERE name = 'cachepusher.redis_password';
SELECT count(*) FROM pg_settings WHERE name = 'cachepusher.redis_host';
SET cachepusher.redis_password = 'x';
RESET ROLE;

-- What runs with the catalog owner's rights (a superuser here) takes no function or operator of the
-- caller's search_path for pg_catalog's: alice's array_remove in public is not called by add_source.
SET ROLE regress_cp_alice;
CREATE FUNCTION public.array_remove(text[], text) RETURNS text[] LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'public.array_remove ran as %', current_user; END $$;
SELECT cachepusher.add_source('alice_two', 'alice_get(int)', 'SELECT id FROM alice_item', key_prefix => 'alice_two');
SELECT cachepusher.drop_source('alice_two');
DROP FUNCTION public.array_remove(text[], text);
RESET ROLE;

SELECT cachepusher.drop_source('alice');
DROP EXTENSION cachepusher;
DROP OWNED BY regress_cp_alice, regress_cp_bob, regress_cp_nobody;
DROP ROLE regress_cp_alice, regress_cp_bob, regress_cp_nobody;
DROP TABLE secret;
DROP FUNCTION secret_get(int);
