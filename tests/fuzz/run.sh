#!/usr/bin/env bash
# Fuzz suite: schemathesis generates requests from Portcullis's own OpenAPI
# document (GET /openapi.json) and checks every answer: no 5xx, every status
# and content type documented, every body valid against its schema, and
# invalid input rejected with a 4xx.
#   PORTCULLIS_BIN    the binary to test (default target/release/portcullis,
#                     relative to the current directory or the repository root)
#   PYTHON            the interpreter that makes the venv (default python3)
#   FUZZ_MAX_EXAMPLES test cases per operation and phase in one pass
#                     (default 150)
#   FUZZ_MAX_TIME_S   schemathesis's own time budget (`--max-time`, default
#                     360): it shares the budget out per operation and phase,
#                     so every operation is fuzzed, stops cleanly when it is
#                     spent, and starts another pass when one ends early. One
#                     full pass of 209 operations at 150 examples took 364 s
#                     on a quiet 2-core AMD EPYC box (41,407 test cases); on a
#                     slower or busier box the budget holds and each
#                     operation gets fewer examples.
#   FUZZ_TIMEOUT_S    wall-clock bound that catches a hang (default the budget
#                     plus 240 s; `timeout` exits 124 when it fires)
#   FUZZ_SEED         fixes the random seed (default: a new one each run; the
#                     seed is printed, so a failure can be replayed with it)
#   PORTCULLIS_FUZZ_KEEP_TMP  set to keep the server's data dir, log and the
#                     schemathesis reports
# Extra arguments go to `schemathesis run`. Exits non-zero when a check
# fails, when the run exceeds FUZZ_TIMEOUT_S (a hang: the budget alone ends
# it cleanly), or when the server does not stop cleanly on SIGTERM.
#
# Like the other suites it starts a fresh `portcullis serve` on port 0 with a
# temporary data dir, makes a merchant with the CLI, and stops the server
# with SIGTERM afterwards (which must exit 0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
START_TIMEOUT_S=30
STOP_TIMEOUT_S=20
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-150}"
MAX_TIME_S="${FUZZ_MAX_TIME_S:-360}"
TIMEOUT_S="${FUZZ_TIMEOUT_S:-$((MAX_TIME_S + 240))}"

log() { printf 'fuzz: %s\n' "$*"; }

