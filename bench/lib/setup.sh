# What bench/run and bench/faults share: the tools built, a private install of the extension, a
# throwaway PostgreSQL cluster and redis-servers on free ports, the seed's data set, and a cleanup that
# stops all of it. Sourced (bash) by those scripts from the repository's top directory; they set
# `keep` (true/false) first.
#
#   bench_setup [tool ...]       deps, work dir ($work, $data), build, private install ($bindir),
#                                and the bench tools named (bench/src/<tool>.c -> $work/bin/<tool>)
#   bench_start_redis NAME [ARG ...]   a Redis server ($REDIS_SERVER) on a free port: sets redis_port and redis_pid
#   bench_run_redis NAME PORT [ARG ...] the same on a given port (a restart): sets redis_pid
#   bench_start_postgres         initdb + start + database bench ($pgc, $PGHOST..., q, value)
#   bench_load_dataset SCALE     examples/schema.sql + examples/generate.sql, VACUUM ANALYZE
#   bench_preload_worker REDIS_PORT [NAME=VALUE ...]   restart with the worker; sets worker_pid
#   bench_add_source fn|set [TYPE]  the seed's source "customer": customer_get() per key, or the
#                                set-based examples/customer_documents.sql; value_type TYPE (string)
#   bench_wait_warmed N [SOURCE] until the source (customer) has written N documents; prints when
#   bench_synced                 cachepusher.wait_for_sync(), or die
#   bench_drop_source_keys       drop_source with delete_keys, until the worker deleted the keys

# PG_CONFIG, REDIS_SERVER, REDIS_CLI (REDIS_FLAVOR=valkey for Valkey): tools/platform.sh.
source tools/platform.sh
pgbin=""   # the PostgreSQL's bindir, from PG_CONFIG once bench_setup installed it
bench_user=cachepusher_bench

now_us() { echo "${EPOCHREALTIME/./}"; }
seconds_between() { printf '%.3f' "$(( $2 - $1 ))e-6"; }
t_run=$(now_us)
say() { printf '[%6.1f s] %s\n' "$(( $(now_us) - t_run ))e-6" "$*"; }
die() { echo "bench/$(basename "$0"): $*" >&2; exit 1; }
fact() { printf '%s %s\n' "$1" "$2" >>"$data/facts"; }
fact_value() { awk -v k="$1" '$1 == k { print $2 }' "$data/facts"; }

pids=()               # background processes we started, stopped by cleanup
redis_pids=()
stopped_pids=()       # processes a benchmark paused (SIGSTOP): continued first, or they would not stop

bench_cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  for pid in "${stopped_pids[@]}"; do kill -CONT "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -f "$pgrun/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$pgrun/data" -m fast -w stop >/dev/null 2>&1
  for pid in "${redis_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  if [ "$status" -ne 0 ] && [ -f "$pgrun/postgres.log" ]; then
    echo "bench/$(basename "$0"): failed; the end of the PostgreSQL log:" >&2
    tail -n 30 "$pgrun/postgres.log" >&2
  fi
  if $keep || [ "$status" -ne 0 ]; then
    echo "bench/$(basename "$0"): kept $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}

