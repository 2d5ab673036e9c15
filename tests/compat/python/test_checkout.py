"""Checkout Sessions through the official `stripe` Python library: create
(line items priced inline), retrieve, list, line items, expire — the calls a
merchant's server makes, unchanged except for `api_base`.
"""

import pytest
import stripe

InvalidRequestError = getattr(stripe, "InvalidRequestError", None) or stripe.error.InvalidRequestError
PermissionError_ = getattr(stripe, "PermissionError", None) or stripe.error.PermissionError

LINE_ITEMS = [
    {"price_data": {"currency": "usd", "unit_amount": 2000, "product_data": {"name": "T-shirt"}}, "quantity": 2},
    {"price_data": {"currency": "usd", "unit_amount": 350, "product_data": {"name": "Socks"}}, "quantity": 3},
]
SUCCESS_URL = "https://shop.example/done?session_id={CHECKOUT_SESSION_ID}"


def create_session(**extra):
    return stripe.checkout.Session.create(
        mode="payment",
        line_items=LINE_ITEMS,
        success_url=SUCCESS_URL,
        cancel_url="https://shop.example/cart",
        **extra,
    )


def test_create_and_retrieve_a_session(server, unique):
    session = create_session(
        customer_email=f"buyer-{unique}@example.com",
        payment_method_types=["card"],
        locale="zh",
        metadata={"order": unique},
    )
    assert isinstance(session, stripe.checkout.Session)
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.amount_total == 5050
    assert session.currency == "usd"
    assert session.locale == "zh"
    assert session.metadata["order"] == unique
    assert session.url == f"{server.base_url}/checkout/{session.id}"
    assert session.expires_at - session.created == 24 * 3600

    again = stripe.checkout.Session.retrieve(session.id)
    assert again.id == session.id
    assert again.amount_total == 5050

    expanded = stripe.checkout.Session.retrieve(session.id, expand=["line_items"])
    assert [item.description for item in expanded.line_items.data] == ["T-shirt", "Socks"]


def test_line_items_page_through_the_library():
    session = create_session()
    items = stripe.checkout.Session.list_line_items(session.id, limit=1)
    assert items.has_more is True
    collected = [item for item in items.auto_paging_iter()]
    assert [item.quantity for item in collected] == [2, 3]
    assert collected[0].price.unit_amount == 2000
    assert collected[1].amount_total == 1050


def test_expire_then_expire_again_is_refused():
    session = create_session()
    expired = stripe.checkout.Session.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None
    with pytest.raises(InvalidRequestError):
        stripe.checkout.Session.expire(session.id)
    events = stripe.Event.list(type="checkout.session.expired", limit=100)
    assert session.id in [event.data.object.id for event in events.data]


def test_list_filters_by_status():
    open_session = create_session()
    closed = create_session()
    stripe.checkout.Session.expire(closed.id)
    open_ids = [s.id for s in stripe.checkout.Session.list(status="open", limit=100).auto_paging_iter()]
    assert open_session.id in open_ids
    assert closed.id not in open_ids


def test_bad_parameters_raise_invalid_request_errors():
    with pytest.raises(InvalidRequestError) as raised:
        stripe.checkout.Session.create(
            mode="payment",
            success_url=SUCCESS_URL,
            line_items=[{"price_data": {"currency": "usd", "unit_amount": 100,
                                        "product_data": {"name": "x"}}, "quantity": 0}],
        )
    assert raised.value.param == "line_items[0][quantity]"
    with pytest.raises(InvalidRequestError):
        stripe.checkout.Session.retrieve("cs_test_doesnotexist0000000000")


def test_publishable_keys_cannot_create_sessions(merchant):
    with pytest.raises(PermissionError_):
        stripe.checkout.Session.create(
            api_key=merchant["publishable_key"],
            mode="payment",
            line_items=LINE_ITEMS,
            success_url=SUCCESS_URL,
        )
