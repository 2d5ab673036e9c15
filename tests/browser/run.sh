#!/usr/bin/env bash
# Browser suite: Portcullis's hosted pages in headless Chromium, driven by
# playwright-core from Node's built-in test runner (node:test).
#   PORTCULLIS_BIN   the binary to test (default target/release/portcullis,
#                    relative to the current directory or the repository root)
#   CHROMIUM_PATH    the browser (default /usr/bin/chromium; installed with
#                    apt-get when missing and this runs as root)
#   SCREENSHOT_DIR   where screenshots go (default: tests/browser/output/
#                    screenshots, which git ignores; the run prints it)
#   PORTCULLIS_BROWSER_KEEP_TMP  set to keep the server's data dir and log
#   PORTCULLIS_TEST_SMTP_PYTHON  a Python with aiosmtpd for the account pages
#                    emails (default: a venv .venv-accounts-smtp made here)
# Extra arguments go to `node --test` (test files named there run alone). Exits non-zero when a test fails.
#
# Like the Python conftest, it starts a fresh `portcullis serve` on port 0
# with a temporary data dir, makes a merchant with the CLI, and stops the
# server with SIGTERM afterwards (which must exit 0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
START_TIMEOUT_S=30
STOP_TIMEOUT_S=20

log() { printf 'browser: %s\n' "$*"; }

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
    echo "browser: portcullis binary not found: $named (looked at ${candidates[*]});" \
        "build it with \`cargo build --release -p portcullis\` or set PORTCULLIS_BIN" >&2
    exit 2
fi

# --- Chromium -------------------------------------------------------------------------
chromium_path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium_path" ]]; then
    if [[ "$chromium_path" == /usr/bin/chromium && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        log "$chromium_path is missing; installing Debian's chromium with apt-get"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
    fi
    if [[ ! -x "$chromium_path" ]]; then
        echo "browser: no Chromium at $chromium_path; install Debian's package (apt-get install chromium)" \
            "or set CHROMIUM_PATH" >&2
        exit 2
    fi
fi
log "$("$chromium_path" --version 2>/dev/null || echo "chromium at $chromium_path")"

# A font with Chinese glyphs, so the zh-CN pages' screenshots show text
# rather than empty boxes (the tests themselves read the DOM, not pixels).
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        log "no Chinese font; installing Debian's fonts-noto-cjk with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk ||
            log "fonts-noto-cjk did not install; zh-CN screenshots will show boxes"
    else
        log "no Chinese font (apt-get install fonts-noto-cjk); zh-CN screenshots will show boxes"
    fi
fi

# --- node_modules --------------------------------------------------------------------
cd "$here"
# The pinned versions (playwright-core, @axe-core/playwright), and the ones
# installed (if any).
wanted="$(node -p 'Object.entries(require("./package.json").devDependencies).map(([n, v]) => n + "@" + v).join(" ")')"
installed="$(node -p 'Object.keys(require("./package.json").devDependencies).map((n) => {
    try { return n + "@" + require("./node_modules/" + n + "/package.json").version } catch { return n + "@" }
}).join(" ")')"
if [[ "$installed" != "$wanted" ]]; then
    if [[ -f package-lock.json ]]; then
        log "installing node_modules with npm ci ($wanted)"
        npm ci --no-audit --no-fund
    else
        log "installing node_modules with npm install (no package-lock.json yet)"
        npm install --no-audit --no-fund
    fi
fi

# --- a fresh server --------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-browser.XXXXXX")"
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
            echo "browser: portcullis ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it" >&2
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

