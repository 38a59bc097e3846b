-- Our version of the customer/address schema of the original 2015 cache seed (seed_schema.sql is
-- the seed's as published; examples/README.md says what differs): cachepusher serves it by naming
-- its channels (see examples/demo.sh), no new triggers needed.
--
--   customer:<id>  =  customer_get(id)  =  the customer with its addresses embedded
--
-- Triggers send one id per notification: "customer_updated" when a customer's document may have
-- changed (the customer or one of its addresses), "customer_deleted" when the customer is gone.

CREATE TABLE customer (
    id_customer serial PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    created_at  timestamptz DEFAULT now()
);

CREATE TABLE address (
    id_address  serial PRIMARY KEY,
    fk_customer int NOT NULL REFERENCES customer (id_customer) ON DELETE CASCADE,
    street      text,
    city        text,
    zip         text
);

-- customer_get() looks addresses up by customer: without this index every document costs a scan
-- of the whole address table.
CREATE INDEX address_fk_customer_idx ON address (fk_customer);


-- The document of one customer, or NULL when the customer does not exist.
-- json_build_object/json_agg with a fixed key order and ORDER BY make the text deterministic, so
-- the same rows always give the same bytes in Redis.
CREATE FUNCTION customer_get(id int) RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
               'id',        c.id_customer,
               'name',      c.name,
               'email',     c.email,
               'addresses', coalesce(
                   (SELECT json_agg(json_build_object(
                                        'id',     a.id_address,
                                        'street', a.street,
                                        'city',   a.city,
                                        'zip',    a.zip)
                                    ORDER BY a.id_address)
                      FROM address a
                     WHERE a.fk_customer = c.id_customer),
                   '[]'::json))
      FROM customer c
     WHERE c.id_customer = customer_get.id
$$;


CREATE FUNCTION customer_notify() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('customer_deleted', OLD.id_customer::text);
        RETURN NULL;
    END IF;
    -- An UPDATE that changes the id leaves the old id without a customer.
    IF TG_OP = 'UPDATE' AND OLD.id_customer <> NEW.id_customer THEN
        PERFORM pg_notify('customer_deleted', OLD.id_customer::text);
    END IF;
    PERFORM pg_notify('customer_updated', NEW.id_customer::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER customer_notify
    AFTER INSERT OR UPDATE OR DELETE ON customer
    FOR EACH ROW EXECUTE FUNCTION customer_notify();


-- An address belongs to the document of its customer: any change refreshes that customer, and an
-- address that moves to another customer refreshes both.
CREATE FUNCTION address_notify() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('customer_updated', OLD.fk_customer::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- pg_notify drops a duplicate (channel, payload) within one transaction by itself.
        PERFORM pg_notify('customer_updated', NEW.fk_customer::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER address_notify
    AFTER INSERT OR UPDATE OR DELETE ON address
    FOR EACH ROW EXECUTE FUNCTION address_notify();
