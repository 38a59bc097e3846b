-- cachepusher 1.8: keeps Redis documents in step with the tables they are built from.
\echo Use "CREATE EXTENSION cachepusher" to load this file. \quit

-- One row per source. Written only through add_source / drop_source, which check their caller;
-- the worker reads it and runs each source's SQL as its owner.
CREATE TABLE cachepusher.source (
    name              text PRIMARY KEY
                      CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
    document_function text,            -- qualified signature, resolved by the worker (pg_upgrade-safe)
    key_query         text NOT NULL,
    key_prefix        text NOT NULL UNIQUE
                      CHECK (key_prefix ~ '^[A-Za-z0-9_.-]{1,63}$'),
    channels          text[] NOT NULL DEFAULT '{}',
    owner             regrole NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    documents_query   text,            -- set-based: (key, document) rows for the array of keys $1
    ttl               interval,        -- how long a document lives in Redis after its last write
    ttl_field         text             -- or the member of the document that says so, in seconds
                      CONSTRAINT source_ttl_field_check CHECK (ttl_field <> ''),
    value_type        text NOT NULL DEFAULT 'string'   -- how a document is stored: string, hash or json
                      CONSTRAINT source_value_type_check CHECK (value_type IN ('string', 'hash', 'json')),
    key_columns       smallint NOT NULL DEFAULT 1       -- how many columns a key has
                      CONSTRAINT source_key_columns_check CHECK (key_columns BETWEEN 1 AND 32),
    key_template      text,             -- the Redis key after "prefix:", as '{$1}:$2'; NULL: $1:$2
    -- A source builds its documents with a function of one key or with one query for many.
    CONSTRAINT source_documents_check CHECK ((document_function IS NULL) <> (documents_query IS NULL)),
    CONSTRAINT source_ttl_check CHECK (EXTRACT(epoch FROM ttl) BETWEEN 0.001 AND 3155760000)
);
COMMENT ON TABLE cachepusher.source IS 'Sources cached in Redis by cachepusher; change them with add_source/drop_source';
SELECT pg_catalog.pg_extension_config_dump('cachepusher.source', '');

-- A role sees only the sources it owns (superusers see all).
ALTER TABLE cachepusher.source ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_owner ON cachepusher.source
    USING (pg_catalog.pg_has_role(current_user, owner, 'USAGE'));