# --- the binary ------------------------------------------------------------------
named="${PORTCULLIS_BIN:-target/release/portcullis}"
bin=""
if [[ "$named" = /* ]]; then
    candidates=("$named")
else
    candidates=("$PWD/$named" "$root/$named")
fi
for candidate in "${candidates[@]}"; do
    if [[ -f "$candidate" && -x "$candidate" ]]; then
        bin="$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")"
        break
    fi
done
if [[ -z "$bin" ]]; then
    echo "fuzz: portcullis binary not found: $named (looked at ${candidates[*]});" \
        "build it with \`cargo build --release -p portcullis\` or set PORTCULLIS_BIN" >&2
    exit 2
fi

# --- the venv ------------------------------------------------------------------------
venv="$root/.venv-fuzz"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    "$python" -m venv "$venv"
fi
# Idempotent: with every requirement pinned and already present, pip
# changes nothing and contacts no index.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
log "$("$venv/bin/schemathesis" --version)"

# --- a fresh server --------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-fuzz.XXXXXX")"
data="$tmp/data"
server_pid=""

# The environment without PORTCULLIS_* settings, so only the flags given here
# decide where data lives (no stray database URL or config), as in conftest.py.
clean_env=(env)
while IFS='=' read -r name _; do
    [[ "$name" == PORTCULLIS_* ]] && clean_env+=(-u "$name")
done < <(env)

stop_server() {
    local code=0
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        for _ in $(seq $((STOP_TIMEOUT_S * 10))); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "fuzz: portcullis ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it" >&2
            kill -KILL "$server_pid" 2>/dev/null || true
            wait "$server_pid" 2>/dev/null || true
            code=1
        else
            wait "$server_pid" || code=$?
        fi
    elif [[ -n "$server_pid" ]]; then
        wait "$server_pid" || code=$?
    fi
    server_pid=""
    return "$code"
}

cleanup() {
    stop_server || true
    if [[ -n "${PORTCULLIS_FUZZ_KEEP_TMP:-}" ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# Funds settle at once and the ledger worker runs often, so seed.py can make
# payouts (with the default two-day delay there would be nothing to pay out).
cat >"$tmp/portcullis.toml" <<'EOF'
ledger_worker_interval_ms = 200
# schemathesis sends as fast as it can with one key; it tests the schema,
# not the rate limits (tests/owasp does).
rate_limit_per_key_per_s = 1000000
rate_limit_per_merchant_per_s = 1000000

[ledger.default]
settlement_delay_s = 0
EOF

log "starting $bin serve (data in $data)"
# --webhooks-allow-private-targets: the seeded webhook endpoints point at a
# closed loopback port (see seed.py), so deliveries fail on the spot and
# nothing is ever sent off this machine.
"${clean_env[@]}" "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" --config "$tmp/portcullis.toml" \
    --webhooks-allow-private-targets </dev/null >"$tmp/stdout.log" 2>"$tmp/server.log" &
server_pid=$!

base_url=""
for _ in $(seq $((START_TIMEOUT_S * 10))); do
    base_url="$(grep -oE 'portcullis listening on http://127\.0\.0\.1:[0-9]+' "$tmp/stdout.log" 2>/dev/null |
        head -n1 | sed 's/^portcullis listening on //' || true)"
    [[ -n "$base_url" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$base_url" ]]; then
    echo "fuzz: portcullis did not report its address within ${START_TIMEOUT_S}s" >&2
    echo "--- stdout"; cat "$tmp/stdout.log" >&2 || true
    echo "--- stderr"; tail -n 60 "$tmp/server.log" >&2 || true
    exit 1
fi
log "server at $base_url"

if ! merchant_json="$("${clean_env[@]}" "$bin" merchant create --name Fuzz --json --data-dir "$data" \
    </dev/null 2>"$tmp/cli.log")"; then
    echo "fuzz: portcullis merchant create failed:" >&2
    cat "$tmp/cli.log" >&2
    exit 1
fi
secret_key="$("$venv/bin/python" -c '
import json, sys
merchant = json.loads(sys.argv[1])
if not merchant.get("secret_key"):
    sys.exit(f"no secret_key in {sys.argv[1]}")
print(merchant["secret_key"], end="")
' "$merchant_json")"

# --- objects to fuzz -------------------------------------------------------------------
# One object of each kind, whose ids the fuzzer then offers to the {id}
# operations; the run's configuration is the checked-in one plus them.
config="$tmp/schemathesis.toml"
cp "$here/schemathesis.toml" "$config"
"$venv/bin/python" "$here/seed.py" "$base_url" "$secret_key" >>"$config"

# --- the document ---------------------------------------------------------------------------
# The served document, with each request body described once, as JSON. A
# form body has the same schema, but form encoding cannot carry what
# negative cases are made of (an empty list or hash sends nothing, repeated
# keys merge, every leaf is a string), so schemathesis's "invalid" form
# bodies arrive valid and would be reported as accepted invalid data. Query
# strings (every GET) are still form-encoded and fuzzed; the form parser is
# also covered by the client-library suites and the README test.
document="$tmp/openapi.json"
"$venv/bin/python" - "$base_url/openapi.json" "$document" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as answer:
    document = json.load(answer)
for operations in document["paths"].values():
    for operation in operations.values():
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            content.pop("application/x-www-form-urlencoded", None)
json.dump(document, open(sys.argv[2], "w"))
PY

# --- the fuzzing --------------------------------------------------------------------------
seed="${FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}"
log "schemathesis against $base_url (its /openapi.json): at most $MAX_EXAMPLES examples per operation" \
    "and pass, a budget of ${MAX_TIME_S}s (a hang is stopped at ${TIMEOUT_S}s), seed $seed"
status=0
# --max-time is the budget schemathesis shares out and keeps; `timeout` only
# catches a hang (exit 124 when it fires). The settings not given here
# (which checks, what is out of scope and why) are in schemathesis.toml.
timeout --signal=TERM --kill-after=15 "$TIMEOUT_S" \
    "$venv/bin/schemathesis" --config-file "$config" run \
    "$document" --url "$base_url" \
    --header "Authorization: Bearer $secret_key" \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$MAX_TIME_S" \
    --seed "$seed" \
    --workers 1 \
    --generation-database none \
    --no-color \
    --report junit --report-dir "$tmp/report" \
    "$@" || status=$?
if ((status == 124 || status == 137)); then
    echo "fuzz: schemathesis did not finish within ${TIMEOUT_S}s (exit $status);" \
        "its own budget of ${MAX_TIME_S}s did not stop it: look for a hanging endpoint" >&2
fi
if ((status != 0)); then
    echo "fuzz: failed (exit $status); replay with FUZZ_SEED=$seed. Server warnings and errors:" >&2
    sed 's/\x1b\[[0-9;]*m//g' "$tmp/server.log" | grep -aE ' (WARN|ERROR) |panicked' |
        grep -avE 'invalid API key presented|webhooks may be sent to private' | tail -n 40 >&2 || true
fi

# The server must stop cleanly on SIGTERM, with exit code 0.
server_code=0
stop_server || server_code=$?
if ((server_code != 0)); then
    echo "fuzz: portcullis exited $server_code on SIGTERM (or died earlier):" >&2
    tail -n 60 "$tmp/server.log" >&2 || true
    ((status != 0)) || status=1
fi
if grep -q 'panicked' "$tmp/server.log"; then
    echo "fuzz: the server log records a panic:" >&2
    grep -m5 -A5 'panicked' "$tmp/server.log" >&2 || true
    ((status != 0)) || status=1
fi
((status == 0)) && log "passed"
exit "$status"
