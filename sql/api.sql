-- The SQL API of cachepusher and the errors it gives. The worker is not loaded here (no
-- shared_preload_libraries), so this checks the catalog side only; test/t/ covers the worker.
CREATE EXTENSION cachepusher;
SET client_min_messages = warning;

CREATE TABLE customer (id_customer serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE address (id_address serial PRIMARY KEY,
                      fk_customer int NOT NULL REFERENCES customer ON DELETE CASCADE, city text);
CREATE FUNCTION customer_get(id int) RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('id', c.id_customer, 'name', c.name) FROM customer c WHERE c.id_customer = id
$$;
CREATE FUNCTION two_args(a int, b int) RETURNS json LANGUAGE sql AS 'SELECT NULL::json';
CREATE FUNCTION returns_int(a int) RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION returns_set(a int) RETURNS SETOF text LANGUAGE sql AS 'SELECT a::text';
CREATE FUNCTION product_get(id text) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';

-- A source: warns that nothing is written to Redis without the preloaded worker.
SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer',
                              channels => ARRAY['customer_updated', 'customer_deleted']);
SELECT name, document_function, key_query, key_prefix, channels, owner = current_user::regrole AS owned
FROM cachepusher.source;

-- jsonb and text documents, a prefix of one's own, the extension's channel by default.
SELECT cachepusher.add_source('product', 'product_get(text)', 'VALUES (''a''), (''b'')', key_prefix => 'shop.product');
SELECT name, key_prefix, channels FROM cachepusher.source ORDER BY name;

-- Names and prefixes.
SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT 1');
SELECT cachepusher.add_source('customer2', 'customer_get(int)', 'SELECT 1', key_prefix => 'customer');
SELECT cachepusher.add_source('has space', 'customer_get(int)', 'SELECT 1');
SELECT cachepusher.add_source('', 'customer_get(int)', 'SELECT 1');
SELECT cachepusher.add_source(repeat('x', 64), 'customer_get(int)', 'SELECT 1');
SELECT cachepusher.add_source('star', 'customer_get(int)', 'SELECT 1', key_prefix => 'a*');
SELECT cachepusher.add_source(NULL, 'customer_get(int)', 'SELECT 1');

-- The document function.
SELECT cachepusher.add_source('bad', 'two_args(int,int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'returns_int(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'returns_set(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'no_such_function(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1');

-- The key query: parsed and planned, never run.
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELEC id_customer FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT id_customer FROM no_such_table');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT id_customer, name FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'DELETE FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1; SELECT 2');
SELECT cachepusher.add_source('bad', 'customer_get(int)', NULL);

-- Channels.
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY['cachepusher']);
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY[repeat('c', 64)]);
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY[NULL]);
SELECT count(*) AS sources FROM cachepusher.source;

-- watch() installs row triggers and a TRUNCATE trigger; watching again replaces them.
SELECT cachepusher.watch('customer', 'customer', 'id_customer');
SELECT cachepusher.watch('customer', 'address', 'fk_customer');
SELECT cachepusher.watch('customer', 'address', 'fk_customer');
SELECT tgrelid::regclass, tgname, tgtype FROM pg_trigger
WHERE tgfoid = 'cachepusher._notify_trigger'::regproc ORDER BY 1, 2;
SELECT cachepusher.watch('nosuch', 'customer', 'id_customer');
SELECT cachepusher.watch('customer', 'customer', 'no_such_column');
SELECT cachepusher.watch('customer', 'no_such_table', 'id_customer');

-- The triggers run inside the application's statements without disturbing them.
INSERT INTO customer (name) VALUES ('Ada'), ('Grace');
INSERT INTO address (fk_customer, city) VALUES (1, 'London');
UPDATE address SET fk_customer = 2;
DELETE FROM customer WHERE id_customer = 1;
TRUNCATE address;
SELECT cachepusher._notify_trigger();

SELECT cachepusher.unwatch('customer', 'address');
SELECT cachepusher.unwatch('customer', 'address');
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc;

-- resync: at commit, for one source or all.
SELECT cachepusher.resync('customer');
SELECT cachepusher.resync();
SELECT cachepusher.resync('nosuch');

-- status: one row per source; 'stopped' without the worker.
SELECT source, state, keys_received, documents_written, keys_deleted, errors, pending FROM cachepusher.status;

-- wait_for_sync needs the worker: without it, an error rather than a silent false.
SELECT cachepusher.wait_for_sync();
SELECT cachepusher.wait_for_sync('-1 s');

-- drop_source removes the source and its triggers.
SELECT cachepusher.drop_source('customer', delete_keys => true);
SELECT key_prefix FROM cachepusher.forgotten_prefix;  -- the worker deletes its keys, then the row
SELECT cachepusher.drop_source('customer');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc;
SELECT name FROM cachepusher.source;

-- The API is not for PUBLIC.
CREATE ROLE cachepusher_nobody;
SET ROLE cachepusher_nobody;
SELECT cachepusher.add_source('x', 'customer_get(int)', 'SELECT 1');
SELECT * FROM cachepusher.status;
RESET ROLE;
DROP ROLE cachepusher_nobody;

-- DROP EXTENSION removes the triggers watch() installed, which would block it otherwise.
SET client_min_messages = error;
SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer');
RESET client_min_messages;
SELECT cachepusher.watch('customer', 'address', 'fk_customer');
DROP EXTENSION cachepusher;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'cachepusher%';
-- The uninstall recipe of the README: nothing of ours is left in the schema CREATE EXTENSION made.
DROP SCHEMA cachepusher;