CREATE FUNCTION cachepusher.add_source(
    name text,
    document_function regprocedure,
    key_query text,
    key_prefix text DEFAULT NULL,
    channels text[] DEFAULT NULL,
    documents_query text DEFAULT NULL,
    ttl interval DEFAULT NULL,
    value_type text DEFAULT 'string',
    ttl_field text DEFAULT NULL,
    key_template text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_add_source';
COMMENT ON FUNCTION cachepusher.add_source IS
'Caches document_function(key), or the rows of documents_query, in Redis as key_prefix:key for every key of key_query, and keeps it in step';

CREATE FUNCTION cachepusher.set_ttl(source text, ttl interval, ttl_field text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_set_ttl';
COMMENT ON FUNCTION cachepusher.set_ttl IS
'Sets how long the documents of a source live in Redis after their last write: ttl_field, a member of each document giving seconds, else ttl (both NULL: until changed); the worker rewrites them all';

CREATE FUNCTION cachepusher.set_value_type(source text, value_type text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_set_value_type';
COMMENT ON FUNCTION cachepusher.set_value_type IS
'Sets how the documents of a source are stored in Redis (string: the JSON text; hash: the fields of a JSON object; json: the server''s JSON type, with a JSON module); the worker rewrites them all';

-- Prefixes of dropped sources whose keys the worker is to delete from Redis (drop_source with
-- delete_keys). A row stays until the worker has swept the prefix, so a worker that is down at the
-- time does it when it starts; add_source with the same prefix cancels it.
CREATE TABLE cachepusher.forgotten_prefix (
    key_prefix  text PRIMARY KEY,
    dropped_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cachepusher.forgotten_prefix IS 'Prefixes of dropped sources whose Redis keys the worker deletes';
-- Dumped with the sources: a restore before the worker swept a prefix still sweeps it.
SELECT pg_catalog.pg_extension_config_dump('cachepusher.forgotten_prefix', '');

CREATE FUNCTION cachepusher.drop_source(name text, delete_keys boolean DEFAULT false)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_drop_source';
COMMENT ON FUNCTION cachepusher.drop_source IS
'Stops caching a source and removes the triggers watch() installed for it; its keys stay in Redis unless delete_keys';

-- The trigger behind watch(): sends the key columns of changed rows (old and new) to the worker.
CREATE FUNCTION cachepusher._notify_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'cachepusher_notify_trigger';

-- The key of several columns as watch()'s triggers send it, for a NOTIFY trigger of one's own.
CREATE FUNCTION cachepusher.key(VARIADIC components text[])
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'cachepusher_key';
COMMENT ON FUNCTION cachepusher.key IS
'The key of a source whose keys have several columns: each component escaped, joined by ":" (NULL when one is NULL)';

CREATE FUNCTION cachepusher._trigger_name(source text)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE WHEN pg_catalog.length(source) <= 40 THEN 'cachepusher_' || source
            ELSE 'cachepusher_' || pg_catalog.left(pg_catalog.md5(source), 16) END;

CREATE FUNCTION cachepusher._require_source(source text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL OR NOT EXISTS (SELECT 1 FROM cachepusher.source s WHERE s.name = source) THEN
        RAISE EXCEPTION 'cachepusher source "%" does not exist', source
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- One trigger per event. On an ordinary table they fire once per statement and read its transition
-- tables, so a statement changing many rows sends many keys per notification. A statement through a
-- parent table fires the statement triggers of the parent only, and foreign tables have no transition
-- tables: partitions, inheritance children and foreign tables get triggers for each row instead. So
-- does a partitioned table: its row triggers are cloned into every partition (attached later too), so
-- a statement that names a partition is seen as well. So does a table a logical replication
-- subscription of this database writes to: its apply worker fires row triggers only.
-- A trigger's source is its first argument (tgargs: the arguments, each ended by a zero byte), so
-- triggers are found by source whatever a version of watch() named them.
CREATE FUNCTION cachepusher.watch(source text, tbl regclass, VARIADIC key_columns name[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base name := cachepusher._trigger_name(source);
    names name[] := ARRAY[base || '_insert', base || '_update', base || '_delete', base || '_truncate'];
    per_row boolean;
    inherited boolean;
    part regclass;
    taken name;
    old_trigger name;
    trigger_name name;
    key_column name;
    wanted smallint;
    arguments text := format('%L', source);
BEGIN
    PERFORM cachepusher._require_source(source);
    -- The trigger sends the key columns in order: as many as the source's keys have.
    SELECT s.key_columns INTO wanted FROM cachepusher.source s WHERE s.name = source;
    IF coalesce(cardinality(key_columns), 0) <> wanted THEN
        RAISE EXCEPTION 'cachepusher source "%" has keys of %, not %', source,
                        wanted || CASE WHEN wanted = 1 THEN ' column' ELSE ' columns' END, coalesce(cardinality(key_columns), 0)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the column of tbl for each column of the key query, in the same order.';
    END IF;
    FOREACH key_column IN ARRAY key_columns LOOP
        IF key_column IS NULL OR NOT EXISTS (
                SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = tbl AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', key_column, tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        arguments := arguments || format(', %L', key_column);
    END LOOP;
    -- CREATE OR REPLACE TRIGGER would silently take over a trigger that is not this source's.
    SELECT t.tgname INTO taken FROM pg_trigger t
    WHERE t.tgrelid = tbl AND t.tgname = ANY (names)
      AND (t.tgfoid <> 'cachepusher._notify_trigger'::regproc OR split_part(encode(t.tgargs, 'escape'), E'\\000', 1) <> source);
    IF FOUND THEN
        RAISE EXCEPTION 'trigger "%" on % is not one of cachepusher source "%"', taken, tbl, source
            USING ERRCODE = 'duplicate_object';
    END IF;
    -- A partition of a partitioned table this source watches has its row triggers already (clones).
    SELECT EXISTS (SELECT 1 FROM pg_trigger t
                   WHERE t.tgrelid = tbl AND t.tgparentid <> 0 AND t.tgfoid = 'cachepusher._notify_trigger'::regproc
                     AND split_part(encode(t.tgargs, 'escape'), E'\\000', 1) = source)
      INTO inherited;
    -- Triggers this source has on tbl under other names go (the row trigger of 1.1's watch()).
    FOR old_trigger IN
        SELECT t.tgname FROM pg_trigger t
        WHERE t.tgrelid = tbl AND t.tgfoid = 'cachepusher._notify_trigger'::regproc
          AND split_part(encode(t.tgargs, 'escape'), E'\\000', 1) = source AND t.tgname <> ALL (names)
          AND t.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', old_trigger, tbl);
    END LOOP;
    SELECT c.relkind IN ('f', 'p') OR c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
           OR EXISTS (SELECT 1 FROM pg_subscription_rel sr WHERE sr.srrelid = c.oid)
      INTO per_row FROM pg_class c WHERE c.oid = tbl;
    -- A partition watched on its own before: its row triggers give way to the clones about to come.
    FOR old_trigger, part IN
        SELECT t.tgname, t.tgrelid::regclass
        FROM pg_partition_tree(tbl) pt JOIN pg_trigger t ON t.tgrelid = pt.relid
        WHERE pt.relid <> tbl AND t.tgparentid = 0 AND t.tgname = ANY (names[1:3])
          AND t.tgfoid = 'cachepusher._notify_trigger'::regproc
          AND split_part(encode(t.tgargs, 'escape'), E'\\000', 1) = source
          AND (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) = 'p'
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', old_trigger, part);
    END LOOP;
    IF inherited THEN
        NULL; -- only TRUNCATE naming the partition is left to catch (statement triggers are not cloned)
    ELSIF per_row THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[1], tbl, arguments);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[2], tbl, arguments);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[3], tbl, arguments);
    ELSE
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[1], tbl, arguments);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[2], tbl, arguments);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%s)',
                       names[3], tbl, arguments);
    END IF;
    -- TRUNCATE fires no row triggers: it asks for a resync of the source instead. A foreign table
    -- can have no TRUNCATE trigger (a TRUNCATE of one is not seen).
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) <> 'f' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L)',
                       names[4], tbl, source);
    END IF;
    -- ENABLE ALWAYS: rows a logical replication subscription applies, and those a session in replica
    -- mode writes, change the documents as any other rows do (ordinary triggers fire only where
    -- session_replication_role is origin or local). That takes the table's owner.
    IF pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        FOR trigger_name IN
            SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = ANY (names) AND t.tgenabled <> 'A'
            ORDER BY t.tgname
        LOOP
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, trigger_name);
        END LOOP;
    ELSE
        RAISE WARNING 'the triggers on % do not fire where session_replication_role is replica', tbl
            USING DETAIL = 'Rows that a logical replication subscription applies to it, or a session in replica mode writes, do not reach Redis.',
                  HINT = format('The owner of %s can run ALTER TABLE %s ENABLE ALWAYS TRIGGER for each of its triggers %s.',
                                tbl, tbl, array_to_string(names, ', '));
    END IF;
