-- cachepusher 1.2 -> 1.3: status gains keys_ignored (empty notifications, which name no document),
-- ms_per_document (what a document costs to build lately) and stats_reset (since when the worker
-- counts); CREATE EXTENSION warns when a role named like the extension's schema exists.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.3'" to load this file. \quit

-- The status function gains columns: a new function (the view depends on the old one, and a view
-- dropped and made again would lose the SELECT granted on it), the view replaced with the columns
-- added at its end, the old function dropped.
CREATE FUNCTION cachepusher._source_status(
    OUT source text, OUT state text, OUT keys_received bigint, OUT documents_written bigint,
    OUT keys_deleted bigint, OUT errors bigint, OUT pending bigint, OUT lag_ms bigint,
    OUT last_error text, OUT last_error_at timestamptz, OUT warmup_done bigint, OUT warmup_total bigint,
    OUT last_push_at timestamptz, OUT keys_ignored bigint, OUT ms_per_document double precision,
    OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_worker_status';
REVOKE ALL ON FUNCTION cachepusher._source_status() FROM PUBLIC;

CREATE OR REPLACE VIEW cachepusher.status AS
SELECT s.name AS source,
       coalesce(w.state, 'stopped') AS state,
       coalesce(w.keys_received, 0) AS keys_received,
       coalesce(w.documents_written, 0) AS documents_written,
       coalesce(w.keys_deleted, 0) AS keys_deleted,
       coalesce(w.errors, 0) AS errors,
       coalesce(w.pending, 0) AS pending,
       w.lag_ms,
       w.last_error,
       w.last_error_at,
       w.warmup_done,
       w.warmup_total,
       w.last_push_at,
       coalesce(w.keys_ignored, 0) AS keys_ignored,
       w.ms_per_document,
       w.stats_reset
FROM cachepusher.source s
LEFT JOIN cachepusher._source_status() w ON w.source = s.name
WHERE pg_catalog.pg_has_role(current_user, s.owner, 'USAGE')
ORDER BY s.name;

-- Reading status needs EXECUTE on the function it calls: whoever was granted the old one gets the
-- new one. A GRANT in an extension script also becomes part of the initial privileges, which pg_dump
-- leaves out of a dump, so those are set back to a fresh installation's afterwards (as in 1.1 -> 1.2).
DO $$
DECLARE
    old_function regprocedure := 'cachepusher._worker_status()';
    new_function regprocedure := 'cachepusher._source_status()';
    initial aclitem[];
    granted record;
BEGIN
    SELECT p.proacl INTO initial FROM pg_catalog.pg_proc p WHERE p.oid = new_function;
    FOR granted IN
        SELECT a.grantee, a.is_grantable
        FROM pg_catalog.pg_proc p,
             pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
        WHERE p.oid = old_function AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', new_function,
                                  CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE granted.grantee::regrole::text END,
                                  CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    UPDATE pg_catalog.pg_init_privs SET initprivs = initial
    WHERE objoid = new_function AND classoid = 'pg_catalog.pg_proc'::regclass AND objsubid = 0;
END
$$;
DROP FUNCTION cachepusher._worker_status();

-- A role named cachepusher finds this schema first on the default search_path ("$user", public):
-- its unqualified names resolve here and what it creates without a schema fails. Said at install.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles r
               WHERE r.rolname = 'cachepusher'
                 AND NOT EXISTS (SELECT FROM pg_catalog.pg_db_role_setting d
                                 WHERE d.setrole = r.oid
                                   AND pg_catalog.array_to_string(d.setconfig, ',') LIKE '%search_path=%')) THEN
        RAISE WARNING 'a role named "cachepusher" exists: once it may use this extension, the default search_path ("$user", public) puts schema cachepusher first for it'
            USING DETAIL = 'With USAGE on schema cachepusher, that role''s unqualified names resolve there before public, and what it creates without naming a schema fails with "permission denied for schema cachepusher".',
                  HINT = 'Give that role a search_path of its own: ALTER ROLE cachepusher SET search_path = public;';
    END IF;
END
$$;
