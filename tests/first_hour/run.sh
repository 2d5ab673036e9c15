#!/usr/bin/env bash
# The first hour of a new user, end to end (tests/first_hour/first_hour.py):
# the README's two-instance PostgreSQL recipe, then a refunded payment, a
# webhook verified by the official stripe library and a paid payout.
#   PORTCULLIS_BIN  the binary (default target/release/portcullis)
#   PG_URL          the PostgreSQL server (default postgres://postgres@127.0.0.1:5432)
# Uses the compatibility suite's venv and pinned requirements (stripe).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export PORTCULLIS_BIN="$(realpath "${PORTCULLIS_BIN:-target/release/portcullis}")"
venv="$root/.venv-compat"
if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/compat/python/requirements.txt
exec "$venv/bin/python" tests/first_hour/first_hour.py
