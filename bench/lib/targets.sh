# bench/run --cluster and bench/run --tls: the warmup and the 1000-row stream scenarios against two
# targets in turn, the same worker, data and workload: one Redis against a Redis Cluster of three
# masters (no replicas; writes results-cluster.md), or one Redis over plain TCP against the same kind
# of server over TLS (writes results-tls.md). Sourced by bench/run after its PostgreSQL cluster,
# dataset and worker are up: uses its helpers (q, value, say, fact, die, free_port, now_us,
# seconds_between), $bt, $pgc, $scale, $seconds, $stream_rate, $work, $data, $out and $redis_cp.
#
# Convergence is measured here without the keyspace watcher of bench/run (it reads one Redis): after
# the writer stops, cachepusher.wait_for_sync() is called; it returns once every change committed
# before the call is in Redis. Documents delivered/s = rows changed / (first transaction until
# wait_for_sync returned).

start_cluster() {  # writes $cluster_ports
  local ports=() port bus
  port=$(free_port $((redis_cp + 100)))
  for i in 1 2 3; do
    port=$(free_port "$port"); bus=$(free_port $((port + 1)))
    mkdir -p "$work/redis-cluster-$i"
    "$REDIS_SERVER" --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
      --cluster-enabled yes --cluster-config-file nodes.conf --dir "$work/redis-cluster-$i" \
      --logfile "$work/redis-cluster-$i/redis.log" &
    redis_pids+=($!)
    for _ in $(seq 100); do "$REDIS_CLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    ports+=("$port")
    port=$((bus + 1))
  done
  "$REDIS_CLI" --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 --cluster-yes >"$work/cluster-create.log" 2>&1 ||
    { cat "$work/cluster-create.log"; die "$REDIS_CLI --cluster create failed"; }
  for _ in $(seq 600); do
    local ok=0
    for p in "${ports[@]}"; do "$REDIS_CLI" -p "$p" cluster info | grep -q cluster_state:ok && ok=$((ok + 1)); done
    [ "$ok" -eq 3 ] && break
    sleep 0.05
  done
  cluster_ports=("${ports[@]}")
}

