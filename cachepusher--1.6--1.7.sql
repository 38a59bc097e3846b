-- cachepusher 1.6 -> 1.7: watch() makes its triggers fire whatever session_replication_role is
-- (ENABLE ALWAYS), and installs row triggers on a table a logical replication subscription writes to
-- (its apply worker fires no statement trigger), so the rows a subscription applies reach Redis too.
-- Triggers that watch() installed before fire as they did until watch() runs again for their table.
-- watch() of a foreign table no longer fails on the TRUNCATE trigger a foreign table cannot have.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.7'" to load this file. \quit

CREATE OR REPLACE FUNCTION cachepusher.watch(source text, tbl regclass, VARIADIC key_columns name[])
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
