#!/usr/bin/env python3
"""A PostgreSQL `portcullis bench` with what the gateways and the server
did during it (BENCHMARKS.md, "Round two, session 9"):

    python3 scripts/pg_bench_sample.py BINARY OUT [more bench flags]
    python3 scripts/pg_bench_sample.py --analyze OUT

runs `BINARY bench --database-url postgres://postgres@127.0.0.1:5432/postgres
--connections 64 --duration-s 10 --instances 2 --json` (plus the flags
given, e.g. `--rate 1000`) and samples beside it: the run's backends in
`pg_stat_activity` every 0.2 s (wait events; the statement of a lock
wait), `pg_stat_database`/`pg_stat_wal` every second, each gateway's
`/metrics` every second (the PostgreSQL writer's histograms), and the CPU
time and run-queue wait (`/proc/PID/schedstat`) of the gateways, the bench
and the run's backends. Writes OUT.json (the bench's report), OUT.waits,
OUT.metrics, OUT.cpu, then prints per phase (one instance, two
instances): write sets per batch, ms per batch, ms the chain head was
held, pool wait, mean backends per wait event, CPU, and commits, WAL
syncs and rows per ledger append. Loopback only; it stops with the bench.
"""
import collections, json, re, subprocess, sys, threading, time, urllib.request, os
def bench_command(binary, extra):
    return ["nice", "-n", "0", binary, "bench", "--database-url", "postgres://postgres@127.0.0.1:5432/postgres",
       "--connections", "64", "--duration-s", "10", "--instances", "2", "--json"] + extra

stop = False
WANT = ("portcullis_postgres_chain_head_held_seconds", "portcullis_postgres_commit_seconds",
        "portcullis_postgres_write_batch_size", "portcullis_postgres_pool_wait_seconds",
        "portcullis_ledger_appends_total")
def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
    except Exception:
        return []
def ports(pids):
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    found = {}
    for line in ss.splitlines():
        m = re.search(r"127\.0\.0\.1:(\d+) .*pid=(\d+)", line)
        if m and int(m.group(2)) in pids:
            found.setdefault(int(m.group(2)), []).append(int(m.group(1)))
    return found
