-- cachepusher 1.0 -> 1.1: wait_for_sync(), verify(), drop_source(name, delete_keys), and DROP
-- EXTENSION that removes the watch() triggers.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.1'" to load this file. \quit

CREATE TABLE cachepusher.forgotten_prefix (
    key_prefix  text PRIMARY KEY,
    dropped_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cachepusher.forgotten_prefix IS 'Prefixes of dropped sources whose Redis keys the worker deletes';
REVOKE ALL ON cachepusher.forgotten_prefix FROM PUBLIC;

-- A new argument with a default: the old signature has to go (a call with one argument would be
-- ambiguous). EXECUTE granted on drop_source(text) must be granted again on the new one.
DROP FUNCTION cachepusher.drop_source(text);
CREATE FUNCTION cachepusher.drop_source(name text, delete_keys boolean DEFAULT false)
RETURNS void
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_drop_source';
COMMENT ON FUNCTION cachepusher.drop_source IS
'Stops caching a source and removes the triggers watch() installed for it; its keys stay in Redis unless delete_keys';
REVOKE ALL ON FUNCTION cachepusher.drop_source(text, boolean) FROM PUBLIC;

CREATE FUNCTION cachepusher.wait_for_sync(timeout interval DEFAULT '10 s')
RETURNS boolean
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'cachepusher_wait_for_sync';
COMMENT ON FUNCTION cachepusher.wait_for_sync IS
'Waits until every change committed before the call (and any warmup asked for before it) is in Redis; false on timeout';
REVOKE ALL ON FUNCTION cachepusher.wait_for_sync(interval) FROM PUBLIC;

CREATE FUNCTION cachepusher.verify(source text DEFAULT NULL, repair boolean DEFAULT false)
RETURNS TABLE (source text, key text, problem text)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_verify';
COMMENT ON FUNCTION cachepusher.verify IS
'Compares Redis with the database: missing, stale and orphan keys of the source (all sources when NULL); repair hands them to the worker at commit';
REVOKE ALL ON FUNCTION cachepusher.verify(text, boolean) FROM PUBLIC;

-- DROP EXTENSION would fail on the triggers watch() installed (they use _notify_trigger): this
-- removes them first, and tells a running worker to let go.
CREATE FUNCTION cachepusher._before_drop_extension()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'cachepusher_before_drop_extension';
CREATE EVENT TRIGGER cachepusher_before_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION cachepusher._before_drop_extension();
REVOKE ALL ON FUNCTION cachepusher._before_drop_extension() FROM PUBLIC;

SELECT pg_catalog.pg_notify('cachepusher_control', 'reload');
