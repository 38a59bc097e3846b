-- ALTER EXTENSION cachepusher UPDATE from every released version ends with the same objects as a
-- fresh CREATE EXTENSION, and sources registered before survive it.
SET client_min_messages = warning;
CREATE FUNCTION doc(id int) RETURNS json LANGUAGE sql AS $$ SELECT json_build_object('id', id) $$;

CREATE EXTENSION cachepusher;
CREATE TEMP TABLE fresh AS
SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS object
FROM pg_catalog.pg_depend
WHERE refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'cachepusher') AND deptype = 'e';
CREATE TEMP TABLE fresh_functions AS
SELECT p.oid::regprocedure::text AS signature, pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
       pg_catalog.pg_get_function_result(p.oid) AS result, p.proacl::text AS acl
FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'cachepusher'::regnamespace;
DROP EXTENSION cachepusher;

CREATE EXTENSION cachepusher VERSION '1.0';
SELECT cachepusher.add_source('doc', 'doc(int)', 'SELECT 1');
ALTER EXTENSION cachepusher UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'cachepusher';

-- Objects in one and not the other: none.
(SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS object
 FROM pg_catalog.pg_depend
 WHERE refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'cachepusher') AND deptype = 'e'
 EXCEPT SELECT object FROM fresh)
UNION ALL
(SELECT object FROM fresh
 EXCEPT SELECT pg_catalog.pg_describe_object(classid, objid, 0)
 FROM pg_catalog.pg_depend
 WHERE refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'cachepusher') AND deptype = 'e');

-- Functions that differ in arguments, result or privileges: none.
(SELECT p.oid::regprocedure::text, pg_catalog.pg_get_function_arguments(p.oid),
        pg_catalog.pg_get_function_result(p.oid), p.proacl::text
 FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'cachepusher'::regnamespace
 EXCEPT SELECT * FROM fresh_functions)
UNION ALL
(SELECT * FROM fresh_functions
 EXCEPT SELECT p.oid::regprocedure::text, pg_catalog.pg_get_function_arguments(p.oid),
        pg_catalog.pg_get_function_result(p.oid), p.proacl::text
 FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'cachepusher'::regnamespace);

-- The source registered under 1.0 is still there, and 1.1's API works on it.
SELECT name, key_prefix FROM cachepusher.source;
SELECT cachepusher.drop_source('doc', delete_keys => true);
SELECT key_prefix FROM cachepusher.forgotten_prefix;

DROP EXTENSION cachepusher;
DROP FUNCTION doc(int);