smtp_pid=""
cleanup() {
    stop_server || true
    if [[ -n "$smtp_pid" ]]; then kill "$smtp_pid" 2>/dev/null || true; fi
    if [[ -n "${wallet_sim_pid:-}" ]]; then kill "$wallet_sim_pid" 2>/dev/null || true; fi
    if [[ -n "${PORTCULLIS_BROWSER_KEEP_TMP:-}" ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# --- the SMTP sink the account pages' emails go to (aiosmtpd) -----------------------
smtp_python="${PORTCULLIS_TEST_SMTP_PYTHON:-}"
if [[ -z "$smtp_python" ]]; then
    venv="$root/.venv-accounts-smtp"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/accounts/requirements.txt"
    smtp_python="$venv/bin/python"
fi
mail_log="$tmp/mail.jsonl"
smtp_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$smtp_python" "$root/tests/accounts/smtp_sink.py" "$smtp_port" "$mail_log" >"$tmp/smtp.log" 2>&1 &
smtp_pid=$!
for _ in $(seq 100); do
    grep -q ready "$tmp/smtp.log" 2>/dev/null && break
    sleep 0.1
done
grep -q ready "$tmp/smtp.log" || { echo "browser: the SMTP sink did not start:" >&2; cat "$tmp/smtp.log" >&2; exit 1; }

# --- the wallet simulator (Alipay, WeChat Pay) the wallet pages pay through ----------
# Its own data dir; its address and the credentials it prints (one JSON
# object per provider) go to the tests as WALLET_SIM_*.
wallet_sim_pid=""
"${clean_env[@]}" "$bin" wallet-sim --listen 127.0.0.1:0 --data-dir "$tmp/wallet-sim" \
    </dev/null >"$tmp/wallet-sim.out" 2>"$tmp/wallet-sim.log" &
wallet_sim_pid=$!
wallet_sim_line() { sed -n "s/^$1 //p" "$tmp/wallet-sim.out" 2>/dev/null | head -n1; }
for _ in $(seq $((START_TIMEOUT_S * 10))); do
    [[ -n "$(wallet_sim_line 'wechat_pay connector account:')" ]] && break
    kill -0 "$wallet_sim_pid" 2>/dev/null || break
    sleep 0.1
done
wallet_sim_url="$(wallet_sim_line 'wallet-sim listening on')"
wallet_sim_alipay="$(wallet_sim_line 'alipay connector account:')"
wallet_sim_wechat_pay="$(wallet_sim_line 'wechat_pay connector account:')"
if [[ -z "$wallet_sim_url" || -z "$wallet_sim_wechat_pay" ]]; then
    echo "browser: wallet-sim did not start:" >&2
    cat "$tmp/wallet-sim.out" "$tmp/wallet-sim.log" >&2 || true
    exit 1
fi
log "wallet-sim at $wallet_sim_url"

# Passkeys: WebAuthn needs a domain name as the relying party (not an IP
# address), so the server's public_url is http://localhost:<port> and the
# tests open pages there; the port is picked first, as the SMTP sink's.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
public_url="http://localhost:$port"

log "starting $bin serve (data in $data)"
# Private webhook targets: the checkout test's merchant receiver listens on
# 127.0.0.1; private connector endpoints: the wallet simulator does too.
# Payments from a customer's balance above 1500 minor units wait for the
# holder's step-up on the hosted page (balance.test.mjs).
"${clean_env[@]}" PORTCULLIS_SMTP_URL="smtp://127.0.0.1:$smtp_port" PORTCULLIS_PUBLIC_URL="$public_url" \
    PORTCULLIS_ACCOUNTS_BALANCE_STEP_UP_ABOVE=1500 \
    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" --webhooks-allow-private-targets \
    --connectors-allow-private-endpoints \
    </dev/null >"$tmp/stdout.log" 2>"$tmp/server.log" &
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
    echo "browser: portcullis did not report its address within ${START_TIMEOUT_S}s" >&2
    echo "--- stdout"; cat "$tmp/stdout.log" >&2 || true
    echo "--- stderr"; tail -n 60 "$tmp/server.log" >&2 || true
    exit 1
fi
base_url="$public_url"
log "server at $base_url"

merchant_json="$("${clean_env[@]}" "$bin" merchant create --name "Browser Suite" --json --data-dir "$data" </dev/null)"
secret_key="$(node -e '
    const m = JSON.parse(process.argv[1]);
    if (!m.secret_key) { throw new Error("no secret_key in " + process.argv[1]); }
    process.stdout.write(m.secret_key);
' "$merchant_json")"

# The dashboard's merchant (its risk rules hold payments for review, so it
# is not the one the other tests pay with) and its owner's activation token.
dashboard_json="$("${clean_env[@]}" "$bin" merchant create --name "Dashboard Suite" --json --data-dir "$data" </dev/null)"
dashboard_merchant="$(node -p 'JSON.parse(process.argv[1]).id' "$dashboard_json")"
dashboard_key="$(node -p 'JSON.parse(process.argv[1]).secret_key' "$dashboard_json")"
user_json="$("${clean_env[@]}" "$bin" user create --merchant "$dashboard_merchant" \
    --email owner@dashboard.test --role owner --json --data-dir "$data" </dev/null)"
activation_token="$(node -p 'JSON.parse(process.argv[1]).activation_link.split("token=")[1]' "$user_json")"

# --- the tests ---------------------------------------------------------------------------
shots="${SCREENSHOT_DIR:-$here/output/screenshots}"
mkdir -p "$shots"
status=0
# Test files named among the arguments run alone; otherwise every file.
test_files=(test/*.test.mjs)
for arg in "$@"; do if [[ "$arg" == *.test.mjs ]]; then test_files=(); fi; done
merchant_id="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).id)' "$merchant_json")"
PORTCULLIS_URL="$base_url" PORTCULLIS_SECRET_KEY="$secret_key" CHROMIUM_PATH="$chromium_path" \
    PORTCULLIS_MERCHANT_ID="$merchant_id" PORTCULLIS_MAIL_LOG="$mail_log" \
    SCREENSHOT_DIR="$shots" DASHBOARD_SECRET_KEY="$dashboard_key" \
    DASHBOARD_ACTIVATION_TOKEN="$activation_token" DASHBOARD_EMAIL=owner@dashboard.test \
    WALLET_SIM_URL="$wallet_sim_url" WALLET_SIM_ALIPAY="$wallet_sim_alipay" \
    WALLET_SIM_WECHAT_PAY="$wallet_sim_wechat_pay" \
    node --test --test-reporter=spec --test-concurrency=1 "$@" "${test_files[@]}" || status=$?
log "screenshots in $shots"

# The server must stop cleanly on SIGTERM, with exit code 0.
server_code=0
stop_server || server_code=$?
if ((server_code != 0)); then
    echo "browser: portcullis exited $server_code on SIGTERM (or died earlier):" >&2
    tail -n 60 "$tmp/server.log" >&2 || true
    ((status != 0)) || status=1
fi
exit "$status"
