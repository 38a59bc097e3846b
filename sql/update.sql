-- ALTER EXTENSION cachepusher UPDATE from every released version ends with the same installation as
-- a fresh CREATE EXTENSION (objects, function bodies, columns, constraints, privileges and the
-- initial privileges pg_dump starts from), keeps EXECUTE granted on a function whose signature
-- changed, and sources registered before survive it.
SET client_min_messages = warning;
CREATE FUNCTION doc(id int) RETURNS json LANGUAGE sql AS $$ SELECT json_build_object('id', id) $$;
CREATE ROLE regress_cp_admin;

-- What an installation is made of, one row per thing that could differ. (The schema comes and goes
-- with the extension here, so its oid is looked up when this runs.)
CREATE FUNCTION installation() RETURNS TABLE (kind text, object text, definition text)
LANGUAGE sql STABLE AS $$
    WITH ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'cachepusher'),
    member AS (
        SELECT d.classid, d.objid
        FROM pg_catalog.pg_depend d
        WHERE d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'cachepusher') AND d.deptype = 'e')
    SELECT 'member', pg_catalog.pg_describe_object(m.classid, m.objid, 0), NULL FROM member m
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text,
           concat_ws(' | ', pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),
                     p.prokind, p.provolatile, p.proisstrict, p.prosecdef, p.proconfig::text, md5(p.prosrc),
                     p.proacl::text)
    FROM pg_catalog.pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'relation', c.oid::regclass::text, concat_ws(' | ', c.relkind, c.relrowsecurity, c.relacl::text,
                                                        pg_catalog.pg_get_viewdef(c.oid))
    FROM pg_catalog.pg_class c WHERE c.relnamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'column', a.attrelid::regclass || '.' || a.attname,
           concat_ws(' | ', pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                     pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relnamespace = (SELECT oid FROM ns)
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint', co.conrelid::regclass || '.' || co.conname, pg_catalog.pg_get_constraintdef(co.oid)
    FROM pg_catalog.pg_constraint co WHERE co.connamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'policy', po.polrelid::regclass || '.' || po.polname,
           concat_ws(' | ', po.polcmd, po.polroles::text, pg_catalog.pg_get_expr(po.polqual, po.polrelid))
    FROM pg_catalog.pg_policy po JOIN pg_catalog.pg_class c ON c.oid = po.polrelid
    WHERE c.relnamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'initial privileges', pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid), i.initprivs::text
    FROM pg_catalog.pg_init_privs i JOIN member m ON m.classid = i.classoid AND m.objid = i.objoid
    UNION ALL
    SELECT 'dumped with its rows', t::pg_catalog.regclass::text, NULL
    FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) t WHERE e.extname = 'cachepusher'
$$;

-- The API granted the way docs/security.md says.
CREATE PROCEDURE grant_api() LANGUAGE sql AS $$
    GRANT USAGE ON SCHEMA cachepusher TO regress_cp_admin;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cachepusher TO regress_cp_admin;
    GRANT SELECT ON ALL TABLES IN SCHEMA cachepusher TO regress_cp_admin;
$$;

CREATE EXTENSION cachepusher;
CREATE TEMP TABLE fresh AS SELECT * FROM installation();
CALL grant_api();
CREATE TEMP TABLE fresh_granted AS SELECT * FROM installation();
DROP EXTENSION cachepusher;

-- From 1.0, without grants (1.1 changed drop_source's signature and said to grant it again).
CREATE EXTENSION cachepusher VERSION '1.0';
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';
-- What differs from a fresh installation: nothing.
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh)
UNION ALL
(SELECT * FROM fresh EXCEPT SELECT * FROM installation());

-- The source registered under 1.0 is still there, and the new API works on it.
SELECT name, key_prefix, document_function, documents_query FROM cachepusher.source;
SELECT cachepusher.drop_source('doc', delete_keys => true);
SELECT key_prefix FROM cachepusher.forgotten_prefix;
SELECT cachepusher.add_source('doc', NULL, 'SELECT 1', documents_query => 'SELECT k, doc(k) FROM unnest($1::int[]) k');
SELECT name, document_function, documents_query FROM cachepusher.source;
DROP EXTENSION cachepusher;

