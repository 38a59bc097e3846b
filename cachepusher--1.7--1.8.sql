-- cachepusher 1.7 -> 1.8: unwatch() removes the triggers of a table its caller may put triggers on
-- (GRANT TRIGGER) but does not own, as drop_source() does: PostgreSQL lets such a role create a
-- trigger but not drop one, so they are dropped with the catalog owner's rights once the caller is
-- known to own the source. _require_source() runs with search_path pinned, and the prefixes of
-- dropped sources still to be swept are dumped with the sources.
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.8'" to load this file. \quit

CREATE OR REPLACE FUNCTION cachepusher.unwatch(source text, tbl regclass)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'cachepusher_unwatch';

ALTER FUNCTION cachepusher._require_source(text) SET search_path = pg_catalog, pg_temp;

SELECT pg_catalog.pg_extension_config_dump('cachepusher.forgotten_prefix', '');
