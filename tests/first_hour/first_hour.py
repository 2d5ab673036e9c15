#!/usr/bin/env python3
"""The issue's "done when", as one test: a new user, with nothing but the
README, goes from no database to a refunded payment, a verified webhook and
a paid payout on PostgreSQL with TWO instances.

- The multi-instance recipe is the README's own ```sh block under
  "### PostgreSQL and several instances", run as written except for what a
  test must change (a database name of its own and two free ports on
  127.0.0.1 instead of 0.0.0.0:8080/8081, and one for the shared sandbox
  acquirer instead of 8090); each substitution must find its
  text, so a README that drifts fails here.
- Receivers are on 127.0.0.1, so private targets are allowed as the README
  says for local development (PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS).
- Everything after the start goes through the official `stripe` library,
  alternating instances: a card saved through A is paid through B (the
  shared vault keyring), refunded through A; funds settled and the payout
  paid with the README's test helpers; the webhook deliveries are checked
  by `stripe.Webhook.construct_event`, and `portcullis ledger verify`
  passes at the end.

Usage: first_hour.py   (PORTCULLIS_BIN: the binary; PG_URL: the server,
default postgres://postgres@127.0.0.1:5432)
"""
import base64
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import stripe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE_HEADING = "### PostgreSQL and several instances"
START_TIMEOUT_S = 60
WEBHOOK_TIMEOUT_S = 30


def recipe(readme_path):
    """The first ```sh block after the recipe's heading."""
    lines = open(readme_path, encoding="utf-8").read().split("\n")
    start = lines.index(RECIPE_HEADING)
    fence = next(i for i in range(start, len(lines)) if lines[i].strip() == "```sh")
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```")
    return "\n".join(lines[fence + 1:end])


def substitute(text, old, new):
    if old not in text:
        sys.exit(f"first hour: the README's recipe no longer contains {old!r}; update this test with it")
    return text.replace(old, new)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process, log_path):
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    sys.exit(f"first hour: {url} did not become ready:\n" + open(log_path).read()[-4000:])


class Receiver(BaseHTTPRequestHandler):
    """Keeps every delivery: (raw body, Stripe-Signature)."""
    deliveries = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        Receiver.deliveries.append((body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def verified_event(secret, event_type, object_id):
    """The delivered event of this type for this object, once the official
    library has verified its signature."""
    deadline = time.time() + WEBHOOK_TIMEOUT_S
    while time.time() < deadline:
        for body, signature in list(Receiver.deliveries):
            event = stripe.Webhook.construct_event(body.decode("utf-8"), signature, secret)
            if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
                return event
        time.sleep(0.2)
    sys.exit(f"first hour: no verified {event_type} delivery for {object_id} within {WEBHOOK_TIMEOUT_S}s")


def post(base_url, path, secret_key):
    """A POST without parameters, as the README's curl sends it; the JSON answer."""
    request = urllib.request.Request(base_url + path, data=b"", method="POST")
    token = base64.b64encode(f"{secret_key}:".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def on(url):
    stripe.api_base = url


def journey(a, b, secret_key, receiver_url):
    stripe.api_key = secret_key
    stripe.max_network_retries = 0
    on(a)
    endpoint = stripe.WebhookEndpoint.create(
        url=receiver_url, enabled_events=["charge.refunded", "payout.paid"])
    customer = stripe.Customer.create(email="jenny@example.com", name="Jenny Rosen")
    card = stripe.PaymentMethod.create(
        type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"})
    stripe.PaymentMethod.attach(card.id, customer=customer.id)

    on(b)  # the card was sealed by A; B opens it with the shared keyring
    intent = stripe.PaymentIntent.create(
        amount=2000, currency="usd", customer=customer.id, payment_method=card.id, confirm=True)
    assert intent.status == "succeeded", intent

    on(a)
    refund = stripe.Refund.create(payment_intent=intent.id, amount=500)
    assert refund.status == "succeeded", refund
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 500, charge
    refunded = verified_event(endpoint.secret, "charge.refunded", charge.id)
    print(f"first hour: {refunded['id']} (charge.refunded) verified by stripe.Webhook.construct_event")

    # The README's test helpers: settle now (through B), pay out (A), pay (B).
    balance = post(b, "/v1/test_helpers/balance/settle", secret_key)
    available = next(x["amount"] for x in balance["available"] if x["currency"] == "usd")
    assert available > 0, balance
    on(a)
    payout = stripe.Payout.create(amount=available, currency="usd")
    paid = post(b, f"/v1/test_helpers/payouts/{payout.id}/pay", secret_key)
    assert paid["status"] == "paid", paid
    on(a)
    assert stripe.Payout.retrieve(payout.id).status == "paid"
    event = verified_event(endpoint.secret, "payout.paid", payout.id)
    print(f"first hour: {event['id']} (payout.paid) verified by stripe.Webhook.construct_event")


def main():
    binary = os.path.abspath(os.environ.get("PORTCULLIS_BIN", os.path.join(ROOT, "target/release/portcullis")))
    pg_server = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
    database = "portcullis_first_hour_%d" % os.getpid()
    port_a, port_b, port_acquirer = free_port(), free_port(), free_port()
    script = recipe(os.path.join(ROOT, "README.md"))
    script = substitute(script, "postgres://postgres@127.0.0.1:5432/portcullis", f"{pg_server}/{database}")
    script = substitute(script, "0.0.0.0:8080", f"127.0.0.1:{port_a}")
    script = substitute(script, "0.0.0.0:8081", f"127.0.0.1:{port_b}")
    script = substitute(script, "127.0.0.1:8090", f"127.0.0.1:{port_acquirer}")
    workdir = tempfile.mkdtemp(prefix="first-hour-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    env["PATH"] = os.path.dirname(binary) + os.pathsep + env["PATH"]
    env["PORTCULLIS_LOG"] = "warn"
    env["PORTCULLIS_WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"
    log_path = os.path.join(workdir, "instances.log")
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    # `wait` keeps the shell (and so its process group) alive for the instances.
    instances = subprocess.Popen(["bash", "-ec", script + "\nwait\n"], cwd=workdir, env=env,
                                 stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        wait_ready(a, instances, log_path)
        wait_ready(b, instances, log_path)
        keys = glob.glob(os.path.join(workdir, "instance-a", "sandbox-keys*.json"))
        assert keys, f"no sandbox keys in {workdir}/instance-a"
        secret_key = json.load(open(keys[0]))["secret_key"]
        journey(a, b, secret_key, f"http://127.0.0.1:{receiver.server_address[1]}/webhooks")
    finally:
        os.killpg(instances.pid, signal.SIGTERM)
        instances.wait(timeout=60)
        receiver.shutdown()
    verify = subprocess.run([binary, "ledger", "verify", "--database-url", f"{pg_server}/{database}",
                             "--data-dir", os.path.join(workdir, "instance-a")],
                            env=env, capture_output=True, text=True)
    subprocess.run(["psql", f"{pg_server}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
    if verify.returncode != 0:
        sys.exit("first hour: ledger verify failed:\n" + verify.stdout + verify.stderr)
    print("first hour: passed (two instances on PostgreSQL, the README's recipe)")


if __name__ == "__main__":
    main()
