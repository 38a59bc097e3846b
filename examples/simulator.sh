#!/usr/bin/env bash
# A backend that keeps writing to the schema of examples/schema.sql, the way an application would:
# renames customers, changes emails and addresses, moves addresses between customers, signs up new
# customers and deletes old ones. Each change is its own transaction.
#
#   examples/simulator.sh [--seconds N] [--rate TX_PER_SECOND]
#
# Connects with psql through the usual PGHOST, PGPORT, PGDATABASE, PGUSER. Runs until killed, or
# for N seconds; prints what it sent when it stops.
set -euo pipefail

seconds=0     # 0: until killed
rate=20

usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --rate)    rate="${2:?--rate needs a number}"; shift 2 ;;
    -h|--help) usage ;;
    *)         echo "simulator: unknown argument $1" >&2; usage 2 ;;
  esac
done

first_names=(Anna Ben Clara David Elena Felix Greta Hugo Ida Jonas Karla Leon Mia Noah Olga Paul)
last_names=(Adler Becker Costa Dubois Eriksen Fischer Garcia Horvat Jansen Kowalski Moreau Novak)
streets=("Main Street" "Station Road" "Church Lane" "Park Avenue" "Mill Road" "High Street")
cities=(Amsterdam Berlin Copenhagen Dublin Edinburgh Florence Geneva Helsinki Lisbon)

pick() { local -n list=$1; echo "${list[RANDOM % ${#list[@]}]}"; }
a_name() { echo "$(pick first_names) $(pick last_names)"; }
an_email() { echo "$(pick first_names | tr 'A-Z' 'a-z').$((RANDOM % 10000))@example.com"; }
a_street() { echo "$((1 + RANDOM % 200)) $(pick streets)"; }
a_zip() { echo "$((10000 + RANDOM % 90000))"; }
now_ms() { local us=${EPOCHREALTIME//[!0-9]/}; echo $((us / 1000)); }

# One psql session reads our statements from a pipe; when this script ends, psql sees the end of its
# input and exits too. Its errors (say, a row another session deleted) go to our stderr.
exec 3> >(exec psql -X -q -v ON_ERROR_STOP=0 >/dev/null)
psql_pid=$!

# Random existing rows, chosen in the database (ids have gaps: deleted customers). Temporary
# functions live only as long as the session. Called in WHERE as (SELECT f()), so that they run
# once per statement and not once per row scanned.
cat >&3 <<'SQL'
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.random_customer() RETURNS int LANGUAGE sql VOLATILE AS $$
    SELECT id_customer FROM customer
     WHERE id_customer >= (SELECT 1 + floor(random() * max(id_customer))::int FROM customer)
     ORDER BY id_customer LIMIT 1
$$;
CREATE FUNCTION pg_temp.random_address() RETURNS int LANGUAGE sql VOLATILE AS $$
    SELECT id_address FROM address
     WHERE id_address >= (SELECT 1 + floor(random() * max(id_address))::int FROM address)
     ORDER BY id_address LIMIT 1
$$;
SQL

declare -A sent=()
send() {   # send KIND SQL
  sent[$1]=$(( ${sent[$1]:-0} + 1 ))
  printf '%s\n' "$2" >&3
}

rename_customer() {
  send rename "UPDATE customer SET name = '$(a_name)' WHERE id_customer = (SELECT pg_temp.random_customer());"
}
change_email() {
  send email "UPDATE customer SET email = '$(an_email)' WHERE id_customer = (SELECT pg_temp.random_customer());"
}
sign_up_customer() {   # a new customer with 0-4 addresses, in one statement
  send sign-up "WITH c AS (INSERT INTO customer (name, email) VALUES ('$(a_name)', '$(an_email)')
                            RETURNING id_customer)
                INSERT INTO address (fk_customer, street, city, zip)
                SELECT c.id_customer, '$(a_street)', '$(pick cities)', '$(a_zip)'
                  FROM c, generate_series(1, $((RANDOM % 5)));"
}
add_address() {
  send add-address "INSERT INTO address (fk_customer, street, city, zip)
                    VALUES (pg_temp.random_customer(), '$(a_street)', '$(pick cities)', '$(a_zip)');"
}
change_address() {
  send change-address "UPDATE address SET street = '$(a_street)', city = '$(pick cities)', zip = '$(a_zip)'
                        WHERE id_address = (SELECT pg_temp.random_address());"
}
move_address() {   # to another customer: both documents change
  send move-address "UPDATE address SET fk_customer = pg_temp.random_customer()
                      WHERE id_address = (SELECT pg_temp.random_address());"
}
delete_customer() {   # its addresses go with it (ON DELETE CASCADE)
  send delete "DELETE FROM customer WHERE id_customer = (SELECT pg_temp.random_customer());"
}

# Out of 100 transactions.
one_transaction() {
  local dice=$((RANDOM % 100))
  if   [ $dice -lt 25 ]; then rename_customer
  elif [ $dice -lt 40 ]; then change_email
  elif [ $dice -lt 60 ]; then change_address
  elif [ $dice -lt 70 ]; then move_address
  elif [ $dice -lt 80 ]; then add_address
  elif [ $dice -lt 92 ]; then sign_up_customer
  else                        delete_customer
  fi
}

finish() {   # let psql commit what it has been sent, then say what that was
  exec 3>&-
  wait "$psql_pid" || true
  local total=0 kind line="" ms=$(( $(now_ms) - started ))
  for kind in rename email change-address move-address add-address sign-up delete; do
    total=$((total + ${sent[$kind]:-0}))
    line+=" $kind ${sent[$kind]:-0},"
  done
  echo "simulator: sent $total transactions in $((ms / 1000)).$((ms % 1000 / 100)) s:${line%,}"
}
started=$(now_ms)
trap 'finish; exit 0' INT TERM

echo "simulator: writing about $rate transactions/s$( [ "$seconds" -gt 0 ] && echo " for $seconds s")"
# Paced by the clock, not by a pause after each: the transactions' own time does not slow the rate.
n=0
while [ "$seconds" -eq 0 ] || [ $(( $(now_ms) - started )) -lt $((seconds * 1000)) ]; do
  one_transaction
  n=$((n + 1))
  ahead=$(awk -v s="$started" -v n="$n" -v r="$rate" -v now="$(now_ms)" 'BEGIN { printf "%.3f", (s + n * 1000 / r - now) / 1000 }')
  [[ $ahead == -* || $ahead == 0.000 ]] || sleep "$ahead"
done
finish
