#!/usr/bin/env bash
# A CPU flame graph of `portcullis serve` while `portcullis bench --url`
# drives create-and-confirm payments at it (BENCHMARKS.md, "Where the time
# goes, profiled").
#
#   scripts/perf-flame.sh sqlite|postgres [OUT.svg]
#
# Environment: PORTCULLIS_BIN (default target/profiling/portcullis, built by
# `cargo build --profile profiling -p portcullis`), CONNECTIONS (64),
# DURATION_S (20: the length of each bench phase), PG_URL (the PostgreSQL
# server, postgres://postgres@127.0.0.1:5432/postgres). Needs `perf` and
# inferno (`cargo install inferno`: inferno-collapse-perf, inferno-flamegraph).
#
# Only the payments phase is recorded: the bench warms up 3 s, then runs the
# echo baseline for DURATION_S, then payments for DURATION_S; perf attaches
# to the server 2 s into the payments phase and stops 2 s before its end.
# Stacks are unwound from DWARF call-frame information (`--call-graph
# dwarf`): release code keeps no frame pointers, so `-g` alone stops at the
# first frame. The event is the cpu-clock software timer at 499 Hz.
# `perf script --no-inline`: perf 6.1 resolves inlined frames by running
# addr2line per address (minutes for a few thousand samples), so inlined
# functions are counted in the function they were inlined into.
set -euo pipefail
. "$(dirname "$0")/bench-gateway.sh"

backend=${1:?usage: scripts/perf-flame.sh sqlite|postgres [OUT.svg]}
out=${2:-docs/perf/flame-$backend-64.svg}
bin=${PORTCULLIS_BIN:-target/profiling/portcullis}
connections=${CONNECTIONS:-64}
duration=${DURATION_S:-20}
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
warmup=3

work=$(mktemp -d -t portcullis-flame-XXXXXX)
server_pid=
cleanup() {
    stop_server "$server_pid"
    if [ "$backend" = postgres ]; then
        psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

case "$backend" in
sqlite) db_url="sqlite://$work/portcullis.db" ;;
postgres)
    pg_name="portcullis_flame_$$"
    db_url="${pg_url%/*}/$pg_name"
    ;;
*)
    echo "backend must be sqlite or postgres" >&2
    exit 2
    ;;
esac

write_bench_settings "$work"

PORTCULLIS_LOG=info "$bin" serve --listen 127.0.0.1:0 --database-url "$db_url" \
    --data-dir "$work" --config "$work/gateway.toml" --create-database \
    >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
url=$(wait_for_listening "$server_pid" "$work/serve.out" "$work/serve.log" 600)

key=$(create_load_merchant "$bin" "$db_url" "$work")

"$bin" bench --url "$url" --secret-key "$key" --connections "$connections" \
    --duration-s "$duration" --warmup-s "$warmup" --json >"$work/bench.json" &
bench_pid=$!
sleep $((warmup + duration + 2))
perf record -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$server_pid" \
    -o "$work/perf.data" -- sleep $((duration - 4)) 2>"$work/perf.log"
wait "$bench_pid"

perf script --no-inline -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
mkdir -p "$(dirname "$out")"
inferno-flamegraph --title "portcullis serve, $backend, $connections connections, payments phase" \
    --width 1600 <"$work/folded" >"$out"
cp "$work/folded" "${out%.svg}.folded"
cat "$work/bench.json"
echo "wrote $out and ${out%.svg}.folded" >&2
