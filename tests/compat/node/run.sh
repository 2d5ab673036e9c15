#!/usr/bin/env bash
# Node half of the client-library compatibility suite: the official `stripe`
# npm package (pinned exactly in package.json / package-lock.json) against a
# freshly started Portcullis, run by Node's built-in test runner (node:test).
#   PORTCULLIS_BIN               the binary to test (default target/release/portcullis,
#                                relative to the current directory or the repository root)
#   PORTCULLIS_COMPAT_KEEP_TMP   set to keep each test file's data dir and server log
# Extra arguments go to `node --test` (e.g. --test-name-pattern=refund).
# Exits non-zero when a test fails.
#
# Each test file starts its own `portcullis serve --listen 127.0.0.1:0`, makes
# its merchants with `portcullis merchant create --json` and stops the server
# with SIGTERM afterwards, which must exit 0 (test/support/portcullis.mjs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

log() { printf 'compat/node: %s\n' "$*"; }

# --- the binary, as an absolute path (the tests run from $here) -------------------
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
    echo "compat/node: portcullis binary not found: $named (looked at ${candidates[*]});" \
        "build it with \`cargo build --release -p portcullis\` or set PORTCULLIS_BIN" >&2
    exit 2
fi

# --- node_modules ----------------------------------------------------------------
cd "$here"
log "node $(node --version), npm $(npm --version)"
# The pinned stripe version, and the one installed (if any).
wanted="$(node -p 'require("./package.json").devDependencies.stripe')"
installed="$(node -p 'try { require("./node_modules/stripe/package.json").version } catch { "" }')"
if [[ "$installed" != "$wanted" ]]; then
    if [[ -f package-lock.json ]]; then
        log "installing node_modules with npm ci (stripe $wanted)"
        npm ci --no-audit --no-fund
    else
        log "installing node_modules with npm install (no package-lock.json yet)"
        npm install --no-audit --no-fund
    fi
fi
log "stripe $(node -p 'require("./node_modules/stripe/package.json").version') against $bin"

# --- the tests ---------------------------------------------------------------------
# Test files run in parallel, each with a server of its own.
PORTCULLIS_BIN="$bin" node --test --test-reporter=spec --test-concurrency=4 "$@" test/*.test.mjs
