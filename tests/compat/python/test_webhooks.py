"""Webhooks verified by the official `stripe` Python library.

A tiny receiver on 127.0.0.1 takes Portcullis's deliveries; the library's
own `stripe.Webhook.construct_event` must accept their `Stripe-Signature`
with the endpoint's secret, and refuse it with any other secret.
"""

import http.server
import threading
import time

import pytest
import requests
import stripe

SignatureVerificationError = (
    getattr(stripe, "SignatureVerificationError", None) or stripe.error.SignatureVerificationError
)
WAIT_S = 20


class Receiver:
    """Records each POST's raw body and signature header; answers 200."""

    def __init__(self):
        self.deliveries: list[tuple[bytes, str]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    receiver.deliveries.append((body, self.headers.get("Stripe-Signature", "")))
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int) -> list[tuple[bytes, str]]:
        deadline = time.monotonic() + WAIT_S
        with self.arrived:
            while len(self.deliveries) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(self.deliveries)} of {count} deliveries arrived"
                self.arrived.wait(remaining)
            return list(self.deliveries)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def isolated(new_merchant):
    """A merchant of its own, so only this test's events reach its endpoint."""
    merchant = new_merchant("Webhooks")
    stripe.api_key = merchant["secret_key"]
    return merchant


def test_construct_event_accepts_a_delivery(receiver, isolated):
    endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["payment_intent.created"])
    assert isinstance(endpoint, stripe.WebhookEndpoint)
    assert endpoint.secret.startswith("whsec_")
    intent = stripe.PaymentIntent.create(amount=1999, currency="usd")

    body, signature = receiver.wait_for(1)[0]
    event = stripe.Webhook.construct_event(body.decode("utf-8"), signature, endpoint.secret)
    assert event.type == "payment_intent.created"
    assert event.data.object.id == intent.id
    assert event.data.object.amount == 1999

    with pytest.raises(SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode("utf-8"), signature, "whsec_not_the_secret")
    with pytest.raises(SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode("utf-8").replace("1999", "1"), signature, endpoint.secret)


def test_endpoint_round_trips_and_hides_its_secret(receiver, isolated):
    endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["*"], description="orders")
    fetched = stripe.WebhookEndpoint.retrieve(endpoint.id)
    assert fetched.status == "enabled" and fetched.enabled_events == ["*"]
    assert "secret" not in fetched
    updated = stripe.WebhookEndpoint.modify(endpoint.id, disabled=True, metadata={"team": "pay"})
    assert updated.status == "disabled" and updated.metadata["team"] == "pay"
    assert [e.id for e in stripe.WebhookEndpoint.list()] == [endpoint.id]
    assert stripe.WebhookEndpoint.delete(endpoint.id).deleted is True


def test_a_rolled_secret_and_the_old_one_both_verify(receiver, isolated, server):
    endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=["payment_intent.created"])
    # roll_secret is a Portcullis addition the library has no method for.
    answer = requests.post(
        f"{server.base_url}/v1/webhook_endpoints/{endpoint.id}/roll_secret",
        auth=(isolated["secret_key"], ""),
        data={"expires_in_s": "3600"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    rolled = answer.json()
    stripe.PaymentIntent.create(amount=500, currency="eur")
    body, signature = receiver.wait_for(1)[0]
    assert signature.count("v1=") == 2
    for secret in (endpoint.secret, rolled["secret"]):
        stripe.Webhook.construct_event(body.decode("utf-8"), signature, secret)
