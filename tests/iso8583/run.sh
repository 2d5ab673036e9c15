#!/usr/bin/env bash
# ISO 8583 interoperability suite: pyiso8583 (PyPI, stock `default` and
# `default_ascii` specs) is the independent peer.
#   1. interop.py: every message Portcullis sends or accepts, encoded by
#      pyiso8583 and by the codec crate (through its `json_bridge` example),
#      must be byte-for-byte equal, and each side must decode the other's.
#   2. acquirer_sim.py (when PORTCULLIS_BIN is given or found): drives
#      `portcullis acquirer-sim` over TCP with pyiso8583-built messages.
#   3. connector_peer.py (likewise): pyiso8583 as the acquirer of a gateway's
#      `[connectors.peer]`: every message the connector sends (0800, 0100,
#      0200, 0220, 0400, refund 0200) decoded and answered by pyiso8583;
#      a refund whose answer was lost is sent again with the same RRN.
#   4. terminals.py (likewise): pyiso8583-built messages MACed with
#      `cryptography`'s AES-CMAC drive `serve --iso8583-listen` (approval,
#      each decline, wrong MAC, unknown terminal, reversal, repeats).
#   5. stripe_acquirer.py (likewise, on SQLite, and on PostgreSQL unless
#      ISO8583_SKIP_POSTGRES=1): payments routed to acquirer-sim succeed and
#      decline exactly like the sandbox, through the official stripe library
#      and through curl.
#   PYTHON          the interpreter that makes the venv (default python3)
#   PORTCULLIS_BIN  the portcullis binary (default target/release/portcullis,
#                   else target/debug/portcullis)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-target}"

log() { printf 'iso8583: %s\n' "$*"; }

log "building the codec's json_bridge"
cargo build -q -p portcullis-iso8583 --example json_bridge

venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

log "codec interop (pyiso8583 default and default_ascii)"
"$venv/bin/python" "$here/interop.py" "$target_dir/debug/examples/json_bridge"

bin="${PORTCULLIS_BIN:-}"
if [[ -z "$bin" ]]; then
    for candidate in "$target_dir/release/portcullis" "$target_dir/debug/portcullis"; do
        [[ -x "$candidate" ]] && bin="$candidate" && break
    done
fi
if [[ -n "$bin" ]]; then
    log "acquirer-sim over TCP ($bin)"
    "$venv/bin/python" "$here/acquirer_sim.py" "$bin"
    log "the connector's messages, decoded and answered by pyiso8583 ($bin)"
    "$venv/bin/python" "$here/connector_peer.py" "$bin"
    log "terminals: pyiso8583 messages MACed by cryptography's AES-CMAC ($bin)"
    "$venv/bin/python" "$here/terminals.py" "$bin"
    log "payments routed to acquirer-sim, like the sandbox: stripe library and curl, SQLite ($bin)"
    "$venv/bin/python" "$here/stripe_acquirer.py" "$bin" sqlite
    if [[ "${ISO8583_SKIP_POSTGRES:-0}" != 1 ]]; then
        log "payments routed to acquirer-sim, like the sandbox: stripe library and curl, PostgreSQL ($bin)"
        "$venv/bin/python" "$here/stripe_acquirer.py" "$bin" postgres
    fi
else
    log "no portcullis binary found: acquirer-sim and connector suites not run"
    exit 1
fi
