# bench/run --cluster: the warmup and the 1000-row stream scenarios against one Redis and against a
# Redis Cluster of three masters (no replicas), the same worker, data and workload; writes
# results-cluster.md. Sourced by bench/run after its PostgreSQL cluster, dataset and worker are up:
# uses its helpers (q, value, say, fact, die, free_port, now_us, seconds_between), $bt, $pgc, $scale,
# $seconds, $stream_rate, $work, $data, $out and $redis_cp.
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

use_target() {  # single|cluster
  if [ "$1" = cluster ]; then
    q -c "ALTER SYSTEM SET cachepusher.redis_port = ${cluster_ports[0]}" -c "ALTER SYSTEM SET cachepusher.redis_cluster = on"
  else
    q -c "ALTER SYSTEM SET cachepusher.redis_port = $redis_cp" -c "ALTER SYSTEM SET cachepusher.redis_cluster = off"
  fi
  q -c "SELECT pg_reload_conf()" >/dev/null
}

cluster_stream() {  # target name first_tx rows_per_s (0: flat out)
  local target=$1 name=$2 first=$3 rows_rate=$4 t0 t_end t_sync out
  q -c "VACUUM customer"
  "$bt" wait-sql --pg "$pgc" --timeout 600 \
    --sql "SELECT state = 'streaming' AND pending = 0 FROM cachepusher.status WHERE source = 'customer'" >/dev/null
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
  say "  $target $name: $out; in sync $(seconds_between "$t_end" "$t_sync") s after the writer stopped"
}

run_cluster_comparison() {
  start_cluster
  fact cluster_nodes "3 masters, no replicas, ports ${cluster_ports[*]}"
  local first=100000001
  for target in single cluster; do
    use_target "$target"
    say "$target: warmup of $scale documents"
    local t0 t1
    t0=$(now_us)
    bench_add_source fn
    t1=$(bench_wait_warmed "$scale")
    fact "${target}_warmup_s" "$(seconds_between "$t0" "$t1")"
    fact "${target}_warmup_log" "$(grep -o 'source "customer" warmed: [0-9]* keys in [0-9.]* s' "$pgrun/postgres.log" | tail -n 1)"
    say "  $(seconds_between "$t0" "$t1") s"
    fact "${target}_warmup_verify" "$(value "SELECT count(*) FROM cachepusher.verify('customer')") differences"
    cluster_stream "$target" stream "$first" "$stream_rate"; first=$((first + 50000000))
    cluster_stream "$target" flat "$first" 0; first=$((first + 50000000))
    fact "${target}_final_verify" "$(value "SELECT count(*) FROM cachepusher.verify('customer')") differences"
    q -c "SELECT cachepusher.drop_source('customer')" >/dev/null
    # The worker forgets the source (and its counters) before the next target's add_source.
    "$bt" wait-sql --pg "$pgc" --timeout 60 --sql "SELECT count(*) = 0 FROM cachepusher.status" >/dev/null ||
      die "the worker did not drop the source"
  done
  local -a held=()
  for p in "${cluster_ports[@]}"; do held+=("$("$REDIS_CLI" -p "$p" dbsize)"); done
  fact cluster_keys_per_master "${held[*]}"
  fact uptime_end "$(uptime)"
  write_cluster_report
}

write_cluster_report() {
  local f=$data/facts file=$out/results-cluster.md
  get() { sed -n "s/^$1 //p" "$f" | tail -n 1; }
  local cmd="bench/run --cluster --scale $scale"
  [ "$seconds" != 20 ] && cmd+=" --seconds $seconds"
  [ "$stream_rate" != 50000 ] && cmd+=" --stream-rate $stream_rate"
  mkdir -p "$out"
  cat >"$file" <<EOF2
# One Redis against a Redis Cluster of three masters

Written by \`$cmd\` (bench/lib/cluster.sh) on $(get started): $(get machine); $(get versions).
Load at the start: $(get uptime_start | sed 's/.*load average/load average/'); at the end: $(get uptime_end | sed 's/.*load average/load average/').
Commit $(get commit). $(get customers) customers, $(get addresses) addresses, documents of $(get doc_bytes) bytes on average.

The same worker, data and workload against each target in turn: one \`redis-server\`, then a Redis
Cluster of $(get cluster_nodes) (\`cachepusher.redis_cluster = on\`),
all on this one machine, which also runs PostgreSQL and the writer. Default settings (\`batch_size\`
1000). Warmup: from \`add_source\` into an empty target until \`status\` says \`streaming\` with every
document written. Streams: one connection runs 1000-row \`UPDATE\` transactions for $(get seconds) s, at
$(get stream_rate) rows/s and then flat out; *in sync after* is how long \`wait_for_sync()\` called when
the writer stopped took to return; *delivered* is rows changed divided by the time from the first
transaction until then (a changed row is one document to rewrite; the worker coalesces a key
changed again while it waits, so flat out this counts rows, not SETs).

| scenario | one Redis | Redis Cluster, 3 masters |
| --- | --- | --- |
| warmup of $(get customers) documents | $(get single_warmup_s) s ($(get single_warmup_log | sed 's/source "customer" warmed: //')) | $(get cluster_warmup_s) s ($(get cluster_warmup_log | sed 's/source "customer" warmed: //')) |
| verify() after the warmup | $(get single_warmup_verify) | $(get cluster_warmup_verify) |
| stream at $(get stream_rate) rows/s: writer | $(get single_stream_writer) | $(get cluster_stream_writer) |
| stream at $(get stream_rate) rows/s: in sync after / delivered | $(get single_stream_converge_s) s / $(get single_stream_delivered) rows/s | $(get cluster_stream_converge_s) s / $(get cluster_stream_delivered) rows/s |
| flat-out stream: writer | $(get single_flat_writer) | $(get cluster_flat_writer) |
| flat-out stream: in sync after / delivered | $(get single_flat_converge_s) s / $(get single_flat_delivered) rows/s | $(get cluster_flat_converge_s) s / $(get cluster_flat_delivered) rows/s |
| verify() at the end | $(get single_final_verify) | $(get cluster_final_verify) |

Documents per master at the end: $(get cluster_keys_per_master) (DBSIZE, marker keys included).
EOF2
  say "wrote $file"
}
