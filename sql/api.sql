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
CREATE FUNCTION polymorphic(a anyelement) RETURNS json LANGUAGE sql AS 'SELECT NULL::json';
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
SELECT cachepusher.add_source('colon', 'customer_get(int)', 'SELECT 1', key_prefix => 'customer:');
-- Keys of another type than the function's argument: said, not refused (numbers in a text column are keys).
SELECT cachepusher.add_source('text_keys', 'customer_get(int)', 'SELECT 1::text');
SELECT cachepusher.drop_source('text_keys');
SELECT cachepusher.add_source(NULL, 'customer_get(int)', 'SELECT 1');

-- The document function.
SELECT cachepusher.add_source('bad', 'two_args(int,int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'returns_int(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'returns_set(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'polymorphic(anyelement)', 'SELECT 1');
SELECT cachepusher.add_source('bad', 'no_such_function(int)', 'SELECT 1');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1');

-- The key query: parsed and planned, never run.
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELEC id_customer FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT id_customer FROM no_such_table');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT id_customer, name FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'DELETE FROM customer');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1; SELECT 2');
SELECT cachepusher.add_source('bad', 'customer_get(int)', NULL);
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT id_customer FROM customer WHERE id_customer > $1');

-- A set-based source: one query builds the documents of many keys, $1 the array of keys.
SELECT cachepusher.add_source('customer_set', NULL, 'SELECT id_customer FROM customer', key_prefix => 'cs',
    documents_query => $$SELECT c.id_customer, json_build_object('id', c.id_customer)
                          FROM customer c WHERE c.id_customer = ANY($1)$$);
SELECT cachepusher.add_source('text_set', NULL, 'SELECT 1', documents_query => 'SELECT k, ''{}''::text FROM unnest($1::int[]) k');
SELECT name, document_function, documents_query IS NOT NULL AS set_based FROM cachepusher.source ORDER BY name;
SELECT cachepusher.drop_source('customer_set');
SELECT cachepusher.drop_source('text_set');

-- The documents query: parsed and planned, never run; exactly one of it and the function.
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', documents_query => 'SELECT k, NULL::json FROM unnest($1::int[]) k');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELEC 1');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, NULL::json FROM no_such_table WHERE id_customer = ANY($1)');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'DELETE FROM customer WHERE id_customer = ANY($1) RETURNING id_customer, NULL::json');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'WITH gone AS (DELETE FROM customer RETURNING id_customer) SELECT id_customer, NULL::json FROM gone WHERE id_customer = ANY($1)');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, NULL::json FROM customer WHERE id_customer = ANY($1) FOR UPDATE');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT 1, NULL::json; SELECT 2, NULL::json');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, NULL::json FROM customer');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, NULL::json FROM customer WHERE id_customer = ANY($1) AND name = $2');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT $1, NULL::json');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT 1, NULL::json WHERE $1 IS NULL');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, NULL::json FROM customer WHERE id_customer = $1');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer FROM customer WHERE id_customer = ANY($1)');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT name, NULL::json FROM customer WHERE id_customer = ANY($1)');
SELECT cachepusher.add_source('bad', NULL, 'SELECT 1', documents_query => 'SELECT id_customer, 1 FROM customer WHERE id_customer = ANY($1)');

