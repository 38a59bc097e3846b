-- cachepusher 1.7 -> 1.8: unwatch() removes the triggers of a table its caller may put triggers on
-- (GRANT TRIGGER) but does not own, as drop_source() does: PostgreSQL lets such a role create a
-- trigger but not drop one, so they are dropped with the catalog owner's rights once the caller is
-- known to own the source. _require_source() runs with search_path pinned, the prefixes of dropped
-- sources still to be swept are dumped with the sources, and drop_source() with a NULL argument is
-- an error instead of doing nothing.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.8'" to load this file. \quit

CREATE OR REPLACE FUNCTION cachepusher.unwatch(source text, tbl regclass)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_unwatch';

ALTER FUNCTION cachepusher._require_source(text) SET search_path = pg_catalog, pg_temp;

-- A NULL argument is an error, not a call that silently does nothing.
ALTER FUNCTION cachepusher.drop_source(text, boolean) CALLED ON NULL INPUT;

SELECT pg_catalog.pg_extension_config_dump('cachepusher.forgotten_prefix', '');
