#!/usr/bin/env bash
# Runs the client-library compatibility suites against a built portcullis.
#   PORTCULLIS_BIN   the binary to test (default target/release/portcullis)
#   PYTHON           the interpreter that makes the venv (default python3)
# Extra arguments go to pytest. Exits non-zero when a test fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

export PORTCULLIS_BIN="${PORTCULLIS_BIN:-target/release/portcullis}"
venv="$root/.venv-compat"
requirements="tests/compat/python/requirements.txt"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "compat: creating $venv"
    "$python" -m venv "$venv"
fi

# Idempotent: with every requirement pinned and already present, pip
# changes nothing and contacts no index.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"

echo "compat: python suite against $PORTCULLIS_BIN"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/compat/python "$@"
