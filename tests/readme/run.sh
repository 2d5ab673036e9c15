#!/usr/bin/env bash
# The README test: every ```sh block of README.md runs, in order, against a
# fresh server on SQLite and then on PostgreSQL (see readme_test.py for the
# markers and substitutions). PORTCULLIS_BIN names the binary
# (default target/release/portcullis). Needs python3, curl and openssl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PORTCULLIS_BIN="${PORTCULLIS_BIN:-target/release/portcullis}"
status=0
for backend in sqlite postgres; do
    echo "== README.md on $backend"
    python3 tests/readme/readme_test.py README.md "$backend" || status=1
done
exit "$status"
