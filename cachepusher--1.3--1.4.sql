-- cachepusher 1.3 -> 1.4: documents shaped as readers want them. A source may have a TTL
-- (add_source(..., ttl) or set_ttl()), or each document its own (ttl_field, a member giving seconds):
-- every write of a document sets it anew, so a document lives that long after its last change, and
-- verify() does not count an expired one as missing. And a value
-- type (add_source(..., value_type) or set_value_type()): a JSON string, or the fields of a hash.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.4'" to load this file. \quit

ALTER TABLE cachepusher.source
    ADD COLUMN ttl interval,
    ADD COLUMN ttl_field text CONSTRAINT source_ttl_field_check CHECK (ttl_field <> ''),
    ADD COLUMN value_type text NOT NULL DEFAULT 'string'
        CONSTRAINT source_value_type_check CHECK (value_type IN ('string', 'hash')),
    ADD CONSTRAINT source_ttl_check CHECK (EXTRACT(epoch FROM ttl) BETWEEN 0.001 AND 3155760000);

-- add_source gains ttl and value_type. New arguments with defaults: the old signature has to go (a call
-- with three arguments would be ambiguous), but EXECUTE granted on it carries over, to set_ttl and
-- set_value_type too: who may add sources may shape them. (As in 1.1 -> 1.2, which says why the
-- initial privileges are set back afterwards.)
CREATE FUNCTION cachepusher.add_source(
    name text,
    document_function regprocedure,
    key_query text,
    key_prefix text DEFAULT NULL,
    channels text[] DEFAULT NULL,
    documents_query text DEFAULT NULL,
    ttl interval DEFAULT NULL,
    value_type text DEFAULT 'string',
    ttl_field text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_add_source';
COMMENT ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text) IS
'Caches document_function(key), or the rows of documents_query, in Redis as key_prefix:key for every key of key_query, and keeps it in step';
REVOKE ALL ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text) FROM PUBLIC;

CREATE FUNCTION cachepusher.set_ttl(source text, ttl interval, ttl_field text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_set_ttl';
COMMENT ON FUNCTION cachepusher.set_ttl IS
'Sets how long the documents of a source live in Redis after their last write: ttl_field, a member of each document giving seconds, else ttl (both NULL: until changed); the worker rewrites them all';
REVOKE ALL ON FUNCTION cachepusher.set_ttl(text, interval, text) FROM PUBLIC;

CREATE FUNCTION cachepusher.set_value_type(source text, value_type text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_set_value_type';
COMMENT ON FUNCTION cachepusher.set_value_type IS
'Sets how the documents of a source are stored in Redis (string: the JSON text; hash: the fields of a JSON object); the worker rewrites them all';
REVOKE ALL ON FUNCTION cachepusher.set_value_type(text, text) FROM PUBLIC;

DO $$
DECLARE
    old_signature regprocedure := 'cachepusher.add_source(text, regprocedure, text, text, text[], text)';
    new_function regprocedure;
    initial aclitem[];
    granted record;
BEGIN
    FOREACH new_function IN ARRAY ARRAY['cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text)',
                                        'cachepusher.set_ttl(text, interval, text)',
                                        'cachepusher.set_value_type(text, text)']::regprocedure[] LOOP
        SELECT p.proacl INTO initial FROM pg_catalog.pg_proc p WHERE p.oid = new_function;
        FOR granted IN
            SELECT a.grantee, a.is_grantable
            FROM pg_catalog.pg_proc p,
                 pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
            WHERE p.oid = old_signature AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
        LOOP
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', new_function,
                                      CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE granted.grantee::regrole::text END,
                                      CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        UPDATE pg_catalog.pg_init_privs SET initprivs = initial
        WHERE objoid = new_function AND classoid = 'pg_catalog.pg_proc'::regclass AND objsubid = 0;
    END LOOP;
END
$$;
DROP FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text);
