#!/usr/bin/env bash
# The OpenAPI client test: a fresh `portcullis serve`, its served
# /openapi.json turned into a Python client by openapi-python-client (PyPI,
# pinned), and that client creating a customer and paying with a test card
# (tests/openapi_client/test_client.py).
#   PORTCULLIS_BIN  the binary (default target/release/portcullis)
#   PYTHON          the interpreter that makes the venv (default python3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export PORTCULLIS_BIN="$(realpath "${PORTCULLIS_BIN:-target/release/portcullis}")"
venv="$root/.venv-openapi-client"
if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# Idempotent: with every requirement pinned and present, pip changes nothing.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/openapi_client/requirements.txt
exec "$venv/bin/python" tests/openapi_client/test_client.py