bench_setup() {
  tools/install-deps
  pgbin=$("$PG_CONFIG" --bindir)
  local extra=() p
  for p in ${bench_packages[@]+"${bench_packages[@]}"}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
  done
  if [ ${#extra[@]} -gt 0 ]; then
    echo "installing: ${extra[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
  fi

  work=$(mktemp -d "${TMPDIR:-/tmp}/cachepusher-bench.XXXXXX")
  chmod 755 "$work"
  data=$work/data       # raw measurements
  mkdir -p "$data" "$work/bin"
  pgrun=$work/pg        # data directory, socket and log: owned by the bench user
  if [ "$(id -u)" -eq 0 ]; then
    id -u "$bench_user" >/dev/null 2>&1 ||
      useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$bench_user"
    as_pg() { runuser -u "$bench_user" -- "$@"; }
  else
    as_pg() { "$@"; }
  fi
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  say "building cachepusher and the bench tools"
  make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >"$work/build.log" 2>&1 || { cat "$work/build.log"; die "make failed"; }
  # A private copy of the PostgreSQL installation with the extension installed into it: other
  # checkouts install and replace the system-wide build while we measure.
  install=$work/install
  local dir
  for dir in "$pgbin/.." "$("$PG_CONFIG" --sharedir)"; do
    dir=$(realpath "$dir")
    mkdir -p "$install$(dirname "$dir")"
    cp -a "$dir" "$install$(dirname "$dir")/"
  done
  make -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$install" >>"$work/build.log" 2>&1 || die "make install failed"
  bindir=$install$pgbin
  local tool
  for tool in "$@"; do
    gcc -O2 -Wall -Wextra -I"$("$PG_CONFIG" --includedir)" -o "$work/bin/$tool" "bench/src/$tool.c" -lpq -lhiredis
  done
  bt=$work/bin/benchtool
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }

bench_start_redis() {  # name [extra redis-server arguments]; sets redis_port, redis_pid
  local name=$1; shift
  redis_port=$(free_port "${next_redis_port:-6480}")
  next_redis_port=$((redis_port + 1))
  bench_run_redis "$name" "$redis_port" "$@"
}

bench_run_redis() {  # name port [extra arguments]: (again) on that port, no persistence; sets redis_pid
  local name=$1 port=$2; shift 2
  mkdir -p "$work/redis-$name"
  "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$work/redis-$name" --logfile "$work/redis-$name/redis.log" "$@" &
  redis_pid=$!
  redis_pids+=("$redis_pid")
  local _
  for _ in $(seq 100); do "$REDIS_CLI" -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  die "redis-server $name did not start"
}

bench_start_postgres() {
  mkdir -p "$pgrun"
  [ "$(id -u)" -eq 0 ] && chown "$bench_user:" "$pgrun"
  pg_port=$(free_port 5480)
  as_pg "$bindir/initdb" -D "$pgrun/data" --username=postgres --auth=trust --no-sync >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log"; die "initdb failed"; }
  cat >>"$pgrun/data/postgresql.conf" <<EOF
port = $pg_port
unix_socket_directories = '$pgrun'
listen_addresses = ''
log_line_prefix = '%m [%p] '
# Benchmark settings (see bench/README.md):
shared_buffers = 1GB
synchronous_commit = off
max_wal_size = 8GB
checkpoint_timeout = 30min
autovacuum = off
EOF
  export PGHOST=$pgrun PGPORT=$pg_port PGUSER=postgres PGDATABASE=bench
  pgc="host=$pgrun port=$pg_port user=postgres dbname=bench"
  pg_start
  q -d postgres -c "CREATE DATABASE bench"
}
pg_start() { as_pg "$bindir/pg_ctl" -D "$pgrun/data" -l "$pgrun/postgres.log" -w start >/dev/null || die "PostgreSQL did not start"; }
pg_stop() { as_pg "$bindir/pg_ctl" -D "$pgrun/data" -m "${1:-fast}" -w stop >/dev/null; }
q() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
value() { "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

bench_load_dataset() {  # scale
  say "building the dataset: $1 customers"
  local t0
  t0=$(now_us)
  q <examples/schema.sql
  q -v customers="$1" <examples/generate.sql
  q -c "VACUUM ANALYZE"
  fact dataset_s "$(seconds_between "$t0" "$(now_us)")"
  fact customers "$(value "SELECT count(*) FROM customer")"
  fact addresses "$(value "SELECT count(*) FROM address")"
  say "$(value "SELECT count(*) FROM customer") customers, $(value "SELECT count(*) FROM address") addresses"
}

bench_worker_pid() { value "SELECT pid FROM pg_stat_activity WHERE backend_type = 'cachepusher'"; }

bench_preload_worker() {  # redis port, then cachepusher settings NAME=VALUE
  local port=$1 setting; shift
  cat >>"$pgrun/data/postgresql.conf" <<EOF
shared_preload_libraries = 'cachepusher'
cachepusher.database = 'bench'
cachepusher.redis_port = $port
EOF
  for setting in "$@"; do
    echo "cachepusher.${setting%%=*} = '${setting#*=}'" >>"$pgrun/data/postgresql.conf"
  done
  pg_stop
  pg_start
  q -c "CREATE EXTENSION cachepusher"
  "$bt" wait-sql --pg "$pgc" --sql "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'cachepusher'" --timeout 30 >/dev/null ||
    die "the cachepusher worker did not start"
  worker_pid=$(bench_worker_pid)
}

bench_add_source() {  # fn | set, then optionally a value type (string, hash)
  local value_type=${2:-string}
  if [ "$1" = set ]; then
    q -v documents_query="$(cat examples/customer_documents.sql)" -v value_type="$value_type" >/dev/null <<'SQL'
SELECT cachepusher.add_source('customer', NULL, 'SELECT id_customer FROM customer',
                              documents_query => :'documents_query',
                              channels => ARRAY['customer_updated', 'customer_deleted'],
                              value_type => :'value_type');
SQL
  else
    q -c "SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer',
                                        channels => ARRAY['customer_updated', 'customer_deleted'],
                                        value_type => '$value_type')" >/dev/null
  fi
}

bench_wait_warmed() {  # documents [source (customer)]
  "$bt" wait-sql --pg "$pgc" --timeout 900 --interval-ms 10 \
    --sql "SELECT state = 'streaming' AND documents_written >= $1 FROM cachepusher.status WHERE source = '${2:-customer}'"
}

# Everything committed so far is in Redis (wait_for_sync also covers notifications the worker has
# not read yet).
bench_synced() { [ "$(value "SELECT cachepusher.wait_for_sync('900 s')")" = t ] || die "wait_for_sync timed out"; }

bench_drop_source_keys() {
  q -c "SELECT cachepusher.drop_source('customer', delete_keys => true)" >/dev/null
  "$bt" wait-sql --pg "$pgc" --timeout 600 --sql "SELECT count(*) = 0 FROM cachepusher.forgotten_prefix" >/dev/null ||
    die "the worker did not delete the keys of the dropped source"
}
