-- The documents of many customers in one query: the same JSON as customer_get(id) in
-- examples/schema.sql, byte for byte, for every id in the array $1, so a set-based source writes the
-- same Redis content as the function. Ids with no customer return no row (their keys are deleted).
--
--   SELECT cachepusher.add_source('customer', NULL, 'SELECT id_customer FROM customer',
--                                 documents_query => <this file>,
--                                 channels => ARRAY['customer_updated', 'customer_deleted']);
--
-- One join for the whole batch instead of one sub-select per customer: both tables are filtered by
-- the same array, so the index on address.fk_customer serves the batch at once.
SELECT c.id_customer,
       json_build_object(
           'id',        c.id_customer,
           'name',      c.name,
           'email',     c.email,
           'addresses', coalesce(a.addresses, '[]'::json))
  FROM customer c
  LEFT JOIN (SELECT ad.fk_customer,
                    json_agg(json_build_object(
                                 'id',     ad.id_address,
                                 'street', ad.street,
                                 'city',   ad.city,
                                 'zip',    ad.zip)
                             ORDER BY ad.id_address) AS addresses
               FROM address ad
              WHERE ad.fk_customer = ANY ($1)
              GROUP BY ad.fk_customer) a ON a.fk_customer = c.id_customer
 WHERE c.id_customer = ANY ($1)
