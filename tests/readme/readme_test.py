#!/usr/bin/env python3
"""Runs every ```sh block of README.md, in order, against a fresh server.

Usage: readme_test.py README.md BACKEND   (BACKEND: sqlite or postgres)

- A block preceded by `<!-- readme-test: skip (reason) -->` is not run
  (the reason is required and printed).
- A block preceded by `<!-- readme-test: errors-expected (reason) -->` runs,
  but error answers in it do not fail the test (non-zero exits still do).
- Each command runs in bash with the variables the earlier ones set
  (`SK=…` and `export …` carry over), with `portcullis` on PATH.
- `http://127.0.0.1:8080` is the server this script started (on an
  ephemeral port), and an id placeholder such as `cus_…` or `pi_…` is the
  newest id of that prefix an earlier answer contained, as the README says.
- A command fails the test if it exits non-zero, or if its answer is a
  Stripe error object ({"error": {...}}) outside errors-expected blocks.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

README_URL = "http://127.0.0.1:8080"
PLACEHOLDER = re.compile(r"\b([a-z]+)_…")
ID = re.compile(r"\b((?:cus|pi|pm|ch|re|po|we|evt|txn|rule|rsl|rsli|prv|acct|kek|key|dp|seti|whsec)_[A-Za-z0-9]{8,})")
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|errors-expected)\s*\((.+?)\)\s*-->")
COMMAND_TIMEOUT_S = 120


def blocks(readme):
    """(line number, marker, reason, text) of every ```sh block; the marker
    is an HTML comment on the last non-blank line before the block."""
    lines = open(readme, encoding="utf-8").read().split("\n")
    found, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            before = [l for l in lines[:i] if l.strip()]
            m = MARKER.search(before[-1]) if before else None
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if i == len(lines):
                sys.exit(f"README.md:{start}: this ```sh block is never closed by a line of ``` alone")
            found.append((start, m and m.group(1), m and m.group(2), "\n".join(body)))
        i += 1
    return found


def commands(text):
    """The block's commands: continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.split("\n"):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.rstrip().endswith("\\"):
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


# The default delays: the README's payouts go through the test helpers.
SETTINGS = "ledger_worker_interval_ms = 200\n"


def start_server(binary, workdir, database_url):
    config = os.path.join(workdir, "portcullis.toml")
    with open(config, "w") as f:
        f.write(SETTINGS)
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--webhooks-allow-private-targets", "--config", config]
    if database_url:
        args += ["--database-url", database_url, "--create-database"]
    log = open(os.path.join(workdir, "server.log"), "w")
    server = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 60
    for line in server.stdout:
        if line.startswith("portcullis listening on "):
            return server, line.split()[-1]
        if time.time() > deadline:
            break
    server.kill()
    sys.exit("the server did not start:\n" + open(os.path.join(workdir, "server.log")).read())


def is_error_answer(output):
    """True when the output (a JSON body, possibly after HTTP headers) is an error."""
    body = output.split("\r\n\r\n")[-1] if "\r\n\r\n" in output else output
    for candidate in (body.strip(), output.strip()):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        return isinstance(value, dict) and "error" in value
    return False


def main():
    readme, backend = sys.argv[1], sys.argv[2]
    binary = os.path.abspath(os.environ.get("PORTCULLIS_BIN", "target/release/portcullis"))
    workdir = tempfile.mkdtemp(prefix="readme-test-")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(binary) + os.pathsep + env["PATH"]
    env["PORTCULLIS_LOG"] = "warn"
    database_url = None
    if backend == "postgres":
        name = "portcullis_readme_%d" % os.getpid()
        database_url = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432") + "/" + name
        # Every `portcullis …` command of the README uses the same database.
        env["PORTCULLIS_DATABASE_URL"] = database_url
    server, base_url = start_server(binary, workdir, database_url)
    state = os.path.join(workdir, "env.sh")
    open(state, "w").close()
    ids, failures, ran = {}, [], 0
    try:
        keys_file = next(f for f in os.listdir(os.path.join(workdir, "portcullis-data")) if f.startswith("sandbox-keys"))
        for line, marker, reason, text in blocks(readme):
            if marker == "skip":
                print(f"README.md:{line}: skipped ({reason})")
                continue
            for command in commands(text):
                shown = command.strip()
                command = command.replace(README_URL, base_url)
                command = command.replace("portcullis-data/sandbox-keys.json", "portcullis-data/" + keys_file)
                def newest(m):
                    prefix = m.group(1)
                    if prefix not in ids:
                        failures.append(f"README.md:{line}: no earlier answer gave a {prefix}_ id for: {shown}")
                        return m.group(0)
                    return ids[prefix]
                command = PLACEHOLDER.sub(newest, command)
                script = f"set -a; . {shlex.quote(state)}; set -o pipefail\n{command}\nstatus=$?; export -p > {shlex.quote(state)}; exit $status\n"
                done = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True,
                                      text=True, timeout=COMMAND_TIMEOUT_S)
                ran += 1
                output = done.stdout
                for found in ID.findall(output):
                    ids[found.split("_")[0]] = found
                if done.returncode != 0:
                    failures.append(f"README.md:{line}: exit {done.returncode}: {shown}\n{output}{done.stderr}")
                elif marker != "errors-expected" and is_error_answer(output):
                    failures.append(f"README.md:{line}: error answer: {shown}\n{output}")
                else:
                    print(f"README.md:{line}: ok: {shown.splitlines()[0]}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        if database_url:
            subprocess.run(["psql", database_url.rsplit("/", 1)[0] + "/postgres", "-qc",
                            f"DROP DATABASE IF EXISTS {database_url.rsplit('/', 1)[1]} WITH (FORCE)"])
    print(f"{ran} commands run on {backend}, {len(failures)} failed")
    for failure in failures:
        print("FAILED " + failure)
    sys.exit(1 if failures or ran == 0 else 0)


if __name__ == "__main__":
    main()
