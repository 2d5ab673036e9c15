#!/usr/bin/env bash
# Interleaved `portcullis bench` runs of several builds, so that each
# build's figures come from the same minutes of a noisy machine as the
# others' (BENCHMARKS.md: compare ratios to the same run's echo, never
# absolute figures across runs).
#
#   scripts/bench_pairs.sh OUT.jsonl ROUNDS BINARY... [-- BENCH_FLAGS...]
#
# Each round runs every BINARY once on SQLite (a fresh --data-dir) and once
# on PostgreSQL (BENCH_DATABASE_URL, default the local server; `bench`
# makes and drops its own database), in the order given, then the next
# round in reverse order, so that no build always runs first. BENCH_FLAGS
# default to `--connections 64 --duration-s 10`. Each run appends one line
# to OUT.jsonl: {"binary", "backend", "round", "load_before", "bench": the
# run's `--json` object}. BACKENDS=sqlite or BACKENDS=postgres runs one.
set -euo pipefail

if (($# < 3)); then
    sed -n '2,15p' "$0" >&2
    exit 2
fi
out=$1
rounds=$2
shift 2
binaries=()
while (($#)) && [[ $1 != -- ]]; do
    binaries+=("$1")
    shift
done
(($#)) && shift
flags=("$@")
((${#flags[@]})) || flags=(--connections 64 --duration-s 10)
postgres_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
read -r -a backends <<<"${BACKENDS:-sqlite postgres}"

run_one() {
    local binary=$1 backend=$2 round=$3 data json load
    local database=()
    [[ $backend == postgres ]] && database=(--database-url "$postgres_url")
    data=$(mktemp -d -t portcullis-pairs-XXXXXX)
    load=$(cut -d' ' -f1 /proc/loadavg)
    json=$(PORTCULLIS_LOG=warn "$binary" bench --data-dir "$data" "${database[@]}" --json "${flags[@]}")
    rm -rf "$data"
    # One line to OUT, one summary line to stderr.
    python3 -c '
import json, sys
binary, backend, round_, load, out = sys.argv[1:6]
bench = json.loads(sys.argv[6])
with open(out, "a") as f:
    print(json.dumps({"binary": binary, "backend": backend, "round": int(round_),
                      "load_before": float(load), "bench": bench}), file=f)
per_s, echo = bench.get("payments_per_s", 0), bench.get("baseline_rps", 0)
ratio, p99 = bench.get("ratio", 0) * 100, bench.get("p99_ms", 0)
print(f"{binary:>50} {backend:>8}: {per_s:>8.0f}/s of {echo:>8.0f} echo = {ratio:.2f} %, p99 {p99:.1f} ms",
      file=sys.stderr)
' "$binary" "$backend" "$round" "$load" "$out" "$json"
}

for ((round = 1; round <= rounds; round++)); do
    order=("${binaries[@]}")
    if ((round % 2 == 0)); then
        order=()
        for ((i = ${#binaries[@]} - 1; i >= 0; i--)); do order+=("${binaries[$i]}"); done
    fi
    for backend in "${backends[@]}"; do
        for binary in "${order[@]}"; do
            run_one "$binary" "$backend" "$round"
        done
    done
done
