# Sourced by scripts/perf-flame.sh and scripts/callgrind-payments.sh: a
# `portcullis serve` with the settings `portcullis bench` gives its own
# gateways, and the bench's merchant.

# Writes DIR/gateway.toml: the echo route, and rate limits far above what a
# load generator sends.
write_bench_settings() {
    cat >"$1/gateway.toml" <<'SETTINGS'
bench_echo = true
rate_limit_per_key_per_s = 1000000
rate_limit_per_merchant_per_s = 1000000
SETTINGS
}

# Waits until the server PID has written `portcullis listening on URL` to
# OUT (at most LIMIT tenths of a second) and prints URL; on an early exit,
# prints LOG to stderr and fails.
wait_for_listening() {
    local pid=$1 out=$2 log=$3 limit=$4 url=
    for _ in $(seq "$limit"); do
        url=$(sed -n 's/^portcullis listening on //p' "$out" | head -n1)
        [ -n "$url" ] && break
        kill -0 "$pid" || { cat "$log" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$url" ] || { echo "serve did not start" >&2; return 1; }
    echo "$url"
}

# Creates the bench's merchant with BIN on DB_URL and DIR; prints its
# test secret key.
create_load_merchant() {
    PORTCULLIS_LOG=warn "$1" merchant create --name Load --json \
        --database-url "$2" --data-dir "$3" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["secret_key"])'
}

# Stops the server PID, if it was started and still runs (for an EXIT trap).
stop_server() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1"
        wait "$1" || true
    fi
}
