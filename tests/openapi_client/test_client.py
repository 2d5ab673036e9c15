#!/usr/bin/env python3
"""A client generated from the served /openapi.json works.

Starts a fresh `portcullis serve` (port 0, temporary data directory),
downloads its /openapi.json, generates a Python client from it with
openapi-python-client (an independent generator, pinned in
requirements.txt), and with that client alone: creates a customer with a
form body and one with a JSON body (nested `address`, `metadata`), lists
customers with query parameters, and pays with a card given inline
(`payment_method_data[card][…]`, JSON) and with a test payment method (form).
Every answer must parse into the generated models. Exits non-zero on any
failure, and when the generator reports a warning (a schema it could not
use is a document that lies to generated clients).
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT_S = 60


def start_server(binary, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    env["PORTCULLIS_LOG"] = "warn"
    stdout = open(os.path.join(workdir, "stdout.log"), "w")
    server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                               os.path.join(workdir, "data")], cwd=workdir, env=env, stdout=stdout,
                              stderr=open(os.path.join(workdir, "server.log"), "w"))
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        for line in open(os.path.join(workdir, "stdout.log")):
            if line.startswith("portcullis listening on "):
                return server, line.split()[-1]
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    sys.exit("openapi client: the server did not start:\n" + open(os.path.join(workdir, "server.log")).read())


def generate(base_url, workdir):
    """The generated package, imported."""
    document = os.path.join(workdir, "openapi.json")
    with urllib.request.urlopen(base_url + "/openapi.json") as answer, open(document, "wb") as f:
        f.write(answer.read())
    package = os.path.join(workdir, "portcullis_client")
    tool = os.path.join(os.path.dirname(sys.executable), "openapi-python-client")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    done = subprocess.run([tool, "generate", "--path", document, "--output-path", package, "--meta", "none"],
                          capture_output=True, text=True, env=env)
    print(done.stdout + done.stderr)
    if done.returncode != 0 or "Warning" in done.stdout + done.stderr:
        sys.exit("openapi client: openapi-python-client could not use the served document as it is")
    sys.path.insert(0, workdir)
    return importlib.import_module("portcullis_client")


def api(name):
    return importlib.import_module(f"portcullis_client.api.default.{name}")


def models():
    return importlib.import_module("portcullis_client.models")


def ok(response, what):
    if response.status_code != 200:
        sys.exit(f"openapi client: {what} answered {response.status_code}: {response.content!r}")
    return response.parsed


def run(client_package, base_url, secret_key):
    m = models()
    client = client_package.AuthenticatedClient(base_url=base_url, token=secret_key,
                                                raise_on_unexpected_status=True)

    form = m.PostCustomersDataBody(email="jenny@example.com", name="Jenny Rosen")
    jenny = ok(api("post_customers").sync_detailed(client=client, body=form), "create customer (form)")
    assert isinstance(jenny, m.Customer), jenny
    assert jenny.email == "jenny@example.com" and jenny.object_ == "customer", jenny

    body = m.PostCustomersJsonBody.from_dict({
        "email": "bob@example.com",
        "address": {"city": "Berlin", "country": "DE"},
        "metadata": {"order": "6735"},
    })
    bob = ok(api("post_customers").sync_detailed(client=client, body=body), "create customer (JSON)")
    assert bob.to_dict()["address"]["city"] == "Berlin", bob.to_dict()
    assert bob.to_dict()["metadata"] == {"order": "6735"}, bob.to_dict()

    page = ok(api("get_customers").sync_detailed(client=client, email="jenny@example.com", limit=1),
              "list customers")
    assert [c["id"] for c in page.to_dict()["data"]] == [jenny.id], page.to_dict()

    card = m.PostPaymentIntentsJsonBody.from_dict({
        "amount": 2000,
        "currency": "usd",
        "customer": jenny.id,
        "confirm": True,
        "payment_method_data": {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        },
        "metadata": {"order": "6735"},
    })
    paid = ok(api("post_payment_intents").sync_detailed(client=client, body=card), "pay (JSON, inline card)")
    assert isinstance(paid, m.PaymentIntent), paid
    assert paid.status == "succeeded" and paid.amount_received == 2000, paid.to_dict()

    form = m.PostPaymentIntentsDataBody(amount=1500, currency="usd", payment_method="pm_card_visa",
                                        confirm=True, capture_method=m.PostPaymentIntentsDataBodyCaptureMethod.MANUAL)
    held = ok(api("post_payment_intents").sync_detailed(client=client, body=form), "pay (form, test card)")
    assert held.status == "requires_capture", held.to_dict()
    print(f"openapi client: {jenny.id}, {bob.id}, {paid.id} (succeeded), {held.id} (requires_capture)")


def main():
    binary = os.path.abspath(os.environ.get("PORTCULLIS_BIN", os.path.join(ROOT, "target/release/portcullis")))
    workdir = tempfile.mkdtemp(prefix="openapi-client-")
    server, base_url = start_server(binary, workdir)
    try:
        merchant = subprocess.run([binary, "merchant", "create", "--name", "Generated", "--json",
                                   "--data-dir", os.path.join(workdir, "data")],
                                  capture_output=True, text=True, check=True)
        secret_key = json.loads(merchant.stdout)["secret_key"]
        run(generate(base_url, workdir), base_url, secret_key)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("openapi client: passed")


if __name__ == "__main__":
    main()