# A redis-server that speaks TLS only, with a CA and a certificate for 127.0.0.1 made here (openssl);
# writes $tls_port and $tls_ca. The worker verifies the chain and the address (redis_tls_verify = full).
start_tls_redis() {
  local d=$work/tls
  mkdir -p "$d"
  { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj /CN=bench-ca &&
    openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=127.0.0.1 &&
    echo "subjectAltName=IP:127.0.0.1" >"$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -out "$d/server.crt" -days 2 -extfile "$d/server.ext"; } >"$d/openssl.log" 2>&1 ||
    { cat "$d/openssl.log"; die "openssl could not make the certificates"; }
  chmod 0644 "$d"/*.crt "$d"/*.key
  tls_port=$(free_port $((redis_cp + 200)))
  mkdir -p "$work/redis-tls"
  "$REDIS_SERVER" --port 0 --tls-port "$tls_port" --tls-cert-file "$d/server.crt" --tls-key-file "$d/server.key" \
    --tls-ca-cert-file "$d/ca.crt" --tls-auth-clients no --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$work/redis-tls" --logfile "$work/redis-tls/redis.log" &
  redis_pids+=($!)
  for _ in $(seq 100); do
    "$REDIS_CLI" --tls --cacert "$d/ca.crt" -p "$tls_port" ping >/dev/null 2>&1 && break; sleep 0.05
  done
  "$REDIS_CLI" --tls --cacert "$d/ca.crt" -p "$tls_port" ping >/dev/null 2>&1 || die "the TLS redis-server did not start"
  tls_ca=$d/ca.crt
}

use_target() {  # single|cluster|tls
  case "$1" in
    cluster) q -c "ALTER SYSTEM SET cachepusher.redis_port = ${cluster_ports[0]}" -c "ALTER SYSTEM SET cachepusher.redis_cluster = on" ;;
    tls) q -c "ALTER SYSTEM SET cachepusher.redis_port = $tls_port" -c "ALTER SYSTEM SET cachepusher.redis_tls = on" \
           -c "ALTER SYSTEM SET cachepusher.redis_tls_ca_file = '$tls_ca'" ;;
    *) q -c "ALTER SYSTEM SET cachepusher.redis_port = $redis_cp" -c "ALTER SYSTEM SET cachepusher.redis_cluster = off" \
         -c "ALTER SYSTEM SET cachepusher.redis_tls = off" ;;
  esac
  q -c "SELECT pg_reload_conf()" >/dev/null
}

target_stream() {  # target name first_tx rows_per_s (0: flat out)
  local target=$1 name=$2 first=$3 rows_rate=$4 t0 t_end t_sync out written
  q -c "VACUUM customer"
  "$bt" wait-sql --pg "$pgc" --timeout 600 \
    --sql "SELECT state = 'streaming' AND pending = 0 FROM cachepusher.status WHERE source = 'customer'" >/dev/null
  written=$(value "SELECT documents_written FROM cachepusher.status WHERE source = 'customer'")
  t0=$(now_us)
  out=$("$bt" stream --pg "$pgc" --customers "$scale" --rows 1000 --seconds "$seconds" --first "$first" \
    --rate "$(awk -v r="$rows_rate" 'BEGIN {print r / 1000}')" --log "$data/${target}_$name.log")
  t_end=$(now_us)
  [ "$(value "SELECT cachepusher.wait_for_sync('600 s')")" = t ] || die "$target $name: not in sync after 600 s"
  t_sync=$(now_us)
  local rows=$(( $(wc -l <"$data/${target}_$name.log") * 1000 ))
  fact "${target}_${name}_writer" "$out"
  fact "${target}_${name}_converge_s" "$(seconds_between "$t_end" "$t_sync")"
  fact "${target}_${name}_delivered" "$(awk -v r="$rows" -v a="$t0" -v b="$t_sync" 'BEGIN {printf "%.0f", r / ((b - a) / 1e6)}')"
  written=$(( $(value "SELECT documents_written FROM cachepusher.status WHERE source = 'customer'") - written ))
  fact "${target}_${name}_written" "$(awk -v w="$written" -v a="$t0" -v b="$t_sync" 'BEGIN {printf "%.0f", w / ((b - a) / 1e6)}')"
  say "  $target $name: $out; in sync $(seconds_between "$t_end" "$t_sync") s after the writer stopped"
}

run_comparison() {  # cluster|tls
  local kind=$1 targets
  if [ "$kind" = cluster ]; then
    start_cluster
    fact cluster_nodes "3 masters, no replicas, ports ${cluster_ports[*]}"
    targets="single cluster"
  else
    start_tls_redis
    targets="single tls"
  fi
  local first=100000001 log_from
  for target in $targets; do
    use_target "$target"
    say "$target: warmup of $scale documents"
    local t0 t1
    log_from=$(stat -c %s "$pgrun/postgres.log")
    t0=$(now_us)
    bench_add_source fn
    t1=$(bench_wait_warmed "$scale")
    if [ "$target" = tls ]; then
      tail -c +"$log_from" "$pgrun/postgres.log" | grep -q 'connected to Redis at .* over TLS' ||
        die "the worker did not connect over TLS (built without it? see $pgrun/postgres.log)"
    fi
    fact "${target}_warmup_s" "$(seconds_between "$t0" "$t1")"
    fact "${target}_warmup_log" "$(grep -o 'source "customer" warmed: [0-9]* keys in [0-9.]* s' "$pgrun/postgres.log" | tail -n 1)"
    say "  $(seconds_between "$t0" "$t1") s"
    fact "${target}_warmup_verify" "$(value "SELECT count(*) FROM cachepusher.verify('customer')") differences"
    target_stream "$target" stream "$first" "$stream_rate"; first=$((first + 50000000))
    target_stream "$target" flat "$first" 0; first=$((first + 50000000))
    fact "${target}_final_verify" "$(value "SELECT count(*) FROM cachepusher.verify('customer')") differences"
    q -c "SELECT cachepusher.drop_source('customer')" >/dev/null
    # The worker forgets the source (and its counters) before the next target's add_source.
    "$bt" wait-sql --pg "$pgc" --timeout 60 --sql "SELECT count(*) = 0 FROM cachepusher.status" >/dev/null ||
      die "the worker did not drop the source"
  done
  if [ "$kind" = cluster ]; then
    local -a held=()
    for p in "${cluster_ports[@]}"; do held+=("$("$REDIS_CLI" -p "$p" dbsize)"); done
    fact cluster_keys_per_master "${held[*]}"
  fi
  fact uptime_end "$(uptime)"
  write_comparison_report "$kind"
}

write_comparison_report() {  # cluster|tls
  local kind=$1 f=$data/facts file=$out/results-$1.md a=single b=$1
  get() { sed -n "s/^$1 //p" "$f" | tail -n 1; }
  ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x + 0 > 0) printf "%.2f", y / x; else print "?" }'; }
  local cmd="bench/run --$kind --scale $scale"
  [ "$seconds" != 20 ] && cmd+=" --seconds $seconds"
  [ "$stream_rate" != 50000 ] && cmd+=" --stream-rate $stream_rate"
  local title intro col_a col_b
  if [ "$kind" = cluster ]; then
    title="One Redis against a Redis Cluster of three masters"
    col_a="one Redis" col_b="Redis Cluster, 3 masters"
    intro="one \`$(basename "$REDIS_SERVER")\`, then a Redis Cluster of $(get cluster_nodes) (\`cachepusher.redis_cluster = on\`)"
  else
    title="Plain TCP against TLS"
    col_a="plain TCP" col_b="TLS"
    intro="one \`$(basename "$REDIS_SERVER")\` over plain TCP, then another on a TLS port only (\`cachepusher.redis_tls = on\`,
a CA and a server certificate for 127.0.0.1 made by openssl, RSA 2048; \`redis_tls_verify = full\`: the chain and
the address are checked; no client certificate)"
  fi
  mkdir -p "$out"
  cat >"$file" <<EOF2
# $title

Written by \`$cmd\` (bench/lib/targets.sh) on $(get started): $(get machine); $(get versions).
Load at the start: $(get uptime_start | sed 's/.*load average/load average/'); at the end: $(get uptime_end | sed 's/.*load average/load average/').
Commit $(get commit). $(get customers) customers, $(get addresses) addresses, documents of $(get doc_bytes) bytes on average.

The same worker, data and workload against each target in turn: $intro,
all on this one machine, which also runs PostgreSQL and the writer. Default settings (\`batch_size\`
1000). Warmup: from \`add_source\` into an empty target until \`status\` says \`streaming\` with every
document written. Streams: one connection runs 1000-row \`UPDATE\` transactions for $(get seconds) s, at
$(get stream_rate) rows/s and then flat out; *in sync after* is how long \`wait_for_sync()\` called when
the writer stopped took to return; *delivered* is rows changed divided by the time from the first
transaction until then (a changed row is one document to rewrite; the worker coalesces a key
changed again while it waits, so flat out this counts rows, not SETs).

| scenario | $col_a | $col_b |
| --- | --- | --- |
| warmup of $(get customers) documents | $(get ${a}_warmup_s) s ($(get ${a}_warmup_log | sed 's/source "customer" warmed: //')) | $(get ${b}_warmup_s) s ($(get ${b}_warmup_log | sed 's/source "customer" warmed: //')) |
| verify() after the warmup | $(get ${a}_warmup_verify) | $(get ${b}_warmup_verify) |
| stream at $(get stream_rate) rows/s: writer | $(get ${a}_stream_writer) | $(get ${b}_stream_writer) |
| stream at $(get stream_rate) rows/s: in sync after / delivered | $(get ${a}_stream_converge_s) s / $(get ${a}_stream_delivered) rows/s | $(get ${b}_stream_converge_s) s / $(get ${b}_stream_delivered) rows/s |
| flat-out stream: writer | $(get ${a}_flat_writer) | $(get ${b}_flat_writer) |
| flat-out stream: in sync after / delivered | $(get ${a}_flat_converge_s) s / $(get ${a}_flat_delivered) rows/s | $(get ${b}_flat_converge_s) s / $(get ${b}_flat_delivered) rows/s |
| flat-out stream: documents written/s (SETs, until in sync) | $(get ${a}_flat_written) | $(get ${b}_flat_written) |
| verify() at the end | $(get ${a}_final_verify) | $(get ${b}_final_verify) |

$col_b against $col_a: warmup rate $(ratio "$(get ${b}_warmup_s)" "$(get ${a}_warmup_s)")x, delivered at $(get stream_rate) rows/s $(ratio "$(get ${a}_stream_delivered)" "$(get ${b}_stream_delivered)")x, documents written/s flat out $(ratio "$(get ${a}_flat_written)" "$(get ${b}_flat_written)")x.
Flat out, rows delivered/s depends on the writer's own rate (a faster writer changes more rows that
the worker coalesces), so the worker's throughput there is the documents it wrote per second. The
targets run in this order, $col_a first, on a machine that other work shares.
EOF2
  [ "$kind" = cluster ] && printf '\nDocuments per master at the end: %s (DBSIZE, marker keys included).\n' "$(get cluster_keys_per_master)" >>"$file"
  say "wrote $file"
}
