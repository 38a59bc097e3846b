-- cachepusher 1.5 -> 1.6: a third value type, json: each document stored as the server's JSON type
-- (JSON.SET key $ document), for a Redis or Valkey with a JSON module (RedisJSON, Valkey JSON).
\echo Use "ALTER EXTENSION cachepusher UPDATE TO '1.6'" to load this file. \quit

ALTER TABLE cachepusher.source
    DROP CONSTRAINT source_value_type_check,
    ADD CONSTRAINT source_value_type_check CHECK (value_type IN ('string', 'hash', 'json'));

COMMENT ON FUNCTION cachepusher.set_value_type IS
'Sets how the documents of a source are stored in Redis (string: the JSON text; hash: the fields of a JSON object; json: the server''s JSON type, with a JSON module); the worker rewrites them all';
