-- The documents of many customers in one query, for the seed's schema as published
-- (examples/seed_schema.sql): the same JSON as its customer_get(id), for every id in the array $1.
-- Ids with no customer return no row (their keys are deleted).
--
--   SELECT cachepusher.add_source('customer', NULL, 'SELECT id_customer FROM customer',
--                                 documents_query => <this file>,
--                                 channels => ARRAY['customer_updated', 'customer_deleted']);
--
-- That schema has no index on address.fk_customer, so customer_get() scans the whole address table
-- for every document; this query scans it once per batch. The seed aggregates addresses in no stated
-- order (its function returns them as a sequential scan meets them); here they come in the order of
-- their place in the table (ctid), which is that order, and is the same for every batch.
SELECT c.id_customer,
       row_to_json(ROW(c.id_customer, c.name, coalesce(a.addresses, '{}'))::customer_type)
  FROM customer c
  LEFT JOIN (SELECT ad.fk_customer,
                    array_agg(ROW(ad.id_address, ad.description)::address_type ORDER BY ad.ctid) AS addresses
               FROM address ad
              WHERE ad.fk_customer = ANY ($1)
              GROUP BY ad.fk_customer) a ON a.fk_customer = c.id_customer
 WHERE c.id_customer = ANY ($1)