-- From 1.1 with the API granted: add_source changed its signature in 1.2, and the grant stays.
CREATE EXTENSION cachepusher VERSION '1.1';
CALL grant_api();
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh_granted)
UNION ALL
(SELECT * FROM fresh_granted EXCEPT SELECT * FROM installation());
SELECT p.oid::regprocedure AS function, has_function_privilege('regress_cp_admin', p.oid, 'EXECUTE') AS granted
FROM pg_catalog.pg_proc p WHERE p.proname = 'add_source';
SELECT name, key_prefix FROM cachepusher.source;
SELECT cachepusher.drop_source('doc');

DROP EXTENSION cachepusher;

-- From 1.3 with the API granted: add_source gained ttl and value_type in 1.4, set_ttl and
-- set_value_type are granted to whoever may add sources, and a source registered before takes both.
CREATE EXTENSION cachepusher VERSION '1.3';
CALL grant_api();
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
ALTER EXTENSION cachepusher UPDATE;
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh_granted)
UNION ALL
(SELECT * FROM fresh_granted EXCEPT SELECT * FROM installation());
SELECT p.oid::regprocedure AS function, has_function_privilege('regress_cp_admin', p.oid, 'EXECUTE') AS granted
FROM pg_catalog.pg_proc p WHERE p.proname IN ('add_source', 'set_ttl', 'set_value_type') ORDER BY p.proname;
SELECT cachepusher.set_ttl('doc', '1 day');
SELECT cachepusher.set_value_type('doc', 'hash');
SELECT name, ttl, value_type FROM cachepusher.source;

DROP EXTENSION cachepusher;

-- From 1.4 with the API granted: add_source gained key_template and watch() takes its key columns
-- as VARIADIC name[] in 1.5; both grants stay, and a source registered before has keys of one column.
CREATE EXTENSION cachepusher VERSION '1.4';
CALL grant_api();
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh_granted)
UNION ALL
(SELECT * FROM fresh_granted EXCEPT SELECT * FROM installation());
SELECT p.oid::regprocedure AS function, has_function_privilege('regress_cp_admin', p.oid, 'EXECUTE') AS granted
FROM pg_catalog.pg_proc p WHERE p.proname IN ('add_source', 'watch', 'key') ORDER BY p.proname;
SELECT name, key_columns, key_template FROM cachepusher.source;

DROP EXTENSION cachepusher;

-- From 1.5 with the API granted: the value type json came in 1.6, and a source registered before
-- takes it.
CREATE EXTENSION cachepusher VERSION '1.5';
CALL grant_api();
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1', value_type => 'hash');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh_granted)
UNION ALL
(SELECT * FROM fresh_granted EXCEPT SELECT * FROM installation());
SELECT cachepusher.set_value_type('doc', 'json');
SELECT name, value_type FROM cachepusher.source;

DROP EXTENSION cachepusher;

-- From 1.6: watch() of 1.7 makes its triggers fire whatever session_replication_role is (ENABLE
-- ALWAYS). The triggers watched before keep firing as they did (not in replica mode) until watch()
-- runs again.
CREATE EXTENSION cachepusher VERSION '1.6';
CREATE TABLE watched (id int PRIMARY KEY);
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
SELECT cachepusher.watch('doc', 'watched', 'id');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';
(SELECT * FROM installation() EXCEPT SELECT * FROM fresh)
UNION ALL
(SELECT * FROM fresh EXCEPT SELECT * FROM installation());
SELECT tgname, tgenabled FROM pg_catalog.pg_trigger WHERE tgrelid = 'watched'::regclass ORDER BY tgname;
SELECT cachepusher.watch('doc', 'watched', 'id');
SELECT tgname, tgenabled FROM pg_catalog.pg_trigger WHERE tgrelid = 'watched'::regclass ORDER BY tgname;
DROP TABLE watched;
DROP EXTENSION cachepusher;

-- A role named like the extension's schema has it first on its default search_path: CREATE
-- EXTENSION says so, and not once the role has a search_path of its own.
CREATE ROLE cachepusher;
CREATE EXTENSION cachepusher;
DROP EXTENSION cachepusher;
ALTER ROLE cachepusher SET search_path = public;
CREATE EXTENSION cachepusher;
DROP EXTENSION cachepusher;
DROP ROLE cachepusher;

DROP PROCEDURE grant_api();
DROP FUNCTION installation();
DROP FUNCTION doc(int);
DROP OWNED BY regress_cp_admin;
DROP ROLE regress_cp_admin;
