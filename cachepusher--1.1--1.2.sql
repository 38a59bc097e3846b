-- cachepusher 1.1 -> 1.2: set-based sources (add_source(..., documents_query)).
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.2'" to load this file. \quit

ALTER TABLE cachepusher.source
    ALTER COLUMN document_function DROP NOT NULL,
    ADD COLUMN documents_query text,
    ADD CONSTRAINT source_documents_check CHECK ((document_function IS NULL) <> (documents_query IS NULL));

-- add_source gains documents_query. A new argument with a default: the old signature has to go (a
-- call with three arguments would be ambiguous), but EXECUTE granted on it carries over.
CREATE FUNCTION cachepusher.add_source(
    name text,
    document_function regprocedure,
    key_query text,
    key_prefix text DEFAULT NULL,
    channels text[] DEFAULT NULL,
    documents_query text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_add_source';
COMMENT ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text) IS
'Caches document_function(key), or the rows of documents_query, in Redis as key_prefix:key for every key of key_query, and keeps it in step';
REVOKE ALL ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text) FROM PUBLIC;

-- A GRANT in an extension script also becomes part of the extension's initial privileges, which
-- pg_dump leaves out of a dump (CREATE EXTENSION is to make them): the grants carried over would be
-- lost in a dump and restore. So afterwards the initial privileges are set back to those of a fresh
-- installation, and the grants are the administrator's again, as they were on the old signature.
DO $$
DECLARE
    old_signature regprocedure := 'cachepusher.add_source(text, regprocedure, text, text, text[])';
    new_signature regprocedure := 'cachepusher.add_source(text, regprocedure, text, text, text[], text)';
    initial aclitem[];
    granted record;
BEGIN
    SELECT p.proacl INTO initial FROM pg_catalog.pg_proc p WHERE p.oid = new_signature;
    FOR granted IN
        SELECT a.grantee, a.is_grantable
        FROM pg_catalog.pg_proc p,
             pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
        WHERE p.oid = old_signature AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', new_signature,
                                  CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE granted.grantee::regrole::text END,
                                  CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    UPDATE pg_catalog.pg_init_privs SET initprivs = initial
    WHERE objoid = new_signature AND classoid = 'pg_catalog.pg_proc'::regclass AND objsubid = 0;
END
$$;
DROP FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[]);

SELECT pg_catalog.pg_notify('cachepusher_control', 'reload');
