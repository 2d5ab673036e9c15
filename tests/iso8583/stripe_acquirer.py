"""Payments routed to `portcullis acquirer-sim` over TCP succeed and decline
exactly like the sandbox, through the official `stripe` Python library and
through curl.

One gateway, two merchants: `routed` pays through `acquirer-sim` (a
`[connectors.sim]` table of type `iso8583` naming it), `sandbox` through the
in-process sandbox acquirer. Every scenario (approval, each decline of the
test-card table, manual capture, cancel, refunds) runs for both merchants,
once with the stripe library and once with curl, and the outcomes the API
reports (statuses, amounts, error type, code, decline code and message, the
charge's outcome) must be equal. The simulator's journal must then hold
exactly the routed merchant's approvals, completions, reversals and refunds.

usage: stripe_acquirer.py PORTCULLIS_BIN [sqlite|postgres]"""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import uuid
import warnings

warnings.simplefilter("ignore", ResourceWarning)

import stripe

BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "target/debug/portcullis")
BACKEND = sys.argv.pop(1) if len(sys.argv) > 1 else "sqlite"
POSTGRES = os.environ.get("PORTCULLIS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
EXP_YEAR = 2034
CardError = getattr(stripe, "CardError", None) or stripe.error.CardError

# (card number, cvc) → what the sandbox's test-card table makes of it.
DECLINES = [
    ("4000000000000002", "generic_decline"),
    ("4000000000009995", "insufficient_funds"),
    ("4000000000009987", "lost_card"),
    ("4000000000009979", "stolen_card"),
    ("4000000000000069", "expired_card"),
    ("4000000000000127", "incorrect_cvc"),
    ("4000000000000119", "processing_error"),
    ("4000000000006975", "card_velocity_exceeded"),
]


def run(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


def charge_view(charge):
    """What must not differ between acquirers in a charge."""
    outcome = charge.get("outcome") or {}
    return {
        "status": charge["status"],
        "paid": charge["paid"],
        "captured": charge["captured"],
        "amount": charge["amount"],
        "amount_captured": charge["amount_captured"],
        "amount_refunded": charge["amount_refunded"],
        "refunded": charge["refunded"],
        "failure_code": charge.get("failure_code"),
        "failure_message": charge.get("failure_message"),
        "outcome": {k: outcome.get(k) for k in ("network_status", "type", "reason", "seller_message")},
        "brand": charge["payment_method_details"]["card"]["brand"],
        "last4": charge["payment_method_details"]["card"]["last4"],
    }


def error_view(error):
    return {k: error.get(k) for k in ("type", "code", "decline_code", "message")}


class Gateway:
    def __init__(self):
        self.dir = tempfile.mkdtemp()
        self.common = ["--data-dir", self.dir]
        self.database = None
        if BACKEND == "postgres":
            self.database = f"portcullis_test_iso8583_stripe_{uuid.uuid4().hex[:10]}"
            self.common += ["--database-url", f"{POSTGRES}/{self.database}"]
            run("migrate", "--create-database", *self.common)
        journal = os.path.join(self.dir, "journal.jsonl")
        self.journal = journal
        self.sim = subprocess.Popen([BIN, "acquirer-sim", "--listen", "127.0.0.1:0", "--journal", journal],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.sim.stdout.readline()
        assert line.startswith("acquirer-sim listening on "), line
        sim_address = line.split()[-1]
        self.routed = json.loads(run("merchant", "create", "--name", "Routed", "--json", *self.common))
        self.sandbox = json.loads(run("merchant", "create", "--name", "Sandboxed", "--json", *self.common))
        config = os.path.join(self.dir, "portcullis.toml")
        with open(config, "w") as file:
            file.write(
                "[connectors.sim]\ntype = \"iso8583\"\n"
                f"address = \"{sim_address}\"\nacquirer_id = \"12345\"\n"
                "card_acceptor_id = \"MERCHANT0000001\"\nterminal_id = \"TERM0001\"\n"
                f"merchants = [\"{self.routed['id']}\"]\n"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
        self.process = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--config", config, *self.common],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=dict(env, PORTCULLIS_LOG="warn"))
        for line in self.process.stdout:
            if line.startswith("portcullis listening on "):
                self.url = line.split()[-1]
                break
        else:
            raise AssertionError("the gateway did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.sim.terminate()
        self.sim.wait(timeout=10)
        if self.database:
            subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.database}"],
                           check=False, capture_output=True)

    def journal_entries(self):
        with open(self.journal) as file:
            return [json.loads(line) for line in file if line.strip()]


class StripeLibrary:
    """Each operation through the official stripe library."""

    name = "stripe library"

    def __init__(self, url):
        stripe.api_base = url
        stripe.max_network_retries = 0

    def pay(self, key, number, amount, cvc="123", **extra):
        method = stripe.PaymentMethod.create(
            type="card", card={"number": number, "exp_month": 12, "exp_year": EXP_YEAR, "cvc": cvc}, api_key=key)
        try:
            intent = stripe.PaymentIntent.create(amount=amount, currency="usd", payment_method=method.id,
                                                 confirm=True, api_key=key, **extra)
            return intent.to_dict_recursive() if hasattr(intent, "to_dict_recursive") else intent.to_dict(), None
        except CardError as err:
            return None, {"status": err.http_status, **err.json_body["error"]}

    def capture(self, key, intent, **extra):
        return stripe.PaymentIntent.capture(intent, api_key=key, **extra).to_dict()

    def cancel(self, key, intent):
        return stripe.PaymentIntent.cancel(intent, api_key=key).to_dict()

    def refund(self, key, intent, amount):
        return stripe.Refund.create(payment_intent=intent, amount=amount, api_key=key).to_dict()

    def retrieve(self, key, kind, id):
        resource = {"payment_intents": stripe.PaymentIntent, "charges": stripe.Charge}[kind]
        return json.loads(json.dumps(resource.retrieve(id, api_key=key).to_dict(), default=str))


class Curl:
    """Each operation as a curl command line, form-encoded like the docs."""

    name = "curl"

    def __init__(self, url):
        self.url = url

    def call(self, key, method, path, form=()):
        args = ["curl", "-sS", "-X", method, "-u", f"{key}:", "-w", "\n%{http_code}", self.url + path]
        for name, value in form:
            args += ["--data-urlencode", f"{name}={value}"]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        body, status = out.rsplit("\n", 1)
        return int(status), json.loads(body)

    def pay(self, key, number, amount, cvc="123", **extra):
        status, method = self.call(key, "POST", "/v1/payment_methods", [
            ("type", "card"), ("card[number]", number), ("card[exp_month]", "12"),
            ("card[exp_year]", str(EXP_YEAR)), ("card[cvc]", cvc)])
        assert status == 200, method
        form = [("amount", str(amount)), ("currency", "usd"), ("payment_method", method["id"]), ("confirm", "true")]
        form += [(k, str(v)) for k, v in extra.items()]
        status, body = self.call(key, "POST", "/v1/payment_intents", form)
        if status == 200:
            return body, None
        return None, {"status": status, **body["error"]}

    def capture(self, key, intent, **extra):
        status, body = self.call(key, "POST", f"/v1/payment_intents/{intent}/capture",
                                 [(k, str(v)) for k, v in extra.items()])
        assert status == 200, body
        return body

    def cancel(self, key, intent):
        status, body = self.call(key, "POST", f"/v1/payment_intents/{intent}/cancel")
        assert status == 200, body
        return body

    def refund(self, key, intent, amount):
        status, body = self.call(key, "POST", "/v1/refunds", [("payment_intent", intent), ("amount", str(amount))])
        assert status == 200, body
        return body

    def retrieve(self, key, kind, id):
        status, body = self.call(key, "GET", f"/v1/{kind}/{urllib.parse.quote(id)}")
        assert status == 200, body
        return body


class RoutedLikeSandbox(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = Gateway()
        cls.clients = [StripeLibrary(cls.gateway.url), Curl(cls.gateway.url)]
        cls.keys = {"routed": cls.gateway.routed["secret_key"], "sandbox": cls.gateway.sandbox["secret_key"]}
        cls.routed_approvals = 0

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def both(self, scenario):
        """`scenario(client, key)` for both merchants with each client; its
        views must be equal between the merchants."""
        for client in self.clients:
            with self.subTest(client=client.name):
                routed = scenario(client, self.keys["routed"])
                sandbox = scenario(client, self.keys["sandbox"])
                self.assertEqual(routed, sandbox, f"{client.name}: routed to acquirer-sim vs sandbox")

    def charge_of(self, client, key, intent):
        return charge_view(client.retrieve(key, "charges", intent["latest_charge"]))

    def test_1_approval(self):
        def scenario(client, key):
            intent, error = client.pay(key, "4242424242424242", 1500)
            self.assertIsNone(error)
            self.assertEqual(intent["status"], "succeeded")
            return intent["status"], intent["amount_received"], self.charge_of(client, key, intent)
        self.both(scenario)

    def test_2_each_decline(self):
        for number, decline_code in DECLINES:
            cvc = "123"

            def scenario(client, key):
                intent, error = client.pay(key, number, 2500, cvc=cvc)
                self.assertIsNone(intent, f"{number} is declined")
                payment_intent = error.pop("payment_intent", None) or {}
                charge = error.pop("charge", None)
                view = {"http": error["status"], **error_view(error)}
                view["intent_status"] = payment_intent.get("status")
                if charge:
                    view["charge"] = charge_view(client.retrieve(key, "charges", charge))
                return view

            with self.subTest(card=number[-4:]):
                self.both(scenario)
                view = scenario(self.clients[1], self.keys["routed"])
                self.assertEqual(view["decline_code"] or view["code"], decline_code, view)

    def test_3_manual_capture_partial(self):
        def scenario(client, key):
            intent, error = client.pay(key, "5555555555554444", 4000, capture_method="manual")
            self.assertIsNone(error)
            held = intent["status"]
            captured = client.capture(key, intent["id"], amount_to_capture=3000)
            return held, captured["status"], captured["amount_received"], self.charge_of(client, key, captured)
        self.both(scenario)

    def test_4_cancel_an_authorization(self):
        def scenario(client, key):
            intent, error = client.pay(key, "4242424242424242", 4500, capture_method="manual")
            self.assertIsNone(error)
            canceled = client.cancel(key, intent["id"])
            return canceled["status"], canceled.get("cancellation_reason"), self.charge_of(client, key, canceled)
        self.both(scenario)

    def test_5_partial_then_full_refund(self):
        def scenario(client, key):
            intent, error = client.pay(key, "4242424242424242", 5000)
            self.assertIsNone(error)
            first = client.refund(key, intent["id"], 1200)
            second = client.refund(key, intent["id"], 3800)
            return first["status"], second["status"], self.charge_of(client, key, intent)
        self.both(scenario)

    def test_9_the_journal_holds_the_routed_merchant_s_work(self):
        entries = self.gateway.journal_entries()
        kinds = {}
        for entry in entries:
            kinds[entry["type"]] = kinds.get(entry["type"], 0) + 1
        # Per client (2): approvals 1 + 1 + 1 + 1 (tests 1, 3, 4, 5); one
        # completion (test 3); one reversal (test 4); two refunds (test 5).
        self.assertEqual(kinds, {"approval": 8, "completion": 2, "reversal": 2, "refund": 4}, entries)
        self.assertTrue(all("4242424242424242" not in json.dumps(e) for e in entries), "PANs are masked")


if __name__ == "__main__":
    unittest.main(verbosity=2)
