#!/usr/bin/env python3
"""Throughput against connections: `portcullis bench --json` at each
connection count on each backend, the figures as JSON lines, and an SVG
chart drawn from them (BENCHMARKS.md, "Throughput against connections").

    python3 scripts/bench_sweep.py [--bin target/release/portcullis]
        [--connections 1,2,4,8,16,32,64,128,256] [--backends sqlite,postgres]
        [--duration-s 10] [--warmup-s 3] [--out docs/perf/sweep.jsonl]
        [--svg docs/perf/throughput-vs-connections.svg]
    python3 scripts/bench_sweep.py --redraw   # the SVG again from --out

Each point is one bench run: a fresh database, its own echo baseline
measured in the same run, then the payments phase. Standard library only.
"""

import argparse
import json
import math
import subprocess
import sys
from xml.sax.saxutils import escape

PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
COLOURS = {"sqlite": "#1f77b4", "postgres": "#d62728"}
NAMES = {"sqlite": "SQLite (WAL, synchronous=FULL)", "postgres": "PostgreSQL 15 (pool of 16)"}


def main():
    args = parse_args()
    if not args.redraw:
        sweep(args)
    with open(args.out, encoding="utf-8") as lines:
        runs = [json.loads(line) for line in lines if line.strip()]
    with open(args.svg, "w", encoding="utf-8") as svg:
        svg.write(chart(runs))
    print(f"wrote {args.svg} from {len(runs)} runs in {args.out}", file=sys.stderr)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="target/release/portcullis")
    parser.add_argument("--connections", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--duration-s", type=int, default=10)
    parser.add_argument("--warmup-s", type=int, default=3)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", default="docs/perf/sweep.jsonl")
    parser.add_argument("--svg", default="docs/perf/throughput-vs-connections.svg")
    parser.add_argument("--redraw", action="store_true", help="only draw the SVG from --out")
    return parser.parse_args()


def sweep(args):
    counts = [int(c) for c in args.connections.split(",")]
    with open(args.out, "w", encoding="utf-8") as out:
        for backend in args.backends.split(","):
            url = "sqlite" if backend == "sqlite" else args.pg_url
            for connections in counts:
                command = [args.bin, "bench", "--database-url", url,
                           "--connections", str(connections),
                           "--duration-s", str(args.duration_s),
                           "--warmup-s", str(args.warmup_s), "--json"]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
                run = json.loads(done.stdout.strip().splitlines()[-1])
                run.pop("phases", None)
                out.write(json.dumps(run) + "\n")
                out.flush()
                print(f"{backend:8} {connections:4} connections: {run['payments_per_s']:>8} payments/s, "
                      f"{run['ratio'] * 100:.2f} % of {run['baseline_rps']} echo, p99 {run['p99_ms']} ms, "
                      f"load {load(run, 'before')} -> {load(run, 'after')}", file=sys.stderr)


def load(run, when):
    """The 1-minute load average before or after the run (0 if unknown)."""
    return (run.get(f"load_avg_{when}") or [0.0])[0]


def nice_max(value):
    """The smallest 1, 2 or 5 × 10^k at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def panel(runs, top, title, unit, field):
    """One chart: field against connections (log 2 axis), a line per backend."""
    left, width, height = 90, 620, 240
    counts = sorted({r["connections"] for r in runs})
    lo, hi = math.log2(counts[0]), math.log2(counts[-1])
    y_max = nice_max(max(field(r) for r in runs))

    def x(c):
        return left + (math.log2(c) - lo) / max(hi - lo, 1) * width

    def y(v):
        return top + height - v / y_max * height

    parts = [f'<text x="{left}" y="{top - 12}" font-weight="bold">{escape(title)}</text>']
    for i in range(6):
        v = y_max * i / 5
        parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        label = f"{v:,.0f}" if y_max >= 10 else f"{v:.1f}"
        parts.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{label}</text>')
    for c in counts:
        parts.append(f'<line x1="{x(c):.1f}" x2="{x(c):.1f}" y1="{top}" y2="{top + height}" stroke="#eee"/>')
        parts.append(f'<text x="{x(c):.1f}" y="{top + height + 18}" text-anchor="middle">{c}</text>')
    parts.append(f'<text x="{left + width / 2}" y="{top + height + 38}" text-anchor="middle">connections</text>')
    parts.append(f'<text x="20" y="{top + height / 2}" transform="rotate(-90 20 {top + height / 2})" '
                 f'text-anchor="middle">{escape(unit)}</text>')
    for backend in sorted({r["backend"] for r in runs}):
        points = sorted((r["connections"], field(r)) for r in runs if r["backend"] == backend)
        colour = COLOURS.get(backend, "#333")
        path = " ".join(f"{x(c):.1f},{y(v):.1f}" for c, v in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for c, v in points:
            parts.append(f'<circle cx="{x(c):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{backend}, {c} connections: {v:,.2f} {escape(unit)}</title></circle>')
    return parts


def chart(runs):
    panels = [
        ("Create-and-confirm payments per second", "payments/s", lambda r: r["payments_per_s"]),
        ("Payments as a share of the same run's echo baseline", "% of echo", lambda r: r["ratio"] * 100),
        ("p99 latency of a payment", "ms", lambda r: r["p99_ms"]),
        ("The same run's echo baseline (no storage)", "requests/s", lambda r: r["baseline_rps"]),
    ]
    parts = []
    top = 70
    for title, unit, field in panels:
        parts += panel(runs, top, title, unit, field)
        top += 320
    first = runs[0]
    machine = (f'{first.get("cpus")} CPUs ({escape(str(first.get("cpu_model")))}), '
               f'{first.get("build_profile")} build, {first.get("duration_s")} s per phase, client on the same machine; '
               f'load average {min(load(r, "before") for r in runs):.1f}–{max(load(r, "after") for r in runs):.1f}')
    legend = []
    for i, backend in enumerate(sorted({r["backend"] for r in runs})):
        lx = 90 + i * 320
        legend.append(f'<rect x="{lx}" y="34" width="14" height="4" fill="{COLOURS.get(backend, "#333")}"/>')
        legend.append(f'<text x="{lx + 20}" y="40">{escape(NAMES.get(backend, backend))}</text>')
    height = top - 20
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{height}" '
            f'font-family="sans-serif" font-size="12">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="90" y="18" font-size="10" fill="#555">{machine}</text>')
    return head + "".join(legend + parts) + "</svg>\n"


if __name__ == "__main__":
    main()
