-- Fills the schema of examples/schema.sql with made-up customers, 0-4 addresses each (2.55 on
-- average). Deterministic: the same number of customers gives the same rows on an empty database.
--
--   psql -v customers=100000 -f examples/generate.sql     (default: 10000 customers)

\if :{?customers}
\else
\set customers 10000
\endif

BEGIN;

-- Seeds random() for this session, quietly.
DO $$ BEGIN PERFORM setseed(0.2015); END $$;

WITH name_part AS (
    SELECT ARRAY['Anna', 'Ben', 'Clara', 'David', 'Elena', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas',
                 'Karla', 'Leon', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Simon', 'Tara', 'Viktor']
               AS first_names,
           ARRAY['Adler', 'Becker', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Horvat',
                 'Ivanova', 'Jansen', 'Kowalski', 'Lindqvist', 'Moreau', 'Novak', 'Olsen', 'Petrov',
                 'Rossi', 'Schmidt', 'Tanaka', 'Weber']
               AS last_names
), person AS (
    SELECT g,
           first_names[1 + floor(random() * 20)::int] AS first_name,
           last_names[1 + floor(random() * 20)::int]  AS last_name,
           random() < 0.95                             AS has_email
      FROM name_part, generate_series(1, :customers) AS g
), new_customer AS (
    INSERT INTO customer (name, email)
    SELECT first_name || ' ' || last_name,
           CASE WHEN has_email THEN lower(first_name || '.' || last_name) || g || '@example.com' END
      FROM person
     ORDER BY g
    RETURNING id_customer
), address_count AS (
    -- 0: 5 %, 1: 15 %, 2: 25 %, 3: 30 %, 4: 25 %
    SELECT id_customer,
           ('{0,1,1,1,2,2,2,2,2,3,3,3,3,3,3,4,4,4,4,4}'::int[])[1 + floor(random() * 20)::int] AS n
      FROM new_customer
), place AS (
    SELECT ARRAY['Main Street', 'Station Road', 'Church Lane', 'Park Avenue', 'Mill Road',
                 'High Street', 'Garden Way', 'River Walk', 'Oak Close', 'Harbour Row'] AS streets,
           ARRAY['Amsterdam', 'Berlin', 'Copenhagen', 'Dublin', 'Edinburgh',
                 'Florence', 'Geneva', 'Helsinki', 'Innsbruck', 'Lisbon'] AS cities
)
INSERT INTO address (fk_customer, street, city, zip)
SELECT ac.id_customer,
       (1 + floor(random() * 200)::int) || ' ' || streets[1 + floor(random() * 10)::int],
       cities[1 + floor(random() * 10)::int],
       (10000 + floor(random() * 90000)::int)::text
  FROM address_count ac
 CROSS JOIN LATERAL generate_series(1, ac.n) AS k
 CROSS JOIN place
 ORDER BY ac.id_customer, k;

COMMIT;

ANALYZE customer;
ANALYZE address;
