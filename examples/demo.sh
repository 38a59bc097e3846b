#!/usr/bin/env bash
# cachepusher in two minutes: a throwaway PostgreSQL and Redis (or Valkey), the customer/address schema of
# examples/schema.sql with 10,000 customers, the cache warmed, then live changes followed into Redis.
#
#   examples/demo.sh          (from a clone of the repository, as root or as a user with sudo)
#   REDIS_FLAVOR=valkey examples/demo.sh      with Valkey; PG_MAJOR=... another PostgreSQL (tools/platform.sh)
#
# Installs what is missing (tools/install-deps), builds and installs the extension, and removes
# everything it started or created when it ends, also when interrupted.
set -euo pipefail

cd "$(dirname "$0")/.."
source tools/platform.sh
pgbin=""   # the PostgreSQL's bindir, from PG_CONFIG once it is installed
customers=10000
demo_user=cachepusher_demo   # initdb refuses root: as root, PostgreSQL runs as this system user

if [ -t 1 ]; then bold=$'\e[1m'; dim=$'\e[2m'; plain=$'\e[0m'; else bold=""; dim=""; plain=""; fi
section() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '  %s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$bold" "$*" "$plain" >&2; exit 1; }
now_ms() { local us=${EPOCHREALTIME//[!0-9]/}; echo $((us / 1000)); }
seconds_since() { local ms=$(( $(now_ms) - $1 )); echo "$((ms / 1000)).$(printf '%02d' $((ms % 1000 / 10)))"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Everything lives in one temporary directory; cleanup stops what runs in it and removes it.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cachepusher-demo.XXXXXX")
pglog=$tmp/postgres.log
redis_pid=""
simulator_pid=""

if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u "$demo_user" -- "$@"; }
  sudo=""
else
  as_pg() { "$@"; }
  sudo=sudo
fi

cleanup() {
  local status=$? failed=false
  set +e
  trap - EXIT INT TERM
  case $status in 0|130|143) ;; *) failed=true ;; esac   # 130, 143: interrupted
  if $failed && [ -s "$pglog" ]; then
    printf '\n%sdemo failed; the end of the PostgreSQL log (%s):%s\n' "$bold" "$pglog" "$plain" >&2
    tail -n 20 "$pglog" >&2
  fi
  [ -n "$simulator_pid" ] && kill "$simulator_pid" 2>/dev/null && wait "$simulator_pid" 2>/dev/null
  if [ -f "$tmp/data/postmaster.pid" ]; then
    as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null 2>&1
  fi
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  if $failed; then
    rm -rf "$tmp/data" "$tmp/redis"
    if [ -n "$(ls -A "$tmp")" ]; then printf 'logs kept in %s\n' "$tmp" >&2; else rm -rf "$tmp"; fi
  else
    rm -rf "$tmp"
  fi
  case $status in 130|143) printf '\ndemo: interrupted; PostgreSQL and Redis stopped, %s removed\n' "$tmp" >&2 ;; esac
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
section "Installing what is missing and building cachepusher"
tools/install-deps
pgbin=$("$PG_CONFIG" --bindir)
say "building (a minute or two the first time; its log: $tmp/build.log)"
make -s PG_CONFIG="$PG_CONFIG" >"$tmp/build.log" 2>&1 \
  || { tail -n 30 "$tmp/build.log" >&2; die "make failed (log above)"; }
$sudo make -s PG_CONFIG="$PG_CONFIG" install >>"$tmp/build.log" 2>&1 \
  || { tail -n 30 "$tmp/build.log" >&2; die "make install failed (log above)"; }
say "built and installed into $("$PG_CONFIG" --pkglibdir)"

if [ "$(id -u)" -eq 0 ]; then
  id -u "$demo_user" >/dev/null 2>&1 \
    || useradd --system --no-create-home --shell /usr/sbin/nologin "$demo_user"
  chown "$demo_user": "$tmp"
fi

# ---------------------------------------------------------------------------------------------
section "Starting Redis and PostgreSQL in $tmp"
redis_port=6390
while port_in_use "$redis_port" || "$REDIS_CLI" -p "$redis_port" ping >/dev/null 2>&1; do
  redis_port=$((redis_port + 1))
