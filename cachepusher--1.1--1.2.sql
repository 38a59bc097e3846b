-- cachepusher 1.1 -> 1.2: set-based sources (add_source(..., documents_query)), and watch() triggers
-- that fire once per statement. The row triggers 1.1's watch() installed are left as they are and keep
-- working (the trigger function still serves them); watch() again replaces them, unwatch() and
-- drop_source() remove them.
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

-- One trigger per event. On an ordinary table they fire once per statement and read its transition
-- tables, so a statement changing many rows sends many keys per notification. A statement through a
-- parent table fires the statement triggers of the parent only, and foreign tables have no transition
-- tables: partitions, inheritance children and foreign tables get triggers for each row instead. So
-- does a partitioned table: its row triggers are cloned into every partition (attached later too), so
-- a statement that names a partition is seen as well.
-- A trigger's source is its first argument (tgargs: the arguments, each ended by a zero byte), so
-- triggers are found by source whatever a version of watch() named them.
CREATE OR REPLACE FUNCTION cachepusher.watch(source text, tbl regclass, key_column name)
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
BEGIN
    PERFORM cachepusher._require_source(source);
    IF NOT EXISTS (SELECT 1 FROM pg_attribute a
                   WHERE a.attrelid = tbl AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', key_column, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
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
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[1], tbl, source, key_column);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[2], tbl, source, key_column);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[3], tbl, source, key_column);
    ELSE
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[1], tbl, source, key_column);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s '
                       'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[2], tbl, source, key_column);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L, %L)',
                       names[3], tbl, source, key_column);
    END IF;
    -- TRUNCATE fires no row triggers: it asks for a resync of the source instead.
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger(%L)',
                   names[4], tbl, source);
END
$$;
COMMENT ON FUNCTION cachepusher.watch IS
'Installs triggers on tbl that refresh the documents whose key is in key_column of the changed rows';

CREATE OR REPLACE FUNCTION cachepusher.unwatch(source text, tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trigger_name name;
BEGIN
    -- Clones of a partitioned table's triggers go with the partitioned table's (unwatch that).
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t
                   WHERE t.tgrelid = tbl AND t.tgfoid = 'cachepusher._notify_trigger'::regproc
                     AND split_part(encode(t.tgargs, 'escape'), E'\\000', 1) = source AND t.tgparentid = 0) THEN
        RAISE EXCEPTION 'cachepusher source "%" does not watch %', source, tbl
            USING ERRCODE = 'undefined_object';
    END IF;
    FOR trigger_name IN
        SELECT t.tgname FROM pg_trigger t
        WHERE t.tgrelid = tbl AND t.tgfoid = 'cachepusher._notify_trigger'::regproc
          AND split_part(encode(t.tgargs, 'escape'), E'\\000', 1) = source AND t.tgparentid = 0
        ORDER BY t.tgname
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, tbl);
    END LOOP;
END
$$;
COMMENT ON FUNCTION cachepusher.unwatch IS 'Removes the triggers watch() installed on tbl for source';

SELECT pg_catalog.pg_notify('cachepusher_control', 'reload');
