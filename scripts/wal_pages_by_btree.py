"""Which B-trees (tables and indexes) the SQLite WAL pages of a payment
belong to (BENCHMARKS.md, "Round two, session 13: WAL pages per payment").

    wal_pages_by_btree.py [--payments N] [--connections C] [--json]

Environment: PORTCULLIS_BIN (default target/profiling/portcullis).

Starts `portcullis serve` on a fresh SQLite file with the settings
`portcullis bench` gives its own gateways (scripts/bench-gateway.sh), sends
20 warm-up payments, then opens a read transaction of its own on the
database and keeps it open while it sends N (default 200) succeeding
create-and-confirm payments (the bench's body, scripts/concurrent_payments.py)
over C connections (default 1: one at a time, each write set committed
alone, as `bench --write-cost-payments`). The open read transaction pins
the WAL: no checkpoint copies a frame past it and the WAL never starts
over, so every frame the payments committed is still in the file. The
frames are then read from the WAL file (32-byte header; each frame a
24-byte header whose first field is its page number, then the page) and
each page number is mapped to its B-tree with the `dbstat` virtual table
on the database as it is after the run.

Prints, per B-tree: WAL frames per payment (each frame is one page written
by a commit, the figure `portcullis_sqlite_pages_written_total` counts),
split into leaf, interior and overflow pages, and the distinct pages per
payment; `sqlite_autoindex_T_N` is the index SQLite keeps for a UNIQUE or
PRIMARY KEY constraint of table T (its columns are printed beside it).
Frames of pages that dbstat does not list are `(free or unknown)`. The
gateway's background workers may commit a few frames of their own in the
window; they are counted too (none were seen when this was written).
"""
import argparse
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
WARMUP_PAYMENTS = 20
WAL_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
SETTINGS = (
    "bench_echo = true\n"
    "rate_limit_per_key_per_s = 1000000\n"
    "rate_limit_per_merchant_per_s = 1000000\n"
)


def start_server(binary, work):
    with open(os.path.join(work, "gateway.toml"), "w") as f:
        f.write(SETTINGS)
    db_url = "sqlite://%s/portcullis.db" % work
    out = open(os.path.join(work, "serve.out"), "w")
    log = open(os.path.join(work, "serve.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--database-url", db_url,
         "--data-dir", work, "--config", os.path.join(work, "gateway.toml"),
         "--create-database"],
        stdout=out, stderr=log, env=dict(os.environ, PORTCULLIS_LOG="warn"))
    for _ in range(600):
        with open(os.path.join(work, "serve.out")) as f:
            found = re.search(r"^portcullis listening on (\S+)", f.read(), re.M)
        if found:
            return server, found.group(1), db_url
        if server.poll() is not None:
            sys.exit("serve exited: see %s/serve.log" % work)
        time.sleep(0.1)
    server.terminate()
    sys.exit("serve did not start")


def create_merchant(binary, db_url, work):
    out = subprocess.run(
        [binary, "merchant", "create", "--name", "Load", "--json",
         "--database-url", db_url, "--data-dir", work],
        check=True, capture_output=True, env=dict(os.environ, PORTCULLIS_LOG="warn"))
    return json.loads(out.stdout)["secret_key"]


def send_payments(url, key, first, count, connections):
    subprocess.run(
        [sys.executable, os.path.join(HERE, "concurrent_payments.py"), url, key,
         str(first), str(count), str(connections)], check=True)


def metric(url, name):
    text = urllib.request.urlopen(url + "/metrics").read().decode()
    found = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(found.group(1)) if found else 0.0


def wal_frames(wal_path):
    """The page numbers of the WAL's frames up to its last commit, and its
    salts: a frame belongs to the current WAL when its salts match the
    header's (frames of an earlier pass over the file do not)."""
    with open(wal_path, "rb") as f:
        data = f.read()
    if len(data) < WAL_HEADER_BYTES:
        return (None, [])
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    pages, committed = [], 0
    offset = WAL_HEADER_BYTES
    while offset + FRAME_HEADER_BYTES + page_size <= len(data):
        pgno, db_size = struct.unpack(">II", data[offset:offset + 8])
        if data[offset + 8:offset + 16] != salts:
            break
        pages.append(pgno)
        if db_size:
            committed = len(pages)
        offset += FRAME_HEADER_BYTES + page_size
    return (salts, pages[:committed])


