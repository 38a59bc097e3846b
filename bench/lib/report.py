"""Turns the raw measurements of one bench/run into bench/results.md and bench/results.png.

  report.py --data DIR --out DIR

DIR holds: facts ("key value" lines written by bench/run), phases ("name t_start t_end"), samples.csv
(bench/lib/sample.py), the writers' logs (<sys>_stream.log, <sys>_single.log) and the watchers' logs
(watch_<sys>.log). Every figure in results.md is computed here from those files; nothing is typed in.
"""
import argparse
import bisect
import collections
import csv
import math
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")
args_data_dir = [None]
SYSTEMS = {"cp": "cachepusher", "bl": "baseline (2015 design)"}


def read_facts(path):
    facts = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            facts[key] = value
    return facts


def num(facts, key):
    try:
        return float(facts[key])
    except (KeyError, ValueError):
        return None


def read_phases(path):
    phases = collections.OrderedDict()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, t0, t1 = line.split()
                phases[name] = (int(t0), int(t1))
    return phases


def read_worker_log(path, phases):
    """phase -> {"overflow": n, "warmups": n, "lines": [...]}: the worker's log lines per phase."""
    import datetime
    events = collections.defaultdict(lambda: {"overflow": 0, "warmups": 0, "lines": []})
    if not os.path.exists(path):
        return events
    with open(path) as f:
        for line in f:
            try:
                stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").replace(
                    tzinfo=datetime.timezone.utc)
            except ValueError:
                continue
            t = int(stamp.timestamp() * 1e6)
            for phase, (t0, t1) in phases.items():
                if t0 <= t <= t1:
                    e = events[phase]
                    if "falling back to a full resync" in line:
                        e["overflow"] += 1
                    if "warming source" in line:
                        e["warmups"] += 1
                    e["lines"].append(line[11:23] + " " + line[line.index("cachepusher:"):].strip())
    return events


def read_watch(path):
    """id -> (times, running max of markers) in the order the watcher saw them."""
    obs = collections.defaultdict(lambda: ([], []))
    if not os.path.exists(path):
        return obs
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            key, marker, _t_event, t_get = int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])
            times, maxima = obs[key]
            times.append(t_get)
            maxima.append(max(marker, maxima[-1]) if maxima else marker)
    return obs


def read_writer(path, kind):
    """[(tx, first id, last id, t_start, t_ack)]: t_start is when the transaction began."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            p = [int(x) for x in line.split()]
            if kind == "stream":  # T lo hi t_begin t_commit_sent t_commit_ack
                rows.append((p[0], p[1], p[2], p[3], p[5]))
            else:  # T id t_due t_sent t_ack
                rows.append((p[0], p[1], p[1], p[3], p[4]))
    return rows


def first_seen(obs, key, tx, deadline):
    """When the watcher first saw key with transaction tx's value (or a later one), or None."""
    if key not in obs:
        return None
    times, maxima = obs[key]
    i = bisect.bisect_left(maxima, tx)
    if i == len(maxima) or times[i] > deadline:
        return None
    return times[i]


def lag_stats(writer, obs, every, deadline):
    """Lags (ms) of every sampled key of every transaction, the number never seen, and when the
    last of them was seen (convergence, as far as the sample tells)."""
    lags, unseen, last_seen = [], 0, None
    for tx, lo, hi, _t0, t_ack in writer:
        first = (lo + every - 1) // every * every
        for key in range(first, hi + 1, every):
            t = first_seen(obs, key, tx, deadline)
            if t is None:
                unseen += 1
                continue
            lags.append((t - t_ack) / 1000.0)
            last_seen = t if last_seen is None else max(last_seen, t)
    lags.sort()
    return lags, unseen, last_seen


def percentile(sorted_values, unseen, p):
    """p-th percentile counting the unseen samples as infinitely late (None when it falls there)."""
    n = len(sorted_values) + unseen
    if n == 0:
        return None
    rank = max(0, math.ceil(p / 100.0 * n) - 1)
    return sorted_values[rank] if rank < len(sorted_values) else None