def scrape(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except Exception:
        return None
    vals = {}
    for line in text.splitlines():
        if line.startswith(WANT) and ("_sum" in line.split(" ")[0] or "_count" in line.split(" ")[0] or "_total" in line.split(" ")[0]):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals if vals else None
DB = [None]
def psql(q):
    return subprocess.run(["psql", "postgres://postgres@127.0.0.1:5432/postgres", "-AtF", "|", "-c", q],
                          capture_output=True, text=True).stdout.strip()
def discover_db(bench_pid):
    while DB[0] is None and not stop:
        pids = children(bench_pid)
        ss = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout
        lports = []
        for line in ss.splitlines():
            m = re.search(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:5432 .*pid=(\d+)", line)
            if m and int(m.group(2)) in pids:
                lports.append(m.group(1))
        if lports:
            r = psql(f"SELECT datname FROM pg_stat_activity WHERE client_port IN ({','.join(lports)}) LIMIT 1")
            if r:
                DB[0] = r
        time.sleep(0.2)
def sample_waits(f, bench_pid):
    discover_db(bench_pid)
    q = ("SELECT coalesce(wait_event_type,'cpu')||':'||coalesce(wait_event,'-')||':'||state||"
         "CASE WHEN wait_event_type = 'Lock' THEN ':'||left(regexp_replace(query, '\\s+', ' ', 'g'), 50) ELSE '' END, count(*) "
         f"FROM pg_stat_activity WHERE backend_type='client backend' AND datname = '{DB[0]}' "
         "AND state <> 'idle' AND pid <> pg_backend_pid() GROUP BY 1")
    f.write(f"db {DB[0]}\n")
    qs = ("SELECT d.xact_commit||'|'||d.tup_inserted||'|'||d.tup_updated||'|'||w.wal_write||'|'||w.wal_sync||'|'||w.wal_bytes "
          f"FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = '{DB[0]}'")
    n = 0
    while not stop:
        if n % 5 == 0:
            f.write(f"{time.time():.2f} STATS {psql(qs)}\n")
        n += 1
        r = psql(q).replace("\n", ";")
        f.write(f"{time.time():.2f} {r}\n"); f.flush()
        time.sleep(0.2)
def cpu_ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except Exception:
        return 0
def sched(pid):
    run = wait = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            a = open(f"/proc/{pid}/task/{t}/schedstat").read().split()
            run += int(a[0]); wait += int(a[1])
    except Exception:
        pass
    return [run, wait]
def sample_cpu(f, bench_pid):
    while not stop:
        if DB[0]:
            backends = psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB[0]}' AND pid <> pg_backend_pid()").split()
            gw = children(bench_pid)
            f.write(json.dumps({"t": round(time.time(), 2), "bench": cpu_ticks(bench_pid),
                                "gateways": {str(p): cpu_ticks(p) for p in gw},
                                "sched": {str(p): sched(p) for p in gw + [bench_pid]},
                                "backends": sum(cpu_ticks(int(b)) for b in backends)}) + "\n"); f.flush()
        time.sleep(1)
def sample_metrics(f, bench_pid):
    known = {}
    while not stop:
        pids = children(bench_pid)
        if pids:
            for pid, ps in ports(pids).items():
                for p in ps:
                    v = scrape(p)
                    if v is not None:
                        f.write(json.dumps({"t": round(time.time(), 2), "pid": pid, "port": p, "m": v}) + "\n"); f.flush()
                        break
        time.sleep(1)

def run(binary, out, extra):
    global stop
    cmd = bench_command(binary, extra)
    load0 = open("/proc/loadavg").read().split()[:3]
    p = subprocess.Popen(cmd, stdout=open(out + ".json", "w"), stderr=open(out + ".err", "w"))
    wf, mf = open(out + ".waits", "w"), open(out + ".metrics", "w")
    t1 = threading.Thread(target=sample_waits, args=(wf, p.pid)); t2 = threading.Thread(target=sample_metrics, args=(mf, p.pid))
    cf = open(out + ".cpu", "w")
    t3 = threading.Thread(target=sample_cpu, args=(cf, p.pid))
    t1.start(); t2.start(); t3.start()
    rc = p.wait(); stop = True; t1.join(); t2.join(); t3.join()
    load1 = open("/proc/loadavg").read().split()[:3]
    print(out, "rc", rc, "load before", load0, "after", load1)


def analyze(out):
    bench = json.load(open(out + ".json"))
    rows = [json.loads(l) for l in open(out + ".metrics")]
    by_pid = collections.defaultdict(list)
    for r in rows:
        by_pid[r["pid"]].append(r)
    def m(r, name):
        return r["m"].get(name, 0.0)
    AP = "portcullis_ledger_appends_total"
    pids = sorted(by_pid, key=lambda p: by_pid[p][0]["t"])
    # instance A: the one whose appends rise while the other's do not
    def rising(p):
        s = by_pid[p]
        return [(s[i]["t"], m(s[i], AP) > m(s[i-1], AP)) for i in range(1, len(s))]
    rise = {p: dict(rising(p)) for p in pids}
    def window(p, t0, t1):
        s = [r for r in by_pid[p] if t0 <= r["t"] <= t1]
        if len(s) < 2: return None
        a, b = s[0], s[-1]
        d = lambda n: m(b, n) - m(a, n)
        res = {}
        for base in ("portcullis_postgres_write_batch_size", "portcullis_postgres_commit_seconds",
                     "portcullis_postgres_chain_head_held_seconds", "portcullis_postgres_pool_wait_seconds"):
            c = d(base + "_count"); su = d(base + "_sum")
            res[base.replace("portcullis_postgres_", "")] = (round(su / c, 4) if c else None, int(c))
        res["appends"] = d(AP)
        res["secs"] = round(b["t"] - a["t"], 1)
        return res
    phases = {}
    if len(pids) > 1:
        X, Y = pids
        sx, sy = by_pid[X], by_pid[Y]
        n = min(len(sx), len(sy))
        up = [(m(sx[i], AP) > m(sx[i-1], AP), m(sy[i], AP) > m(sy[i-1], AP)) for i in range(1, n)]
        # the echo baseline: three intervals or more with no append anywhere
        g = next(i for i in range(len(up) - 2) if not any(up[i][0] or up[i][1] for i in range(i, i + 3)) and i > 0)
        while not (up[g][0] or up[g][1]):
            g += 1
        A, B = (X, Y) if up[g][0] else (Y, X)
        sa, sb = (sx, sy) if A == X else (sy, sx)
        ia = 0 if A == X else 1
        one_start = g
        two_start = next(i for i in range(g, len(up)) if up[i][1 - ia])
        two_end = max(i for i in range(two_start, len(up)) if up[i][0] or up[i][1])
        t = lambda i: sa[i]["t"]
        # interval i runs from sample i to sample i+1
        phases = {"one": (t(one_start) - 0.05, t(two_start) + 0.05, [A]),
                  "two": (t(two_start) - 0.05, t(two_end + 1) + 0.05, [A, B])}
    waits = []
    stats = []
    for line in open(out + ".waits"):
        if line.startswith("db"): continue
        t, rest = line.split(" ", 1)
        if rest.startswith("STATS") and len(rest.split()) < 2:
            continue
        if rest.startswith("STATS"):
            stats.append((float(t), [float(x) for x in rest.split()[1].split("|")]))
        else:
            waits.append((float(t), rest.strip()))
    ph = {p["name"] if isinstance(p, dict) and "name" in p else None: p for p in bench.get("phases", [])} if isinstance(bench, dict) else {}
    for name, (t0, t1, insts) in phases.items():
        print(f"== phase {name}: {t1 - t0:.1f} s")
        for p in insts:
            print("  gateway", p, window(p, t0, t1))
        cnt = collections.Counter(); n = 0
        for t, w in waits:
            if t0 <= t <= t1:
                n += 1
                for item in w.split(";"):
                    if "|" in item:
                        k, v = item.split("|"); cnt[k] += int(v)
        print(f"  pg_stat_activity, {n} samples, mean active backends by wait:")
        for k, v in cnt.most_common(12):
            print(f"    {k}: {v / max(n, 1):.2f}")
        cpu = [json.loads(l) for l in open(out + ".cpu")]
        cw = [c for c in cpu if t0 <= c["t"] <= t1]
        if len(cw) >= 2:
            a, b = cw[0], cw[-1]; dt = b["t"] - a["t"]
            gw = {p: (b["gateways"].get(p, 0) - a["gateways"].get(p, 0)) / 100 / dt for p in b["gateways"]}
            print(f"  CPU (cores busy) over {dt:.1f} s: load generator {(b['bench']-a['bench'])/100/dt:.2f}, gateways " +
                  ", ".join(f"{p} {v:.2f}" for p, v in gw.items()) + f", postgres backends {(b['backends']-a['backends'])/100/dt:.2f}")
            for p in b.get("sched", {}):
                if p in a.get("sched", {}):
                    run = (b["sched"][p][0] - a["sched"][p][0]) / 1e9 / dt
                    wait = (b["sched"][p][1] - a["sched"][p][1]) / 1e9 / dt
                    print(f"    {p}: on CPU {run:.2f} s/s, runnable but waiting for a CPU {wait:.2f} s/s")
        st = [s for s in stats if t0 <= s[0] <= t1]
        if len(st) >= 2:
            d = [b - a for a, b in zip(st[0][1], st[-1][1])]
            appends = sum((window(p, t0, t1) or {}).get("appends", 0) for p in insts)
            batches = sum(((window(p, t0, t1) or {}).get("commit_seconds", (0, 0))[1]) for p in insts)
            print(f"  over {st[-1][0]-st[0][0]:.1f} s: xact_commit {d[0]:.0f}, inserted {d[1]:.0f}, updated {d[2]:.0f}, wal_write {d[3]:.0f}, wal_sync {d[4]:.0f} (server-wide), appends {appends:.0f}, batches {batches}")
            if appends:
                print(f"  per ledger append: commits {d[0]/appends:.2f}, wal_syncs {d[4]/appends:.2f}, rows ins {d[1]/appends:.1f} upd {d[2]/appends:.1f}")
    print(json.dumps({k: bench.get(k) for k in bench if k != "phases"} if isinstance(bench, dict) else bench)[:1500])

if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--analyze":
        analyze(sys.argv[2])
    elif len(sys.argv) >= 3:
        run(sys.argv[1], sys.argv[2], sys.argv[3:])
        analyze(sys.argv[2])
    else:
        sys.exit(__doc__)