done
mkdir "$tmp/redis"
"$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
             --dir "$tmp/redis" --logfile "$tmp/redis.log" &
redis_pid=$!
rcli() { "$REDIS_CLI" -p "$redis_port" "$@"; }
for _ in $(seq 50); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(rcli ping 2>/dev/null)" = PONG ] || { tail "$tmp/redis.log" >&2; die "$REDIS_SERVER did not start"; }
say "$REDIS_SERVER on port $redis_port"

pg_port=5440
while port_in_use "$pg_port"; do pg_port=$((pg_port + 1)); done
as_pg "$pgbin/initdb" -D "$tmp/data" --username=postgres --auth=trust --no-sync >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
cat >>"$tmp/data/postgresql.conf" <<EOF
port = $pg_port
unix_socket_directories = '$tmp'
listen_addresses = ''
EOF
export PGHOST=$tmp PGPORT=$pg_port PGUSER=postgres PGDATABASE=demo
pg_start() { as_pg "$pgbin/pg_ctl" -D "$tmp/data" -l "$pglog" -w start >/dev/null || die "PostgreSQL did not start"; }
pg_stop() { as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null; }
q() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }          # quiet psql
value() { "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }  # one value
pg_start
q -d postgres -c "CREATE DATABASE demo"
say "$("$pgbin/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /') on socket $tmp, port $pg_port; its log: $pglog"

# ---------------------------------------------------------------------------------------------
section "The application's schema and data"
q <examples/schema.sql
say "examples/schema.sql: customer, address, customer_get(id), and NOTIFY triggers like the 2015 daemon's"
started=$(now_ms)
q -v customers="$customers" <examples/generate.sql
say "examples/generate.sql: $(value "SELECT count(*) FROM customer") customers," \
    "$(value "SELECT count(*) FROM address") addresses in $(seconds_since "$started") s"
say "customer_get(1) = $(value "SELECT customer_get(1)")"

# ---------------------------------------------------------------------------------------------
section "Preloading cachepusher (postgresql.conf) and restarting PostgreSQL"
cat >>"$tmp/data/postgresql.conf" <<EOF
shared_preload_libraries = 'cachepusher'
cachepusher.database = 'demo'
cachepusher.redis_port = $redis_port
EOF
sed -n '/^shared_preload_libraries/,$s/^/  /p' "$tmp/data/postgresql.conf"
pg_stop
pg_start

# ---------------------------------------------------------------------------------------------
section "Caching customer_get(id) as customer:<id>; watch() installs the triggers that say what changed"
# watch()'s triggers hand the keys over at commit without NOTIFY's cluster-wide lock: they replace
# the schema's own NOTIFY triggers, in one transaction so that no change falls between the two.
setup_sql=(
  "CREATE EXTENSION cachepusher;"
  "BEGIN;"
  "DROP TRIGGER customer_notify ON customer;   -- schema.sql's NOTIFY triggers: watch() replaces them"
  "DROP TRIGGER address_notify ON address;"
  "SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer');"
  "SELECT cachepusher.watch('customer', 'customer', 'id_customer');"
  "SELECT cachepusher.watch('customer', 'address', 'fk_customer');   -- an address refreshes its customer"
  "COMMIT;"
)
printf '  %s\n' "${setup_sql[@]}"
started=$(now_ms)
printf '%s\n' "${setup_sql[@]}" | q >/dev/null
status_query="SELECT state, documents_written FROM cachepusher.status WHERE source = 'customer'"
while :; do
  IFS='|' read -r state written <<<"$(value "$status_query")"
  written=${written:-0}
  [ -t 1 ] && printf '\r  %-10s %6d of %d documents written' "$state" "$written" "$customers"
  [ "$state" = streaming ] && [ "$written" -ge "$customers" ] && break
  [ $(( $(now_ms) - started )) -lt 60000 ] || { echo; die "no warm cache after 60 s (state $state)"; }
  sleep 0.1
done
[ -t 1 ] && printf '\r%60s\r' ""
say "warmed $written documents in $(seconds_since "$started") s"
say "$REDIS_CLI dbsize: $(rcli dbsize) (the documents, and the marker key that tells the worker Redis was not flushed)"

# ---------------------------------------------------------------------------------------------
section "Live changes: the statement, then the Redis value before and after"
redis_value() { local v; v=$(rcli get "$1"); echo "${v:-(nil)}"; }

# change "SQL" KEY...: shows each key, runs the SQL, and follows each key until its value changes.
change() {
  local sql=$1 key started v; shift
  local -A before=()
  printf '\n  %s%s%s\n' "$bold" "$sql" "$plain"
  for key in "$@"; do before[$key]=$(redis_value "$key"); printf '  %-15s before: %s\n' "$key" "${before[$key]}"; done
  q -c "$sql"
  started=$(now_ms)
  for key in "$@"; do
    while v=$(redis_value "$key"); [ "$v" = "${before[$key]}" ]; do
      [ $(( $(now_ms) - started )) -lt 10000 ] || die "$key did not change within 10 s"
      sleep 0.05
    done
    printf '  %-15s after:  %s  %s(seen after %d ms)%s\n' "$key" "$v" "$dim" $(( $(now_ms) - started )) "$plain"
  done
}

# An address of one customer that moves to another; and the id the next customer will get.
read -r from_customer moved_address <<<"$(value "SELECT fk_customer, id_address FROM address
                                                  WHERE fk_customer > 100 ORDER BY id_address LIMIT 1" | tr '|' ' ')"
new_customer=$(value "SELECT nextval('customer_id_customer_seq')")

change "UPDATE customer SET name = 'Grace Hopper' WHERE id_customer = 42;" customer:42
change "INSERT INTO address (fk_customer, street, city, zip) VALUES (42, '1 Harbour Row', 'Lisbon', '11000');" customer:42
change "UPDATE address SET fk_customer = 42 WHERE id_address = $moved_address;" customer:"$from_customer" customer:42
change "DELETE FROM customer WHERE id_customer = 7;" customer:7
change "INSERT INTO customer (id_customer, name, email) VALUES ($new_customer, 'Ada Lovelace', 'ada@example.com');" customer:"$new_customer"

# ---------------------------------------------------------------------------------------------
section "A backend writing 20 transactions/s for 5 s (examples/simulator.sh)"
examples/simulator.sh --seconds 5 >"$tmp/simulator.log" 2>&1 &
simulator_pid=$!
say "$(printf '%-4s %-10s %13s %17s %12s %7s %6s' s state keys_received documents_written keys_deleted pending lag_ms)"
started=$(now_ms)
while kill -0 "$simulator_pid" 2>/dev/null; do
  sleep 1
  say "$(printf '%-4s %-10s %13s %17s %12s %7s %6s' "$(( ($(now_ms) - started) / 1000 ))" \
         $(value "SELECT state, keys_received, documents_written, keys_deleted, pending, coalesce(lag_ms, 0)
                    FROM cachepusher.status WHERE source = 'customer'" | tr '|' ' '))"
done
wait "$simulator_pid" || { cat "$tmp/simulator.log" >&2; die "the simulator failed"; }
simulator_pid=""
grep -v '^simulator: writing' "$tmp/simulator.log" | sed 's/^/  /'

# Redis must now equal the database: every customer's document, and no other customer key.
compare_redis_with_database() {
  value "SELECT 'customer:' || id_customer || ' ' || customer_get(id_customer) FROM customer" \
    | LC_ALL=C sort >"$tmp/expected"
  rcli --scan --pattern 'customer:*' >"$tmp/keys"
  sed 's/^/GET /' "$tmp/keys" | rcli | paste -d ' ' "$tmp/keys" - | LC_ALL=C sort >"$tmp/actual"
  cmp -s "$tmp/expected" "$tmp/actual"
}
started=$(now_ms)
until compare_redis_with_database; do
  [ $(( $(now_ms) - started )) -lt 10000 ] || {
    say "Redis differs from the database after 10 s:"
    diff "$tmp/expected" "$tmp/actual" | head -n 10 | sed 's/^/  /'
    die "Redis is not in step with the database"
  }
  sleep 0.2
done
say "Redis equals the database: all $(wc -l <"$tmp/keys") customer documents compared"

section "SELECT * FROM cachepusher.status"
q -x -c "SELECT * FROM cachepusher.status" | sed '/^$/d; s/^/  /'

section "Done"
say "stopping PostgreSQL and Redis, removing $tmp"
