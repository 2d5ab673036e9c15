"""Response shapes against Stripe's published schemas.

The official library is generated from Stripe's OpenAPI description: each
resource class annotates every field of the object, and fields that the
schema always includes are annotated without ``Optional``. Every such field
must be present in our JSON, and every present, non-null value must have
the annotated basic type.
"""

import json
import typing
import urllib.request

import pytest
import stripe

BASIC = {"int": int, "str": str, "bool": bool, "Dict": dict, "List": list}


def always_present(cls) -> dict:
    """Field name -> annotation text, for the fields the schema always includes."""
    hints = {}
    for klass in reversed(cls.__mro__):
        hints.update(getattr(klass, "__annotations__", {}))
    return {
        name: str(annotation)
        for name, annotation in hints.items()
        if not name.startswith("_") and "Optional" not in str(annotation) and "ClassVar" not in str(annotation)
    }


def raw(path: str) -> dict:
    request = urllib.request.Request(stripe.api_base + path, headers={"Authorization": f"Bearer {stripe.api_key}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def check(cls, obj: dict) -> None:
    fields = always_present(cls)
    assert fields, f"{cls.__name__} has no annotated fields"
    missing = sorted(name for name in fields if name not in obj)
    assert not missing, f"{cls.__name__} lacks fields Stripe always sends: {missing}"
    for name, annotation in fields.items():
        value = obj[name]
        if value is None:
            continue
        outer = annotation.split("[")[0].strip("'\" ")
        expected = BASIC.get(outer)
        if expected is not None:
            assert isinstance(value, expected), f"{cls.__name__}.{name} = {value!r} is not {outer}"


@pytest.fixture
def paid():
    customer = stripe.Customer.create(email="shape@example.com")
    intent = stripe.PaymentIntent.create(
        amount=1500, currency="usd", customer=customer.id, payment_method="pm_card_visa", confirm=True
    )
    refund = stripe.Refund.create(payment_intent=intent.id, amount=100)
    return customer, intent, refund


def test_customer_shape(paid):
    customer, _, _ = paid
    check(stripe.Customer, raw(f"/v1/customers/{customer.id}"))


def test_payment_intent_shape(paid):
    _, intent, _ = paid
    check(stripe.PaymentIntent, raw(f"/v1/payment_intents/{intent.id}"))


def test_charge_shape(paid):
    _, intent, _ = paid
    check(stripe.Charge, raw(f"/v1/charges/{intent.latest_charge}"))


def test_payment_method_shape(paid):
    _, intent, _ = paid
    check(stripe.PaymentMethod, raw(f"/v1/payment_methods/{intent.payment_method}"))


def test_refund_shape(paid):
    _, _, refund = paid
    check(stripe.Refund, raw(f"/v1/refunds/{refund.id}"))


def test_event_shape(paid):
    event = raw("/v1/events?limit=1")["data"][0]
    check(stripe.Event, event)


def test_list_shape(paid):
    listed = raw("/v1/customers?limit=1")
    assert set(listed) >= {"object", "data", "has_more", "url"}
    assert listed["object"] == "list" and isinstance(listed["data"], list)
