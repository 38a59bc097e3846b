-- cachepusher 1.4 -> 1.5: keys of several columns. A key query may return N columns, the document
-- function take N arguments (or a documents query N arrays, $1 .. $N); watch() names N key columns;
-- key_template lays the key out in Redis after "prefix:", one component in braces to make it the
-- Cluster hash tag ('{$1}:$2'); cachepusher.key() builds a key for a NOTIFY trigger of one's own.
-- Sources of one key column stay exactly as they were.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.5'" to load this file. \quit

ALTER TABLE cachepusher.source
    ADD COLUMN key_columns smallint NOT NULL DEFAULT 1
        CONSTRAINT source_key_columns_check CHECK (key_columns BETWEEN 1 AND 32),
    ADD COLUMN key_template text;

-- add_source gains key_template, and watch() takes its key columns as VARIADIC name[]: both old
-- signatures go, and EXECUTE granted on them carries over to the new ones, add_source's to key() too
-- (as in 1.3 -> 1.4, which says why the initial privileges are set back afterwards).
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
COMMENT ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text, text) IS
'Caches document_function(key), or the rows of documents_query, in Redis as key_prefix:key for every key of key_query, and keeps it in step';
REVOKE ALL ON FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text, text) FROM PUBLIC;

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
    -- TRUNCATE fires no row triggers: it asks for a resync of the source instead.
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L)',
                   names[4], tbl, source);
END
$$;
COMMENT ON FUNCTION cachepusher.watch(text, regclass, name[]) IS
'Installs triggers on tbl that refresh the documents whose key is in key_columns of the changed rows';

REVOKE ALL ON FUNCTION cachepusher.watch(text, regclass, name[]) FROM PUBLIC;

-- The key of several columns as watch()'s triggers send it, for a NOTIFY trigger of one's own.
CREATE FUNCTION cachepusher.key(VARIADIC components text[])
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'cachepusher_key';
COMMENT ON FUNCTION cachepusher.key(text[]) IS
'The key of a source whose keys have several columns: each component escaped, joined by ":" (NULL when one is NULL)';
-- Anyone's NOTIFY trigger may build a key (given USAGE on the schema): it reads nothing. (Revoked
-- first, as CREATE EXTENSION does for every function, so the privileges read the same.)
REVOKE ALL ON FUNCTION cachepusher.key(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cachepusher.key(text[]) TO PUBLIC;

DO $$
DECLARE
    pair text[];
    old_signature regprocedure;
    new_function regprocedure;
    initial aclitem[];
    granted record;
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text)',
         'cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text, text)'],
        ['cachepusher.watch(text, regclass, name)', 'cachepusher.watch(text, regclass, name[])'],
        -- granted to PUBLIC, and like every function to whom the API is granted
        ['cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text)',
         'cachepusher.key(text[])']] LOOP
        old_signature := pair[1]::regprocedure;
        new_function := pair[2]::regprocedure;
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
DROP FUNCTION cachepusher.add_source(text, regprocedure, text, text, text[], text, interval, text, text);
DROP FUNCTION cachepusher.watch(text, regclass, name);

