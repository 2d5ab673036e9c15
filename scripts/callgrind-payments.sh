#!/usr/bin/env bash
# Instructions and writes per payment on SQLite, counted rather than timed
# (BENCHMARKS.md, "Round two, session 9: SQLite, instructions per payment").
#
#   scripts/callgrind-payments.sh [PAYMENTS] [OUT.callgrind]
#
# Environment: PORTCULLIS_BIN (default target/profiling/portcullis, built by
# `cargo build --profile profiling -p portcullis`). Needs valgrind.
#
# Starts `portcullis serve` under callgrind with the settings `portcullis
# bench` gives its own gateways, sends 20 warm-up payments, zeroes the
# counters (`callgrind_control -z`), sends PAYMENTS (default 50) succeeding
# create-and-confirm payments one at a time (the bench's body,
# `pm_card_visa`, automatic capture), dumps the counters, and prints the
# gateway's instructions (Ir, every thread: HTTP, handlers, the SQLite
# writer, the checkpointer) and the SQLite writer's rows changed and pages
# written (the `/metrics` counters `--write-cost-payments` reads), each per
# payment. One payment at a time, so each write set commits alone, as in
# `--write-cost-payments`. The echo phase and the start-up are not counted,
# so two runs of one binary agree within a few percent (the background
# workers tick by the clock, and a loaded machine stretches each payment).
#
# CONNECTIONS=N (default 1): send the counted payments instead over N
# keep-alive connections at once (scripts/concurrent_payments.py), so that
# the writer's batches hold several write sets; the output adds the mean
# write sets per batch over the counted payments
# (`portcullis_sqlite_write_batch_size`) and the write sets re-run after a
# failure (`portcullis_sqlite_write_set_reruns_total`).
set -euo pipefail
. "$(dirname "$0")/bench-gateway.sh"

payments=${1:-50}
out=${2:-}
bin=${PORTCULLIS_BIN:-target/profiling/portcullis}
connections=${CONNECTIONS:-1}
warmup=20

work=$(mktemp -d -t portcullis-callgrind-XXXXXX)
server_pid=
cleanup() {
    stop_server "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

db_url="sqlite://$work/portcullis.db"
write_bench_settings "$work"

PORTCULLIS_LOG=info valgrind --tool=callgrind --collect-systime=no \
    --callgrind-out-file="$work/callgrind.out" \
    "$bin" serve --listen 127.0.0.1:0 --database-url "$db_url" \
    --data-dir "$work" --config "$work/gateway.toml" --create-database \
    >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
url=$(wait_for_listening "$server_pid" "$work/serve.out" "$work/serve.log" 1200)

key=$(create_load_merchant "$bin" "$db_url" "$work")

pay() {
    local order=$1
    local body
    body=$(printf '{"amount":%d,"currency":"usd","payment_method":"pm_card_visa","confirm":true,"capture_method":"automatic","description":"Order %012d from the benchmark","metadata":{"order_id":"ord_%012d","channel":"bench"}}' \
        $((1000 + order % 9000)) "$order" "$order")
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -u "$key:" \
        -H 'Content-Type: application/json' --data "$body" "$url/v1/payment_intents")
    [ "$status" = 200 ] || { echo "payment $order answered $status" >&2; exit 1; }
}
counter() {
    curl -s "$url/metrics" | awk -v name="$1" '$1 == name { print $2 }' | grep . || echo 0
}

for i in $(seq 1 "$warmup"); do pay "$i"; done
rows_before=$(counter portcullis_sqlite_rows_changed_total)
pages_before=$(counter portcullis_sqlite_pages_written_total)
batches_before=$(counter portcullis_sqlite_write_batch_size_count)
batched_before=$(counter portcullis_sqlite_write_batch_size_sum)
reruns_before=$(counter portcullis_sqlite_write_set_reruns_total)
callgrind_control -z "$server_pid" >/dev/null 2>&1
if [ "$connections" -gt 1 ]; then
    python3 "$(dirname "$0")/concurrent_payments.py" "$url" "$key" \
        $((warmup + 1)) "$payments" "$connections"
else
    for i in $(seq $((warmup + 1)) $((warmup + payments))); do pay "$i"; done
fi
callgrind_control -d "$server_pid" >/dev/null 2>&1
rows_after=$(counter portcullis_sqlite_rows_changed_total)
pages_after=$(counter portcullis_sqlite_pages_written_total)
batches_after=$(counter portcullis_sqlite_write_batch_size_count)
batched_after=$(counter portcullis_sqlite_write_batch_size_sum)
reruns_after=$(counter portcullis_sqlite_write_set_reruns_total)

dump=$(ls "$work"/callgrind.out.* | head -n1)
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
[ -n "$out" ] && cp "$dump" "$out"
python3 - "$payments" "$connections" "$total" "$rows_before" "$rows_after" \
    "$pages_before" "$pages_after" "$batches_before" "$batches_after" \
    "$batched_before" "$batched_after" "$reruns_before" "$reruns_after" <<'EOF'
import json, sys
n, c, total, rb, ra, pb, pa, bb, ba, sb, sa, xb, xa = (float(x) for x in sys.argv[1:])
print(json.dumps({
    "payments": int(n),
    "connections": int(c),
    "ir_per_payment": round(total / n),
    "sqlite_rows_changed_per_payment": round((ra - rb) / n, 2),
    "sqlite_pages_written_per_payment": round((pa - pb) / n, 2),
    "write_sets_per_batch_mean": round((sa - sb) / max(ba - bb, 1), 2),
    "write_set_reruns": int(xa - xb),
}))
EOF