END
$$;
COMMENT ON FUNCTION cachepusher.watch IS
'Installs triggers on tbl that refresh the documents whose key is in key_columns of the changed rows';

-- In C: the triggers on a table the caller may put triggers on but does not own are dropped with
-- the catalog owner's rights (PostgreSQL lets such a role create a trigger, not drop one).
CREATE FUNCTION cachepusher.unwatch(source text, tbl regclass)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_unwatch';
COMMENT ON FUNCTION cachepusher.unwatch IS 'Removes the triggers watch() installed on tbl for source';

CREATE FUNCTION cachepusher.resync(source text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL THEN
        PERFORM pg_notify('cachepusher_control', 'resync');
    ELSE
        PERFORM cachepusher._require_source(source);
        PERFORM pg_notify('cachepusher_control', 'resync' || E'\n' || source);
    END IF;
END
$$;
COMMENT ON FUNCTION cachepusher.resync IS
'Asks the worker to write every document of the source (all sources when NULL) again, at commit';

CREATE FUNCTION cachepusher._source_status(
    OUT source text, OUT state text, OUT keys_received bigint, OUT documents_written bigint,
    OUT keys_deleted bigint, OUT errors bigint, OUT pending bigint, OUT lag_ms bigint,
    OUT last_error text, OUT last_error_at timestamptz, OUT warmup_done bigint, OUT warmup_total bigint,
    OUT last_push_at timestamptz, OUT keys_ignored bigint, OUT ms_per_document double precision,
    OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_worker_status';

CREATE VIEW cachepusher.status AS
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
COMMENT ON VIEW cachepusher.status IS 'One row per source: what the worker is doing and its counters';

CREATE FUNCTION cachepusher.wait_for_sync(timeout interval DEFAULT '10 s')
RETURNS boolean
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'cachepusher_wait_for_sync';
COMMENT ON FUNCTION cachepusher.wait_for_sync IS
'Waits until every change committed before the call (and any warmup asked for before it) is in Redis; false on timeout';

CREATE FUNCTION cachepusher.verify(source text DEFAULT NULL, repair boolean DEFAULT false)
RETURNS TABLE (source text, key text, problem text)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_verify';
COMMENT ON FUNCTION cachepusher.verify IS
'Compares Redis with the database: missing, stale and orphan keys of the source (all sources when NULL); repair hands them to the worker at commit';

-- DROP EXTENSION would fail on the triggers watch() installed (they use _notify_trigger): this
-- removes them first, and tells a running worker to let go.
CREATE FUNCTION cachepusher._before_drop_extension()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'cachepusher_before_drop_extension';
CREATE EVENT TRIGGER cachepusher_before_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION cachepusher._before_drop_extension();

-- Nothing is usable by PUBLIC: superusers grant the API to the roles that may use it.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA cachepusher FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA cachepusher FROM PUBLIC;
-- Trigger functions are checked when a trigger is created, not when it fires.
GRANT EXECUTE ON FUNCTION cachepusher._notify_trigger() TO PUBLIC;
-- Anyone's NOTIFY trigger may build a key (given USAGE on the schema): it reads nothing.
GRANT EXECUTE ON FUNCTION cachepusher.key(text[]) TO PUBLIC;

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

-- A worker already running in this database starts serving at once.
SELECT pg_catalog.pg_notify('cachepusher_control', 'reload');
