-- The schema of the original 2015 cache seed as it was published, rebuilt here from its description
-- and behaviour (not its text) so that cachepusher can be tried on what a 2015 user really runs.
-- examples/schema.sql is our improved version of it; see examples/README.md for what differs.
--
--   customer:<id_customer>  =  customer_get(id)  =  {"id_customer":..,"name":..,"addresses":[..]}
--
-- What it is like, on purpose:
--   - no index on address.fk_customer: every document scans the whole address table;
--   - address.fk_customer may be NULL, and the address trigger then notifies an empty id;
--   - addresses are aggregated without ORDER BY, in whatever order the scan meets them;
--   - an address moved to another customer notifies only the new one;
--   - customer_warmup() "warms" the cache by touching every row, so that the triggers notify them all.

CREATE TABLE customer (
    id_customer serial PRIMARY KEY,
    name        text,
    touched     timestamp DEFAULT clock_timestamp()
);

CREATE TABLE address (
    id_address  serial PRIMARY KEY,
    description text,
    fk_customer int REFERENCES customer
);

-- The document is a row of these types turned into JSON, so its field names are the types'.
CREATE TYPE address_type AS (id_address int, description text);
CREATE TYPE customer_type AS (id_customer int, name text, addresses address_type[]);

CREATE FUNCTION customer_get(id int) RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    document json;
BEGIN
    SELECT row_to_json(ROW(c.id_customer, c.name,
                           (SELECT coalesce(array_agg(ROW(a.id_address, a.description)::address_type), '{}')
                              FROM address a
                             WHERE a.fk_customer = id))::customer_type)
      INTO document
      FROM customer c
     WHERE c.id_customer = id;
    RETURN document;
END
$$;

CREATE FUNCTION customer_warmup() RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE customer SET touched = clock_timestamp();
    RETURN true;
END
$$;

CREATE FUNCTION customer_updated() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('customer_deleted', OLD.id_customer::text);
    ELSE
        PERFORM pg_notify('customer_updated', NEW.id_customer::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER customer_updated_trigger
    AFTER INSERT OR UPDATE OR DELETE ON customer
    FOR EACH ROW EXECUTE PROCEDURE customer_updated();

CREATE FUNCTION address_updated() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('customer_updated', OLD.fk_customer::text);
    ELSE
        PERFORM pg_notify('customer_updated', NEW.fk_customer::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER address_updated_trigger
    AFTER INSERT OR UPDATE OR DELETE ON address
    FOR EACH ROW EXECUTE PROCEDURE address_updated();