def include_markdown(w, name, title):
    """bench/NAME, if there, as a section of its own: its title dropped, its sections one level down."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", name)
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [("#" + line) if line.startswith("## ") else line
                 for line in f.read().splitlines() if not line.startswith("# ")]
    w(f"## {title}")
    w("")
    w("\n".join(lines).strip())
    w("")


def fmt(value, digits=1, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if abs(value) >= 100 and digits > 0:
        digits = 0
    return f"{value:,.{digits}f}{unit}"


def read_samples(path):
    samples = collections.defaultdict(list)  # label -> [row]
    if not os.path.exists(path):
        return samples
    with open(path) as f:
        for row in csv.DictReader(f):
            samples[row["label"]].append(row)
    return samples


def in_phase(rows, phase):
    t0, t1 = phase
    return [r for r in rows if t0 <= int(r["t_us"]) <= t1]


def kb(row, key):
    try:
        return int(row[key])
    except (KeyError, ValueError):
        return None


def cpu_cores(rows):
    """Average cores used between the first and last sample (utime+stime)."""
    if len(rows) < 2:
        return None
    dt = (int(rows[-1]["t_us"]) - int(rows[0]["t_us"])) / 1e6
    if dt <= 0:
        return None
    by_pid = collections.defaultdict(list)
    for r in rows:
        by_pid[r["pid"]].append(r)
    ticks = sum(int(rs[-1]["cpu_ticks"]) - int(rs[0]["cpu_ticks"]) for rs in by_pid.values())
    return ticks / CLK_TCK / dt


def machine_busy(rows):
    if len(rows) < 2:
        return None, None
    busy = int(rows[-1]["cpu_ticks"]) - int(rows[0]["cpu_ticks"])
    total = int(rows[-1]["pid"]) - int(rows[0]["pid"])
    loads = [float(r["vmrss_kb"]) for r in rows]
    return (busy / total if total else None), max(loads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    d = args.data
    args_data_dir[0] = d
    facts = read_facts(os.path.join(d, "facts"))
    phases = read_phases(os.path.join(d, "phases"))
    samples = read_samples(os.path.join(d, "samples.csv"))
    every = int(facts.get("every", "1"))
    scale = int(facts["scale"])

    bare_runs = [num(facts, "bare_query_s_1"), num(facts, "bare_query_s_2")]
    bare = min(x for x in bare_runs if x is not None)

    # ---- lag and throughput per system and workload
    results = {}
    for sys in SYSTEMS:
        obs = read_watch(os.path.join(d, f"watch_{sys}.log"))
        for kind in ("stream", "flat", "single", "stream_set", "flat_set", "flat_watch", "single_watch"):
            name = f"{sys}_{kind}"
            writer = read_writer(os.path.join(d, f"{name}.log"), "single" if kind.startswith("single") else "stream")
            if not writer or name not in phases:
                continue
            deadline = phases[name][1]
            lags, unseen, last_seen = lag_stats(writer, obs, every, deadline)
            changes = sum(hi - lo + 1 for _tx, lo, hi, _t0, _ta in writer)
            t_first = writer[0][3]
            t_writer_end = writer[-1][4]
            converged = facts.get(f"{name}_converged_us") not in (None, "", "timeout") and unseen == 0
            r = {
                "txs": len(writer),
                "changes": changes,
                "offered": changes / ((t_writer_end - t_first) / 1e6),
                "samples": len(lags) + unseen,
                "unseen": unseen,
                "p50": percentile(lags, unseen, 50),
                "p90": percentile(lags, unseen, 90),
                "p99": percentile(lags, unseen, 99),
                "max": lags[-1] if lags and unseen == 0 else None,
                "lags": lags,
                "converged": converged,
                "cap": num(facts, f"{name}_cap_s"),
                "writer": facts.get(f"{name}_writer", ""),
            }
            if converged and last_seen is not None:
                r["delivered"] = changes / ((last_seen - t_first) / 1e6)
                r["tail_s"] = (last_seen - t_writer_end) / 1e6
            # Redis SET commands during the phase, from the sampler (documents actually written).
            sets = in_phase(samples.get(f"sets:{sys}", []), phases[name])
            if len(sets) >= 2:
                dt = (int(sets[-1]["t_us"]) - int(sets[0]["t_us"])) / 1e6
                r["sets_per_s"] = (int(sets[-1]["cpu_ticks"]) - int(sets[0]["cpu_ticks"])) / dt
            results[name] = r

    # ---- memory and CPU per phase
    mem = collections.OrderedDict()
    for phase, span in phases.items():
        sys = phase.split("_")[0]
        labels = ["worker", "redis_cp"] if sys in ("cp", "bare") else ["baseline", "baseline_backend", "redis_bl"]
        entry = {}
        for label in labels:
            rows = in_phase(samples.get(label, []), span)
            if not rows:
                continue
            entry[label] = {
                "rss_max": max((kb(r, "vmrss_kb") or 0) for r in rows),
                "anon_max": max((kb(r, "rss_anon_kb") or 0) for r in rows),
                "anon_first": kb(rows[0], "rss_anon_kb"),
                "shmem_max": max((kb(r, "rss_shmem_kb") or 0) for r in rows),
                "file_max": max((kb(r, "rss_file_kb") or 0) for r in rows),
                "cores": cpu_cores(rows),
            }
        busy, load = machine_busy(in_phase(samples.get("machine", []), span))
        entry["machine_busy"] = busy
        entry["load_max"] = load
        entry["seconds"] = (span[1] - span[0]) / 1e6
        mem[phase] = entry

    events = read_worker_log(os.path.join(d, "worker.log"), phases)
    write_plot(args.out, facts, phases, samples, results, bare)
    write_markdown(args.out, facts, phases, results, mem, bare, bare_runs, every, scale, events)


# ------------------------------------------------------------------------------------------------
def batch_size(data):
    """cachepusher.batch_size of the run, from the settings bench/run saved (pg_settings lines)."""
    try:
        with open(os.path.join(data, "settings")) as f:
            for line in f:
                name, _, value = line.strip().partition(" = ")
                if name == "cachepusher.batch_size":
                    return int(value)
    except OSError:
        pass
    return 1000


def workload_name(name, facts):
    kind = name.split("_")[1]
    source = (", set-based source" if name.endswith("_set") else
              ", set-based source fed by watch()" if name.endswith("_watch") else "")
    if kind == "stream":
        return f"1000-row UPDATEs at {int(facts.get('stream_rate', 0)):,} rows/s{source}"
    if kind == "flat":
        return f"1000-row UPDATEs, flat out{source}"
    return f"single-row UPDATEs at {int(facts.get('rate', 0)):,}/s{source}"


def write_plot(out, facts, phases, samples, results, bare):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    fig.suptitle(f"cachepusher vs the 2015 design: {int(facts['scale']):,} customers, "
                 f"{facts.get('machine', '')} ({facts.get('started', '')})", fontsize=11)

    # (a) times against the bare document query
    ax = axes[0][0]
    bars = [("bare document\nquery", bare, "grey"),
            ("cachepusher\nwarmup", num(facts, "cp_warmup_s"), "tab:blue"),
            ("cachepusher\nresync", num(facts, "cp_resync_s"), "tab:blue"),
            ("cachepusher warmup\nset-based", num(facts, "cp_warmup_set_s"), "tab:cyan"),
            ("baseline\nwarmup", num(facts, "bl_warmup_s"), "tab:orange"),
            ("cachepusher\nbulk converge", num(facts, "cp_bulk_converge_s"), "tab:blue"),
            ("baseline\nbulk converge", num(facts, "bl_bulk_converge_s"), "tab:orange")]
    bars = [b for b in bars if b[1] is not None]
    ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    for i, b in enumerate(bars):
        ax.text(i, b[1], f"{b[1]:.1f} s\n{b[1] / bare:.2f}x", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log)")
    ax.set_title("N documents: warmup and bulk UPDATE convergence vs the bare query", fontsize=10)
    ax.tick_params(axis="x", labelsize=8)

    # (b) lag distributions
    ax = axes[0][1]
    styles = {"cp_stream": ("tab:blue", "-"), "cp_single": ("tab:blue", "--"), "cp_flat": ("tab:blue", ":"),
              "cp_stream_set": ("tab:cyan", "-"), "cp_flat_set": ("tab:cyan", ":"),
              "cp_flat_watch": ("tab:green", ":"), "cp_single_watch": ("tab:green", "--"),
              "bl_stream": ("tab:orange", "-"), "bl_single": ("tab:orange", "--"), "bl_flat": ("tab:orange", ":")}
    for name, r in results.items():
        lags = [max(x, 0.01) for x in r["lags"]]
        if not lags:
            continue
        n = len(lags) + r["unseen"]
        ys = [(i + 1) / n for i in range(len(lags))]
        color, ls = styles.get(name, ("black", "-"))
        label = ("cachepusher " if name.startswith("cp") else "baseline ") + workload_name(name, facts)
        ax.plot(lags, ys, color=color, linestyle=ls, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("commit -> Redis lag, ms (log)")
    ax.set_ylabel("fraction of sampled documents")
    ax.axvline(50, color="red", linewidth=0.8, linestyle=":")
    ax.text(50, 0.02, " 50 ms", color="red", fontsize=8)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Lag distribution (unseen samples count as never)", fontsize=10)
    ax.grid(True, alpha=0.3)

    # (c) worker memory over time, phases shaded
    ax = axes[1][0]
    t_origin = min(t0 for t0, _ in phases.values()) if phases else 0
    for label, key, color, name in [("worker", "rss_anon_kb", "tab:blue", "cachepusher RssAnon"),
                                    ("worker", "rss_shmem_kb", "tab:cyan", "cachepusher RssShmem"),
                                    ("baseline", "vmrss_kb", "tab:orange", "baseline process VmRSS"),
                                    ("baseline_backend", "rss_anon_kb", "tab:red", "baseline's backend RssAnon")]:
        rows = samples.get(label, [])
        xs = [(int(r["t_us"]) - t_origin) / 1e6 for r in rows if r.get(key)]
        ys = [int(r[key]) / 1024 for r in rows if r.get(key)]
        if xs:
            ax.plot(xs, ys, color=color, linewidth=1, label=name)
    ax.axhline(64, color="red", linewidth=0.8, linestyle=":")
    top = ax.get_ylim()[1]
    pgbench = [span for phase, span in phases.items() if phase.startswith("cp_pgbench")]
    spans = [(phase, span) for phase, span in phases.items() if not phase.startswith("cp_pgbench")]
    if pgbench:
        spans.append(("pgbench", (pgbench[0][0], pgbench[-1][1])))
    for i, (phase, (t0, t1)) in enumerate(sorted(spans, key=lambda x: x[1][0])):
        ax.axvspan((t0 - t_origin) / 1e6, (t1 - t_origin) / 1e6, color="grey" if i % 2 else "lightgrey", alpha=0.3)
        ax.text((t0 + t1) / 2e6 - t_origin / 1e6, top * 0.98, phase, rotation=90, fontsize=6, va="top", ha="center")
    ax.set_xlabel("seconds since the first scenario")
    ax.set_ylabel("MiB")
    ax.set_title("Memory over the run (phases shaded)", fontsize=10)
    ax.legend(fontsize=8, loc="center right")

    # (d) trigger overhead
    ax = axes[1][1]
    configs = [("none", "no trigger"), ("notify", "pg_notify row\ntrigger (seed)"), ("watch", "cachepusher\nwatch()")]
    width = 0.38
    for j, (rows, color) in enumerate([("1", "tab:green"), ("1000", "tab:purple")]):
        base = num(facts, f"pgbench_none_{rows}_tps")
        vals = [num(facts, f"pgbench_{c}_{rows}_tps") for c, _ in configs]
        rel = [(v / base * 100 if v and base else 0) for v in vals]
        xs = [i + (j - 0.5) * width for i in range(len(configs))]
        ax.bar(xs, rel, width, color=color, label=f"{rows}-row UPDATE transactions")
        for x, v, rr in zip(xs, vals, rel):
            if v:
                ax.text(x, rr, f"{v:,.0f} tps\n{rr:.0f}%", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(configs)))
    ax.set_xticklabels([c[1] for c in configs], fontsize=8)
    ax.set_ylabel("% of the throughput without trigger")
    ax.set_ylim(0, 130)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Write throughput with each trigger (pgbench, 2 clients)", fontsize=10)

    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(os.path.join(out, "results.png"), dpi=90)


# ------------------------------------------------------------------------------------------------
def write_markdown(out, facts, phases, results, mem, bare, bare_runs, every, scale, events):
    L = []
    w = L.append
    cmd = facts.get("command", "bench/run")
    w("# cachepusher benchmark results")
    w("")
    w(f"Produced by `{cmd}` (bench/run writes this file; `bench/README.md` says how each figure is measured).")
    w("")
    w(f"- **When**: {facts.get('started')}; the whole run took {float(facts.get('duration_s', 'nan')):.0f} s.")
    w(f"- **Data**: {int(facts.get('customers', 0)):,} customers, {int(facts.get('addresses', 0)):,} addresses "
      f"(examples/generate.sql), documents of {facts.get('doc_bytes')} bytes on average.")
    w(f"- **Machine**: {facts.get('machine')}; {facts.get('versions')}; cachepusher at commit {facts.get('commit')}.")
    w(f"- **Load**: other engineers use this machine at the same time. At the start: `{facts.get('uptime_start', '').strip()}`; "
      f"at the end: `{facts.get('uptime_end', '').strip()}`. Busy CPU and load per phase are in the last table.")
    w("")

    def ratio(a, b):
        return a / b if a is not None and b else None

    cp_w, cp_r, bl_w = num(facts, "cp_warmup_s"), num(facts, "cp_resync_s"), num(facts, "bl_warmup_s")
    cp_b, bl_b = num(facts, "cp_bulk_converge_s"), num(facts, "bl_bulk_converge_s")
    css = results.get("cp_single", {})
    rss_anon = max((e["worker"]["anon_max"] for p, e in mem.items() if p.startswith("cp") and "worker" in e), default=None)
    rss_vm = max((e["worker"]["rss_max"] for p, e in mem.items() if p.startswith("cp") and "worker" in e), default=None)
    batch_mb = batch_size(args_data_dir[0]) * float(facts.get("doc_bytes") or 300) / 1e6

    def verdict(ok):
        return "n/a" if ok is None else ("**met**" if ok else "**missed**")

    w("## Targets of issue 5")
    w("")
    w("| target | measured | |")
    w("| --- | --- | --- |")
    r1 = ratio(cp_w, bare)
    w(f"| warmup ≤ 1.5× the bare document query | {fmt(cp_w, 2)} s / {fmt(bare, 2)} s = **{fmt(r1, 2)}×** | {verdict(r1 is not None and r1 <= 1.5)} |")
    r2 = ratio(bl_w, cp_w)
    w(f"| warmup ≥ 20× faster than the baseline's: per-key function source | {fmt(bl_w, 1)} s / {fmt(cp_w, 2)} s = **{fmt(r2, 1)}×** | {verdict(r2 is not None and r2 >= 20)} |")
    cp_ws = num(facts, "cp_warmup_set_s")
    if cp_ws is not None:
        r2s = ratio(bl_w, cp_ws)
        w(f"| the same, set-based source (`documents_query`) | {fmt(bl_w, 1)} s / {fmt(cp_ws, 2)} s = **{fmt(r2s, 1)}×** | {verdict(r2s is not None and r2s >= 20)} |")

    def stream_target(label, stream, flat):
        s, f = results.get(stream, {}), results.get(flat, {})
        if not s and not f:
            return
        kept_up = bool(s) and s.get("converged") and s.get("tail_s", 99) <= 1.0 and s.get("offered", 0) >= 49000
        flat_sets = f.get("sets_per_s")
        w(f"| {label} | at a fixed {fmt(num(facts, 'stream_rate'), 0)} rows/s "
          f"(offered {fmt(s.get('offered'), 0)}): **{fmt(s.get('delivered'), 0)}/s delivered**, "
          f"{'all in Redis ' + fmt(s.get('tail_s'), 2) + ' s after the writer stopped' if s.get('converged') else 'not converged'}; "
          f"flat out (writer offered {fmt(f.get('offered'), 0)} rows/s): **{fmt(flat_sets, 0)} distinct documents written/s** | "
          f"{verdict(kept_up or (flat_sets is not None and flat_sets >= 50000))} |")

    stream_target("≥ 50,000 distinct documents/s sustained on the 1000-row stream: per-key function source",
                  "cp_stream", "cp_flat")
    stream_target("the same, set-based source (`documents_query`)", "cp_stream_set", "cp_flat_set")
    fw = results.get("cp_flat_watch", {})
    if fw:
        w(f"| the set-based source fed by `watch()` (the commit queue) instead of NOTIFY, flat out: no fallback to a resync | "
          f"writer offered {fmt(fw.get('offered'), 0)} rows/s: **{fmt(fw.get('sets_per_s'), 0)} distinct documents written/s**, "
          f"{'all in Redis ' + fmt(fw.get('tail_s'), 2) + ' s after the writer stopped' if fw.get('converged') else 'not converged'}; "
          f"`falling back to a full resync` logged {events.get('cp_flat_watch', {}).get('overflow', 0)}× | "
          f"{verdict(bool(fw.get('converged')) and not events.get('cp_flat_watch', {}).get('overflow'))} |")
    p99 = css.get("p99")
    w(f"| lag p99 ≤ 50 ms at {facts.get('rate')} single-row transactions/s | **{fmt(p99, 1)} ms** "
      f"(p50 {fmt(css.get('p50'), 1)} ms) | {verdict(p99 is not None and p99 <= 50) if css else 'n/a'} |")
    sw = results.get("cp_single_watch", {})
    if sw:
        p99w = sw.get("p99")
        w(f"| lag p99 ≤ 5 ms at {facts.get('rate')} single-row transactions/s through `watch()` (issue 15), set-based source | "
          f"**{fmt(p99w, 1)} ms** (p50 {fmt(sw.get('p50'), 1)} ms) | {verdict(p99w is not None and p99w <= 5)} |")
    r3 = ratio(cp_b, bare)
    w(f"| bulk UPDATE of all rows converges in ≤ 2× the bare query | {fmt(cp_b, 2)} s / {fmt(bare, 2)} s = **{fmt(r3, 2)}×** | {verdict(r3 is not None and r3 <= 2)} |")
    limit = 64 + batch_mb
    w(f"| worker RSS ≤ 64 MB plus one batch ({batch_mb:.1f} MB), whatever the backlog | private memory (RssAnon) "
      f"max **{fmt(rss_anon / 1024 if rss_anon else None, 1)} MiB**; VmRSS max {fmt(rss_vm / 1024 if rss_vm else None, 0)} MiB "
      f"(includes shared buffers the worker touched) | {verdict(rss_anon is not None and rss_anon / 1024 <= limit)} (judged on RssAnon) |")
    w("")

    w("## Warmup and bulk UPDATE: N documents")
    w("")
    w("| what | seconds | × bare query |")
    w("| --- | --- | --- |")
    w(f"| bare document query `SELECT id, customer_get(id)::text FROM customer`, COPY to /dev/null (runs: "
      f"{', '.join(fmt(x, 2) for x in bare_runs)} s; the faster is the reference) | {fmt(bare, 2)} | 1.00 |")
    w(f"| set-based document query (one join + json_agg, informational) | {fmt(num(facts, 'set_query_s'), 2)} | {fmt(ratio(num(facts, 'set_query_s'), bare), 2)} |")
    w(f"| cachepusher warmup into an empty Redis (`add_source` until `status` says streaming with N written) | {fmt(cp_w, 2)} | {fmt(ratio(cp_w, bare), 2)} |")
    w(f"| cachepusher `resync()` into a full Redis | {fmt(cp_r, 2)} | {fmt(ratio(cp_r, bare), 2)} |")
    set_q = num(facts, "set_query_s")
    if cp_ws is not None:
        w(f"| cachepusher warmup of a set-based source (`documents_query` = examples/customer_documents.sql) into an "
          f"empty Redis: {fmt(ratio(cp_ws, set_q), 2)}× the set-based query, {fmt(ratio(cp_ws, cp_w), 2)}× the "
          f"function source's warmup, {fmt(ratio(bl_w, cp_ws), 1)}× faster than the baseline's | {fmt(cp_ws, 2)} | {fmt(ratio(cp_ws, bare), 2)} |")
    w(f"| baseline warmup (delete all keys, `UPDATE customer SET id_customer = id_customer`, one notification at a time) until DBSIZE = N | {fmt(bl_w, 1)} | {fmt(ratio(bl_w, bare), 1)} |")
    w(f"| cachepusher: bulk `UPDATE customer SET email = ...` of all rows ({fmt(num(facts, 'cp_bulk_update_s'), 1)} s itself), commit → Redis equal | {fmt(cp_b, 2)} | {fmt(ratio(cp_b, bare), 2)} |")
    w(f"| baseline: the same bulk UPDATE ({fmt(num(facts, 'bl_bulk_update_s'), 1)} s itself), commit → Redis equal | {fmt(bl_b, 1)} | {fmt(ratio(bl_b, bare), 1)} |")
    w("")
    w(f"The worker's own log: `{facts.get('cp_warmup_log', '')}` (warmup), `{facts.get('cp_resync_log', '')}` (resync)"
      + (f", `{facts['cp_warmup_set_log']}` (set-based warmup)." if facts.get("cp_warmup_set_log") else "."))
    overflowed = [p for p, e in events.items() if e["overflow"]]
    if overflowed:
        w("")
        where = ", ".join("%s (%d×)" % (p, events[p]["overflow"]) for p in overflowed)
        w(f"**The worker logged `falling back to a full resync`** (more than `cachepusher.max_pending` keys "
          f"waiting) in: {where}. Its log lines in those phases:")
        w("")
        w("```")
        for p in overflowed:
            for line in events[p]["lines"][:12]:
                w(f"{p}: {line}")
        w("```")
    w("")
    w("Redis compared with the database after each (`benchtool verify`: every document, and no other key):")
    w("")
    for key in ("cp_warmup_verify", "cp_bulk_verify", "cp_final_verify", "cp_warmup_set_verify",
                "cp_set_final_verify", "cp_watch_final_verify", "bl_warmup_verify",
                "bl_bulk_verify"):
        if key in facts:
            w(f"- {key.replace('_verify', '').replace('_', ' ')}: `{facts[key]}`")
    w("")

    w("## Streams: throughput and commit → Redis lag")
    w("")
    w(f"Lag is measured on a sample of every {every}th customer: from the moment the writer's COMMIT returned to the "
      "moment the watcher read that transaction's value back from Redis (see bench/README.md). Samples never seen "
      "count as infinitely late, so a percentile that falls among them reads n/a.")
    w("")
    w("| system | workload | transactions | writer offered rows/s | documents delivered/s | Redis SETs/s | lag p50 ms | p90 ms | p99 ms | max ms | samples (unseen) | converged | worker fell back to full resync |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        sys = name.split("_")[0]
        work = workload_name(name, facts)
        conv = (f"yes, {r['tail_s']:.2f} s after the writer stopped" if r.get("converged") and "tail_s" in r
                else f"no, not within {fmt(r.get('cap'), 0)} s")
        overflow = f"{events[name]['overflow']} times" if sys == "cp" and events[name]["overflow"] else ("no" if sys == "cp" else "-")
        w(f"| {SYSTEMS[sys]} | {work} | {r['txs']:,} | {fmt(r['offered'], 0)} | {fmt(r.get('delivered'), 0)} | "
          f"{fmt(r.get('sets_per_s'), 0)} | {fmt(r['p50'], 1)} | {fmt(r['p90'], 1)} | {fmt(r['p99'], 1)} | "
          f"{fmt(r['max'], 1)} | {r['samples']:,} ({r['unseen']:,}) | {conv} | {overflow} |")
    w("")
    for name, r in results.items():
        w(f"- {name} writer: `{r['writer']}`")
    w("")

    w("## Write overhead of the triggers (pgbench, 2 clients, "
      f"{facts.get('pgbench_seconds')} s each, the worker consuming)")
    w("")
    w("| trigger on customer | 1-row UPDATE tps | vs none | 1000-row UPDATE tps | rows/s | vs none |")
    w("| --- | --- | --- | --- | --- | --- |")
    for config, label in [("none", "none"), ("notify", "the seed's plpgsql `pg_notify` row trigger"),
                          ("watch", "`cachepusher.watch()`'s triggers")]:
        t1, t1000 = num(facts, f"pgbench_{config}_1_tps"), num(facts, f"pgbench_{config}_1000_tps")
        b1, b1000 = num(facts, "pgbench_none_1_tps"), num(facts, "pgbench_none_1000_tps")
        w(f"| {label} | {fmt(t1, 0)} | {fmt(ratio(t1, b1) * 100 if ratio(t1, b1) else None, 0)}% | {fmt(t1000, 1)} | "
          f"{fmt(t1000 * 1000 if t1000 else None, 0)} | {fmt(ratio(t1000, b1000) * 100 if ratio(t1000, b1000) else None, 0)}% |")
    w("")
    include_markdown(w, "commit-cost.md", "What a commit costs (bench/commit-cost, its last run: bench/commit-cost.md)")
    include_markdown(w, "commit-instructions.md",
                     "What a commit costs in instructions (bench/commit-instructions, its last run: bench/commit-instructions.md)")

    w("## Memory and CPU per phase")
    w("")
    w("cachepusher: the background worker (`backend_type = 'cachepusher'`). Baseline: its process and the "
      "PostgreSQL backend serving its connection. The Redis server of each system is listed for its CPU "
      "(its RSS is the cached data). RSS counts the shared buffers a process touched (RssShmem, "
      "up to `shared_buffers` = 1 GB here); RssAnon is its private memory. Cores: average CPU used in the phase.")
    w("")
    w("| phase | s | process | VmRSS max MiB | RssAnon start → max MiB | RssShmem max MiB | cores | machine busy | load max |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for phase, e in mem.items():
        for label in ("worker", "baseline", "baseline_backend", "redis_cp", "redis_bl"):
            if label not in e:
                continue
            m = e[label]
            w(f"| {phase} | {e['seconds']:.1f} | {label} | {m['rss_max'] / 1024:.1f} | "
              f"{(m['anon_first'] or 0) / 1024:.1f} → {m['anon_max'] / 1024:.1f} | {m['shmem_max'] / 1024:.1f} | "
              f"{fmt(m['cores'], 2)} | {fmt(e['machine_busy'] * 100 if e['machine_busy'] is not None else None, 0)}% | "
              f"{fmt(e['load_max'], 2)} |")
    w("")
    profiles = sorted(p for p in os.listdir(args_data_dir[0]) if p.startswith("perf_") and p.endswith(".txt"))
    if profiles:
        w("## Where the worker spends its CPU (perf record -e cpu-clock, `bench/run --perf`)")
        w("")
        for name in profiles:
            with open(os.path.join(args_data_dir[0], name)) as f:
                lines = [line.rstrip() for line in f if line.strip()][:22]
            w(f"{name[5:-4]}:")
            w("```")
            w("\n".join(lines))
            w("```")
        w("")
    include_markdown(w, "limits.md", "What limits cachepusher (profiled; written by hand, see bench/limits.md)")
    w("![results](results.png)")
    w("")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
