#!/usr/bin/env python3
"""Every statement and round trip one PostgreSQL payment costs, counted
(BENCHMARKS.md, "Round two, session 11"):

    python3 scripts/pg_statements_per_payment.py BINARY OUT

makes a superuser role `stmt_log` whose sessions log every statement
(`log_statement = all`, parameters left out), runs under `strace -f`

    BINARY bench --database-url postgres://stmt_log@127.0.0.1:5432/postgres
      --connections 1 --duration-s 1 --warmup-s 0 --write-cost-payments 200 --json

drops the role, and prints, for the 200 write-cost payments (between the
bench's two reads of `pg_stat_database`, each a batch of one): each
statement's count per payment, the background workers' statements apart,
and the writes to sockets of port 5432 per payment (a pipeline is one
write, so about one per round trip). Needs root (the server's log file
and strace); `pg_stat_statements` would need a restart of the server.
"""
import collections, os, re, subprocess, sys

LOG = "/var/log/postgresql/postgresql-15-main.log"
ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PAYMENTS = 200


def psql(*commands):
    for command in commands:
        subprocess.run(["psql", ADMIN, "-qc", command], check=True)


def run(binary, out):
    os.makedirs(out, exist_ok=True)
    psql("CREATE ROLE stmt_log SUPERUSER LOGIN",
         "ALTER ROLE stmt_log SET log_statement = 'all'",
         "ALTER ROLE stmt_log SET log_parameter_max_length = 0")
    start = os.path.getsize(LOG)
    try:
        with open(f"{out}/report.json", "w") as report:
            subprocess.run(["strace", "-f", "-tt", "-yy", "-s", "120", "-e",
                            "trace=sendto,write,writev,sendmsg", "-o", f"{out}/strace.txt",
                            binary, "bench", "--database-url",
                            "postgres://stmt_log@127.0.0.1:5432/postgres", "--connections", "1",
                            "--duration-s", "1", "--warmup-s", "0", "--write-cost-payments",
                            str(PAYMENTS), "--json"], stdout=report, check=True)
    finally:
        psql("DROP ROLE stmt_log")
    with open(LOG, errors="replace") as log, open(f"{out}/pglog.txt", "w") as copy:
        log.seek(start)
        copy.write(log.read())


def statements(out):
    pat = re.compile(r"^\S+ \S+ UTC \[\d+\] \S* LOG:  (?:execute [^:]*|statement): (.*)$")
    texts = []
    for line in open(f"{out}/pglog.txt", errors="replace"):
        m = pat.match(line.rstrip("\n"))
        if m:
            texts.append(m.group(1))
        elif texts and not re.match(r"^\d{4}-", line):
            texts[-1] += " " + line.strip()
    marks = [i for i, t in enumerate(texts) if "tup_inserted" in t]
    return texts[marks[-2] + 1:marks[-1]]


def socket_writes(out):
    lines = open(f"{out}/strace.txt", errors="replace").read().split("\n")
    marks = [i for i, l in enumerate(lines) if "tup_inserted" in l]
    return sum(1 for l in lines[marks[-2] + 1:marks[-1]]
               if "->127.0.0.1:5432]" in l and re.search(r"\b(sendto|write|writev|sendmsg)\(", l))


def report(out):
    def shape(text):
        return re.sub(r"\(\$\d+.*", "(…", re.sub(r"\s+", " ", text))[:100]
    counts = collections.Counter(shape(t) for t in statements(out))
    payment = {t: k for t, k in counts.items() if k >= PAYMENTS // 2}
    background = sum(counts.values()) - sum(payment.values())
    for text, k in sorted(payment.items(), key=lambda item: -item[1]):
        print(f"{k / PAYMENTS:6.2f}  {text}")
    print(f"statements per payment {sum(payment.values()) / PAYMENTS:.2f} "
          f"(background workers' apart: {background / PAYMENTS:.2f})")
    writes = socket_writes(out)
    print(f"writes to port 5432 per payment {writes / PAYMENTS:.2f}, "
          f"less one per background statement {(writes - background) / PAYMENTS:.2f}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    report(sys.argv[2])
