"""Samples, every --interval seconds until SIGTERM, what bench/run reports beside its timings:

  - memory and CPU time of the processes named in --pids (lines "label pid", re-read when the file
    changes): VmRSS, RssAnon, RssFile, RssShmem from /proc/<pid>/status, utime+stime from /proc/<pid>/stat;
  - the machine: CPU busy and total jiffies from /proc/stat, load average;
  - each Redis named with --redis label=port: how many SET commands it has executed (INFO commandstats).

Writes one CSV line per sample and process: t_us,label,pid,vmrss_kb,rss_anon_kb,rss_file_kb,rss_shmem_kb,cpu_ticks
(machine lines: label "machine", rss columns empty, cpu_ticks = busy jiffies, pid = total jiffies, and
load1 in the vmrss column; Redis lines: label "sets:<name>", cpu_ticks = SET calls).
"""
import argparse
import os
import signal
import socket
import sys
import time

stop = False


def on_stop(*_):
    global stop
    stop = True


def proc_memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(rest.split()[0])
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    after_comm = stat[stat.rindex(")") + 2:].split()
    ticks = int(after_comm[11]) + int(after_comm[12])  # utime, stime (fields 14, 15)
    return fields, ticks


def machine_cpu():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return total - idle, total


class Redis:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def set_calls(self):
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                self.file = self.sock.makefile("rb")
            self.sock.sendall(b"INFO commandstats\r\n")
            header = self.file.readline()
            body = self.file.read(int(header[1:]) + 2).decode()
            for line in body.splitlines():
                if line.startswith("cmdstat_set:"):
                    return int(line.split("calls=")[1].split(",")[0])
            return 0
        except (OSError, ValueError):
            self.sock = None
            return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pids", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--redis", action="append", default=[])
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    redises = {}
    for item in args.redis:
        name, _, port = item.partition("=")
        redises[name] = Redis(int(port))
    pids, pids_mtime = [], None
    out = open(args.out, "w", buffering=1 << 16)
    out.write("t_us,label,pid,vmrss_kb,rss_anon_kb,rss_file_kb,rss_shmem_kb,cpu_ticks\n")
    next_t = time.time()
    while not stop:
        try:
            mtime = os.stat(args.pids).st_mtime_ns
            if mtime != pids_mtime:
                pids_mtime = mtime
                with open(args.pids) as f:
                    pids = [line.split() for line in f if len(line.split()) == 2]
        except OSError:
            pass
        t = int(time.time() * 1e6)
        for label, pid in pids:
            try:
                mem, ticks = proc_memory(pid)
            except (OSError, ValueError, IndexError):
                continue
            out.write(f"{t},{label},{pid},{mem.get('VmRSS', '')},{mem.get('RssAnon', '')},"
                      f"{mem.get('RssFile', '')},{mem.get('RssShmem', '')},{ticks}\n")
        busy, total = machine_cpu()
        with open("/proc/loadavg") as f:
            load1 = f.read().split()[0]
        out.write(f"{t},machine,{total},{load1},,,,{busy}\n")
        for name, redis in redises.items():
            calls = redis.set_calls()
            if calls is not None:
                out.write(f"{t},sets:{name},{redis.port},,,,,{calls}\n")
        next_t += args.interval
        delay = next_t - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            next_t = time.time()
    out.close()


if __name__ == "__main__":
    sys.exit(main())