-- A TTL: documents live that long after each write. From 1 ms to 100 years; set_ttl changes it
-- (NULL: no TTL), and only for an existing source.
SELECT cachepusher.add_source('session', 'customer_get(int)', 'SELECT 1', ttl => '15 minutes');
SELECT name, ttl FROM cachepusher.source WHERE name = 'session';
SELECT cachepusher.set_ttl('session', '1.5 s');
SELECT name, ttl FROM cachepusher.source WHERE name = 'session';
SELECT cachepusher.set_ttl('session', NULL);
SELECT name, ttl FROM cachepusher.source WHERE name = 'session';
SELECT cachepusher.set_ttl('session', '0.5 ms');
SELECT cachepusher.set_ttl('session', '-1 hour');
SELECT cachepusher.set_ttl('session', '101 years');
SELECT cachepusher.set_ttl('session', '-1 month 30 days');
SELECT cachepusher.set_ttl('nosuch', '1 hour');
SELECT cachepusher.set_ttl(NULL, '1 hour');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', ttl => '0 s');
-- Or each document its own: the member ttl_field names gives seconds (the source's ttl otherwise).
SELECT cachepusher.set_ttl('session', '1 hour', ttl_field => 'expires_in');
SELECT name, ttl, ttl_field FROM cachepusher.source WHERE name = 'session';
SELECT cachepusher.set_ttl('session', NULL, ttl_field => '');
SELECT cachepusher.add_source('own_ttl', 'customer_get(int)', 'SELECT 1', ttl_field => 'expires_in');
SELECT name, ttl, ttl_field FROM cachepusher.source WHERE name = 'own_ttl';
SELECT cachepusher.drop_source('own_ttl');
SELECT cachepusher.set_ttl('session', NULL);
SELECT name, ttl, ttl_field FROM cachepusher.source WHERE name = 'session';
-- A value type: string (the JSON text, the default), hash (the fields of a JSON object) or json (the
-- server's JSON type: the worker says so when the server has no JSON module).
SELECT cachepusher.add_source('cart', 'customer_get(int)', 'SELECT 1', value_type => 'hash');
SELECT name, value_type FROM cachepusher.source WHERE name IN ('cart', 'session') ORDER BY name;
SELECT cachepusher.set_value_type('cart', 'string');
SELECT cachepusher.set_value_type('session', 'hash');
SELECT name, value_type FROM cachepusher.source WHERE name IN ('cart', 'session') ORDER BY name;
SELECT cachepusher.set_value_type('cart', 'json');
SELECT name, value_type FROM cachepusher.source WHERE name = 'cart';
SELECT cachepusher.set_value_type('cart', 'JSON');
SELECT cachepusher.set_value_type('cart', NULL);
SELECT cachepusher.set_value_type('nosuch', 'hash');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', value_type => 'list');
SELECT cachepusher.drop_source('cart');
SELECT cachepusher.drop_source('session');

-- Keys of several columns: a document function of as many arguments as the key query has columns
-- (or a documents query of as many arrays); a key template lays them out after "prefix:", one of
-- them in braces for the Cluster hash tag; watch() names as many columns.
CREATE TABLE line_item (order_no int, line int, sku text, PRIMARY KEY (order_no, line));
CREATE FUNCTION line_get(o int, l int) RETURNS json LANGUAGE sql AS 'SELECT json_build_object(''o'', o, ''l'', l)';
SELECT cachepusher.add_source('line', 'line_get(int,int)', 'SELECT order_no, line FROM line_item');
SELECT cachepusher.add_source('line_tagged', 'line_get(int,int)', 'SELECT order_no, line FROM line_item',
                              key_template => '{$1}:$2');
SELECT cachepusher.add_source('line_plain', 'line_get(int,int)', 'SELECT order_no, line FROM line_item',
                              key_template => '$1:$2');
SELECT cachepusher.add_source('line_set', NULL, 'SELECT order_no, line FROM line_item',
    documents_query => 'SELECT order_no, line, line_get(order_no, line) FROM line_item
                        WHERE (order_no, line) IN (SELECT * FROM unnest($1::int[], $2::int[]))');
SELECT name, key_columns, key_template FROM cachepusher.source WHERE name LIKE 'line%' ORDER BY name;
SELECT cachepusher.add_source('bad', 'line_get(int,int)', 'SELECT order_no FROM line_item');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT order_no, line FROM line_item');
SELECT cachepusher.add_source('bad', 'line_get(int,int)', 'SELECT order_no, line FROM line_item', key_template => '{$1}:{$2}');
SELECT cachepusher.add_source('bad', 'line_get(int,int)', 'SELECT order_no, line FROM line_item', key_template => '$2:$1');
SELECT cachepusher.add_source('bad', 'line_get(int,int)', 'SELECT order_no, line FROM line_item', key_template => 'line:$1:$2');
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', key_template => '$1:$2');
SELECT cachepusher.add_source('bad', NULL, 'SELECT order_no, line FROM line_item',
    documents_query => 'SELECT order_no, line_get(order_no, line) FROM line_item
                        WHERE (order_no, line) IN (SELECT * FROM unnest($1::int[], $2::int[]))');
SELECT cachepusher.add_source('bad', NULL, 'SELECT order_no, line FROM line_item',
    documents_query => 'SELECT order_no, sku, line_get(order_no, line) FROM line_item
                        WHERE (order_no, line) IN (SELECT * FROM unnest($1::int[], $2::int[]))');
SELECT cachepusher.watch('line', 'line_item', 'order_no', 'line');
SELECT pg_catalog.encode(tgargs, 'escape') AS args FROM pg_trigger
WHERE tgrelid = 'line_item'::regclass AND tgfoid = 'cachepusher._notify_trigger'::regproc ORDER BY tgname;
SELECT cachepusher.watch('line', 'line_item', 'order_no');
SELECT cachepusher.watch('line_tagged', 'line_item', 'order_no', 'line', 'sku');
SELECT cachepusher.watch('line_tagged', 'line_item', VARIADIC ARRAY[]::name[]);
-- cachepusher.key(): a key as the triggers send it, for a NOTIFY trigger of one's own.
SELECT cachepusher.key('web', '42'), cachepusher.key('a:b', 'c\d', '{e}'), cachepusher.key('alone:{}'),
       cachepusher.key('', ''), cachepusher.key('web', NULL) IS NULL AS null_component;
SELECT cachepusher.key(VARIADIC ARRAY[]::text[]);
SELECT cachepusher.drop_source(name) FROM cachepusher.source WHERE name LIKE 'line%';
DROP TABLE line_item;
DROP FUNCTION line_get(int, int);

-- Channels.
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY['cachepusher']);
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY[repeat('c', 64)]);
SELECT cachepusher.add_source('bad', 'customer_get(int)', 'SELECT 1', channels => ARRAY[NULL]);
SELECT count(*) AS sources FROM cachepusher.source;

-- watch() installs one trigger per statement for INSERT, UPDATE and DELETE, each reading the
-- statement's rows (transition tables), and a TRUNCATE trigger; watching again replaces them, and
-- the row trigger watch() of 1.1 installed for the source. They fire whatever
-- session_replication_role is (tgenabled A: ENABLE ALWAYS).
CREATE TRIGGER cachepusher_customer AFTER INSERT OR UPDATE OR DELETE ON customer
    FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger('customer', 'id_customer');
SELECT cachepusher.watch('customer', 'customer', 'id_customer');
SELECT cachepusher.watch('customer', 'address', 'fk_customer');
SELECT cachepusher.watch('customer', 'address', 'fk_customer');
CREATE VIEW watch_triggers AS
SELECT tgrelid::regclass AS tbl, tgname, CASE WHEN tgtype & 1 = 1 THEN 'row' ELSE 'statement' END AS per,
       tgoldtable, tgnewtable, pg_catalog.encode(tgargs, 'escape') AS args, tgenabled
FROM pg_trigger WHERE tgfoid = 'cachepusher._notify_trigger'::regproc ORDER BY 1, 2;
SELECT * FROM watch_triggers;
SELECT cachepusher.watch('nosuch', 'customer', 'id_customer');
SELECT cachepusher.watch('customer', 'customer', 'no_such_column');
SELECT cachepusher.watch('customer', 'no_such_table', 'id_customer');
-- A trigger of one of its names that is not the source's is not taken over.
CREATE FUNCTION own_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER cachepusher_product_update AFTER UPDATE ON customer FOR EACH STATEMENT EXECUTE FUNCTION own_trigger();
SELECT cachepusher.watch('product', 'customer', 'id_customer');
DROP TRIGGER cachepusher_product_update ON customer;
-- An ordinary table gets statement triggers. A partitioned table gets row triggers, cloned into its
-- partitions (a statement naming a partition fires no trigger of the partitioned table otherwise);
-- watching such a partition too adds only its TRUNCATE trigger. A partition, an inheritance child
-- (whose changes through the parent fire no statement trigger of theirs) and a foreign table get
-- row triggers.
CREATE TABLE visit (id int, city text) PARTITION BY LIST (city);
CREATE TABLE visit_oslo PARTITION OF visit FOR VALUES IN ('Oslo');
CREATE TABLE vip (level int) INHERITS (customer);
CREATE FOREIGN DATA WRAPPER nowhere;
CREATE SERVER nowhere FOREIGN DATA WRAPPER nowhere;
CREATE FOREIGN TABLE remote_visit (id int, city text) SERVER nowhere;
SELECT cachepusher.watch('product', 'visit', 'city');
SELECT cachepusher.watch('product', 'visit_oslo', 'city');
SELECT cachepusher.watch('product', 'vip', 'name');
SELECT cachepusher.watch('product', 'remote_visit', 'city');
SELECT * FROM watch_triggers WHERE tbl::text IN ('visit', 'visit_oslo', 'vip', 'remote_visit');
INSERT INTO visit VALUES (1, 'Oslo');
INSERT INTO vip (id_customer, name, level) VALUES (100, 'Vera', 1);
UPDATE visit SET id = 2;
DELETE FROM vip;
SELECT cachepusher.unwatch('product', 'visit');
SELECT cachepusher.unwatch('product', 'visit_oslo');
SELECT cachepusher.unwatch('product', 'vip');
SELECT cachepusher.unwatch('product', 'remote_visit');
DROP SERVER nowhere CASCADE;
DROP FOREIGN DATA WRAPPER nowhere;
-- The other way round: the partition's own row triggers give way to the clones. A partition made
-- later gets clones too, firing always as the partitioned table's triggers do.
SELECT cachepusher.watch('product', 'visit_oslo', 'city');
SELECT cachepusher.watch('product', 'visit', 'city');
CREATE TABLE visit_bergen PARTITION OF visit FOR VALUES IN ('Bergen');
SELECT * FROM watch_triggers WHERE tbl::text IN ('visit', 'visit_oslo', 'visit_bergen');
SELECT cachepusher.unwatch('product', 'visit');
SELECT * FROM watch_triggers WHERE tbl::text IN ('visit', 'visit_oslo', 'visit_bergen');
DROP TABLE visit, vip;

-- The triggers run inside the application's statements without disturbing them.
INSERT INTO customer (name) VALUES ('Ada'), ('Grace');
INSERT INTO address (fk_customer, city) VALUES (1, 'London');
UPDATE address SET fk_customer = 2;
DELETE FROM customer WHERE id_customer = 1;
TRUNCATE address;
SELECT cachepusher._notify_trigger();
-- A trigger naming a column its table does not have (made by hand, or the column dropped since)
-- fails the statement and names the column, in either form, also on a second statement.
CREATE TABLE watch_typo (id int);
INSERT INTO watch_typo VALUES (1);
CREATE TRIGGER watch_typo AFTER UPDATE ON watch_typo REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cachepusher._notify_trigger('customer', 'no_such_column');
UPDATE watch_typo SET id = 2;
UPDATE watch_typo SET id = 2;
DROP TRIGGER watch_typo ON watch_typo;
CREATE TRIGGER watch_typo AFTER UPDATE ON watch_typo
    FOR EACH ROW EXECUTE FUNCTION cachepusher._notify_trigger('customer', 'id', 'no_such_column');
UPDATE watch_typo SET id = 2;
DROP TABLE watch_typo;

SELECT cachepusher.unwatch('customer', 'address');
SELECT cachepusher.unwatch('customer', 'address');
SELECT tbl, tgname FROM watch_triggers;
DROP VIEW watch_triggers;

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
SELECT cachepusher.drop_source(NULL);
SELECT cachepusher.drop_source('customer', delete_keys => NULL);
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