def btree_of_pages(db_path):
    """Page number -> (B-tree name, page type) from dbstat, and each
    automatic index's columns."""
    conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    owner = {pgno: (name, kind) for name, pgno, kind in
             conn.execute("SELECT name, pageno, pagetype FROM dbstat")}
    columns = {}
    for (name, table) in conn.execute(
            "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'"):
        cols = [row[2] for row in conn.execute("PRAGMA index_info(%s)" % json.dumps(name))]
        columns[name] = "%s (%s)" % (table, ", ".join(c or "expr" for c in cols))
    conn.close()
    return owner, columns


def attribute(pages, owner, payments):
    frames = defaultdict(Counter)
    distinct = defaultdict(set)
    for pgno in pages:
        name, kind = owner.get(pgno, ("(free or unknown)", "?"))
        frames[name][kind] += 1
        distinct[name].add(pgno)
    rows = []
    for name, kinds in frames.items():
        rows.append({
            "btree": name,
            "frames_per_payment": round(sum(kinds.values()) / payments, 2),
            "leaf": round(kinds["leaf"] / payments, 2),
            "internal": round(kinds["internal"] / payments, 2),
            "overflow": round(kinds["overflow"] / payments, 2),
            "distinct_pages_per_payment": round(len(distinct[name]) / payments, 2),
        })
    rows.sort(key=lambda row: -row["frames_per_payment"])
    return rows


def measure(binary, payments, connections, work):
    server, url, db_url = start_server(binary, work)
    try:
        key = create_merchant(binary, db_url, work)
        send_payments(url, key, 1, WARMUP_PAYMENTS, 1)
        db_path = os.path.join(work, "portcullis.db")
        pin = sqlite3.connect(db_path, isolation_level=None)
        pin.execute("BEGIN")
        pin.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        salts_before, frames_before = wal_frames(db_path + "-wal")
        pages_before = metric(url, "portcullis_sqlite_pages_written_total")
        commits_before = metric(url, "portcullis_sqlite_write_batch_size_count")
        send_payments(url, key, WARMUP_PAYMENTS + 1, payments, connections)
        pages_after = metric(url, "portcullis_sqlite_pages_written_total")
        commits_after = metric(url, "portcullis_sqlite_write_batch_size_count")
        salts, frames = wal_frames(db_path + "-wal")
        pin.execute("COMMIT")
        pin.close()
        # The WAL started over once before the pin took hold: all its frames are new.
        new = frames[len(frames_before):] if salts == salts_before else frames
        owner, columns = btree_of_pages(db_path)
    finally:
        server.terminate()
        server.wait()
    rows = attribute(new, owner, payments)
    for row in rows:
        row["columns"] = columns.get(row["btree"], "")
    return {
        "payments": payments,
        "connections": connections,
        "wal_frames_per_payment": round(len(new) / payments, 2),
        "pages_written_metric_per_payment": round((pages_after - pages_before) / payments, 2),
        "commits_per_payment": round((commits_after - commits_before) / payments, 3),
        "btrees": rows,
    }


def print_table(report):
    print("payments %(payments)d over %(connections)d connection(s): WAL frames per payment "
          "%(wal_frames_per_payment)s (metric %(pages_written_metric_per_payment)s), "
          "commits per payment %(commits_per_payment)s" % report)
    print("%-48s %7s %6s %8s %8s %8s" % ("B-tree", "frames", "leaf", "interior", "overflow", "distinct"))
    for row in report["btrees"]:
        label = row["btree"] + (" = " + row["columns"] if row["btree"].startswith("sqlite_autoindex") else "")
        print("%-48s %7.2f %6.2f %8.2f %8.2f %8.2f" % (
            label, row["frames_per_payment"], row["leaf"], row["internal"],
            row["overflow"], row["distinct_pages_per_payment"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    binary = os.environ.get("PORTCULLIS_BIN", "target/profiling/portcullis")
    with tempfile.TemporaryDirectory(prefix="portcullis-wal-") as work:
        report = measure(binary, args.payments, args.connections, work)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(report)


main()
