"""Card payments through the official `stripe` Python library.

Payment methods, payment intents (confirm, capture, cancel, list, search),
charges, refunds and events, each call going through the library's own
request encoding, response parsing, error mapping, automatic idempotency
keys and retries. Test cards behave as in the API contract's table.

Every test makes its own customers and cards; a test that needs to see every
object of a kind (search, event lists) uses a merchant of its own.
"""

from collections import Counter

import pytest
import stripe

CardError = getattr(stripe, "CardError", None) or stripe.error.CardError
InvalidRequestError = getattr(stripe, "InvalidRequestError", None) or stripe.error.InvalidRequestError
APIConnectionError = getattr(stripe, "APIConnectionError", None) or stripe.error.APIConnectionError

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
AUTH_ALWAYS = "4000002760003184"
REFUND_PENDING = "4000000000007726"
EXP_YEAR = 2034


def card(number, cvc="123", exp_month=12, exp_year=EXP_YEAR):
    return {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}


def new_card(number=VISA, api_key=None, **kwargs):
    extra = {"api_key": api_key} if api_key else {}
    return stripe.PaymentMethod.create(type="card", card=card(number, **kwargs), **extra)


def paid_intent(amount=1000, number=VISA, api_key=None, **kwargs):
    """A succeeded, automatically captured intent."""
    extra = {"api_key": api_key} if api_key else {}
    method = new_card(number, api_key=api_key)
    intent = stripe.PaymentIntent.create(
        amount=amount, currency="usd", payment_method=method.id, confirm=True, **kwargs, **extra
    )
    assert intent.status == "succeeded", intent
    return intent


# --- the whole flow ----------------------------------------------------------


def test_full_flow_customer_card_manual_capture_partial_refunds_and_lists(unique):
    customer = stripe.Customer.create(email=f"flow-{unique}@example.com", name="Flow")

    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": VISA, "exp_month": 12, "exp_year": EXP_YEAR, "cvc": "123"},
        billing_details={"name": "Flow Customer", "email": f"flow-{unique}@example.com"},
        metadata={"source": "compat"},
    )
    assert isinstance(method, stripe.PaymentMethod)
    assert method.object == "payment_method"
    assert method.id.startswith("pm_")
    assert method.type == "card"
    assert method.customer is None
    assert method.card.brand == "visa"
    assert method.card.last4 == "4242"
    assert method.card.exp_month == 12
    assert method.card.exp_year == EXP_YEAR
    assert method.card.funding in {"credit", "debit", "prepaid", "unknown"}
    assert method.card.fingerprint
    assert method.billing_details.name == "Flow Customer"
    assert method.metadata.to_dict() == {"source": "compat"}
    # Neither the full number nor the CVC ever comes back.
    raw = method.last_response.body
    assert VISA not in raw
    assert '"number"' not in raw and '"cvc"' not in raw

    attached = stripe.PaymentMethod.attach(method.id, customer=customer.id)
    assert attached.id == method.id
    assert attached.customer == customer.id

    intent = stripe.PaymentIntent.create(
        amount=2000,
        currency="usd",
        customer=customer.id,
        payment_method=method.id,
        capture_method="manual",
        confirm=True,
        description="flow",
        metadata={"order": "6735"},
    )
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.object == "payment_intent"
    assert intent.id.startswith("pi_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.status == "requires_capture"
    assert intent.capture_method == "manual"
    assert intent.amount == 2000
    assert intent.amount_capturable == 2000
    assert intent.amount_received == 0
    assert intent.currency == "usd"
    assert intent.customer == customer.id
    assert intent.payment_method == method.id
    assert intent.metadata["order"] == "6735"
    assert intent.livemode is False
    assert intent.latest_charge.startswith("ch_")

    captured = stripe.PaymentIntent.capture(intent.id, amount_to_capture=1500)
    assert captured.id == intent.id
    assert captured.status == "succeeded"
    assert captured.amount_received == 1500
    assert captured.amount_capturable == 0

    charge = stripe.Charge.retrieve(captured.latest_charge)
    assert charge.amount == 2000
    assert charge.amount_captured == 1500
    assert charge.captured is True
    assert charge.amount_refunded == 0

    # Three partial refunds, so that the list below spans pages.
    refunds = [
        stripe.Refund.create(
            payment_intent=intent.id, amount=amount, reason="requested_by_customer"
        )
        for amount in (500, 300, 200)
    ]
    first = refunds[0]
    assert isinstance(first, stripe.Refund)
    assert first.object == "refund"
    assert first.id.startswith("re_")
    assert first.amount == 500
    assert first.currency == "usd"
    assert first.payment_intent == intent.id
    assert first.charge == charge.id
    assert first.reason == "requested_by_customer"
    assert first.status == "succeeded"

    # 1000 of the 1500 captured is refunded; 600 more is too much.
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id, amount=600)
    assert raised.value.http_status == 400

    charge = stripe.Charge.retrieve(charge.id)
    assert charge.amount_refunded == 1000
    assert charge.refunded is False

    page = stripe.Refund.list(payment_intent=intent.id, limit=2)
    assert page.object == "list"
    assert page.url == "/v1/refunds"
    assert page.has_more is True
    seen = [r.id for r in page.auto_paging_iter()]
    assert seen == [r.id for r in reversed(refunds)]  # newest first, each once

    # More intents for the customer, so that the intent list spans pages too.
    more = [
        stripe.PaymentIntent.create(amount=100 + i, currency="usd", customer=customer.id).id
        for i in range(4)
    ]
    stripe.PaymentIntent.create(amount=999, currency="usd")  # someone else's
    page = stripe.PaymentIntent.list(customer=customer.id, limit=2)
    assert page.url == "/v1/payment_intents"
    assert page.has_more is True
    seen = [pi.id for pi in page.auto_paging_iter()]
    assert seen == list(reversed([intent.id, *more]))
    assert all(isinstance(pi, stripe.PaymentIntent) for pi in page.auto_paging_iter())


# --- payment methods -------------------------------------------------------------


def test_attach_list_for_customer_and_detach(unique):
    customer = stripe.Customer.create(email=f"pm-{unique}@example.com")
    visa = new_card(VISA)
    mastercard = new_card(MASTERCARD)
    stripe.PaymentMethod.attach(visa.id, customer=customer.id)
    stripe.PaymentMethod.attach(mastercard.id, customer=customer.id)

    listed = stripe.Customer.list_payment_methods(customer.id)
    assert listed.object == "list"
    assert {m.id for m in listed.data} == {visa.id, mastercard.id}
    assert {m.card.brand for m in listed.data} == {"visa", "mastercard"}
    assert all(isinstance(m, stripe.PaymentMethod) for m in listed.data)

    by_filter = stripe.PaymentMethod.list(customer=customer.id, type="card")
    assert {m.id for m in by_filter.data} == {visa.id, mastercard.id}

    detached = stripe.PaymentMethod.detach(visa.id)
    assert detached.id == visa.id
    assert detached.customer is None
    assert [m.id for m in stripe.Customer.list_payment_methods(customer.id).data] == [mastercard.id]
    assert stripe.PaymentMethod.retrieve(visa.id).customer is None


def test_wallet_payment_methods_attach_and_list_by_type(unique):
    customer = stripe.Customer.create(email=f"wallet-{unique}@example.com")
    alipay = stripe.PaymentMethod.create(type="alipay", billing_details={"name": "Li Lei"})
    wechat = stripe.PaymentMethod.create(type="wechat_pay")
    assert isinstance(alipay, stripe.PaymentMethod)
    assert alipay.type == "alipay" and alipay.alipay.to_dict() == {}
    assert "card" not in alipay
    assert wechat.type == "wechat_pay" and wechat.wechat_pay.to_dict() == {}
    assert stripe.PaymentMethod.retrieve(alipay.id).billing_details.name == "Li Lei"

    stripe.PaymentMethod.attach(alipay.id, customer=customer.id)
    stripe.PaymentMethod.attach(wechat.id, customer=customer.id)
    mine = stripe.Customer.list_payment_methods(customer.id, type="alipay")
    assert [m.id for m in mine.data] == [alipay.id]
    assert [m.id for m in stripe.PaymentMethod.list(customer=customer.id, type="card").data] == []
    detached = stripe.PaymentMethod.detach(wechat.id)
    assert detached.customer is None and detached.type == "wechat_pay"


def test_same_card_has_same_fingerprint():
    a, b = new_card(VISA), new_card(VISA)
    other = new_card(MASTERCARD)
    assert a.id != b.id
    assert a.card.fingerprint == b.card.fingerprint
    assert a.card.fingerprint != other.card.fingerprint


@pytest.mark.parametrize(
    "kwargs, code, param",
    [
        ({"exp_month": 13}, "invalid_expiry_month", "exp_month"),
        ({"exp_year": 2019}, "invalid_expiry_year", "exp_year"),
        ({"cvc": "12"}, "invalid_cvc", "cvc"),
    ],
)
def test_invalid_card_details_are_card_errors(kwargs, code, param):
    with pytest.raises(CardError) as raised:
        new_card(VISA, **kwargs)
    assert raised.value.http_status == 402
    assert raised.value.code == code
    assert raised.value.param == f"card[{param}]"
    assert raised.value.error.type == "card_error"


def test_number_failing_luhn_is_incorrect_number():
    with pytest.raises(CardError) as raised:
        new_card("4242424242424241")
    assert raised.value.http_status == 402
    assert raised.value.code == "incorrect_number"
    assert raised.value.param == "card[number]"


# --- declines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, code, decline_code",
    [
        ("4000000000000002", "card_declined", "generic_decline"),
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000009987", "card_declined", "lost_card"),
        ("4000000000009979", "card_declined", "stolen_card"),
        ("4100000000000019", "card_declined", "fraudulent"),
    ],
)
def test_declined_card_raises_card_error(number, code, decline_code, unique):
    customer = stripe.Customer.create(email=f"decline-{unique}@example.com")
    method = new_card(number)
    with pytest.raises(CardError) as raised:
        stripe.PaymentIntent.create(
            amount=1234,
            currency="usd",
            customer=customer.id,
            payment_method=method.id,
            confirm=True,
        )
    err = raised.value
    assert err.http_status == 402
    assert err.code == code
    assert err.error.type == "card_error"
    assert err.error.decline_code == decline_code
    assert err.json_body["error"]["decline_code"] == decline_code
    assert err.request_id.startswith("req_")

    failed = err.error.payment_intent
    assert failed is not None
    assert isinstance(failed, stripe.PaymentIntent)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == code
    assert failed.last_payment_error.decline_code == decline_code
    assert failed.amount_received == 0

    # The intent itself says the same, and a good card can still pay it.
    fetched = stripe.PaymentIntent.retrieve(failed.id)
    assert fetched.status == "requires_payment_method"
    assert fetched.last_payment_error.decline_code == decline_code
    paid = stripe.PaymentIntent.confirm(failed.id, payment_method=new_card(VISA).id)
    assert paid.status == "succeeded"
    assert paid.amount_received == 1234
    assert paid.last_payment_error is None


@pytest.mark.parametrize(
    "number, code",
    [
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
        ("4000000000000119", "processing_error"),
    ],
)
def test_other_card_failures(number, code):
    with pytest.raises(CardError) as raised:
        stripe.PaymentIntent.create(
            amount=500, currency="usd", payment_method=new_card(number).id, confirm=True
        )
    assert raised.value.http_status == 402
    assert raised.value.code == code
    assert raised.value.error.payment_intent.status == "requires_payment_method"


# --- well-known test payment methods -----------------------------------------------


def test_pm_card_visa_test_ids():
    intent = stripe.PaymentIntent.create(
        amount=4200, currency="usd", payment_method="pm_card_visa", confirm=True
    )
    assert intent.status == "succeeded"
    assert intent.amount_received == 4200
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert charge.paid is True
    assert charge.payment_method_details.card.brand == "visa"

    with pytest.raises(CardError) as raised:
        stripe.PaymentIntent.create(
            amount=4200, currency="usd", payment_method="pm_card_visa_chargeDeclined", confirm=True
        )
    assert raised.value.code == "card_declined"
    assert raised.value.error.payment_intent.status == "requires_payment_method"

    with pytest.raises(CardError) as raised:
        stripe.PaymentIntent.create(
            amount=4200,
            currency="usd",
            payment_method="pm_card_visa_chargeDeclinedInsufficientFunds",
            confirm=True,
        )
    assert raised.value.error.decline_code == "insufficient_funds"


# --- the life of an intent ---------------------------------------------------------


def test_create_update_then_confirm_separately(unique):
    customer = stripe.Customer.create(email=f"two-step-{unique}@example.com")
    intent = stripe.PaymentIntent.create(amount=1000, currency="eur", customer=customer.id)
    assert intent.status == "requires_payment_method"
    assert intent.payment_method_types == ["card"]

    updated = stripe.PaymentIntent.modify(
        intent.id, amount=1500, description="bigger", metadata={"step": "2"}
    )
    assert updated.amount == 1500
    assert updated.description == "bigger"
    assert updated.metadata.to_dict() == {"step": "2"}

    method = new_card(MASTERCARD)
    confirmed = stripe.PaymentIntent.confirm(intent.id, payment_method=method.id)
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 1500
    assert confirmed.payment_method == method.id

    # A succeeded intent is final.
    with pytest.raises(InvalidRequestError) as raised:
        stripe.PaymentIntent.confirm(intent.id)
    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    with pytest.raises(InvalidRequestError) as raised:
        stripe.PaymentIntent.cancel(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_capture_more_than_capturable_is_refused():
    method = new_card(VISA)
    intent = stripe.PaymentIntent.create(
        amount=1000, currency="usd", payment_method=method.id, capture_method="manual", confirm=True
    )
    assert intent.status == "requires_capture"
    with pytest.raises(InvalidRequestError) as raised:
        stripe.PaymentIntent.capture(intent.id, amount_to_capture=1001)
    assert raised.value.http_status == 400
    assert stripe.PaymentIntent.retrieve(intent.id).status == "requires_capture"

    # Capturing without an amount takes all of it.
    captured = stripe.PaymentIntent.capture(intent.id)
    assert captured.status == "succeeded"
    assert captured.amount_received == 1000


def test_cancel_from_each_cancelable_state():
    fresh = stripe.PaymentIntent.create(amount=700, currency="usd")
    canceled = stripe.PaymentIntent.cancel(fresh.id, cancellation_reason="requested_by_customer")
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert isinstance(canceled.canceled_at, int) and canceled.canceled_at > 1_600_000_000

    authorized = stripe.PaymentIntent.create(
        amount=700,
        currency="usd",
        payment_method=new_card(VISA).id,
        capture_method="manual",
        confirm=True,
    )
    assert authorized.status == "requires_capture"
    released = stripe.PaymentIntent.cancel(authorized.id, cancellation_reason="abandoned")
    assert released.status == "canceled"
    assert released.amount_capturable == 0
    assert released.amount_received == 0

    challenged = stripe.PaymentIntent.create(
        amount=700,
        currency="usd",
        payment_method=new_card(AUTH_ALWAYS).id,
        confirm=True,
        return_url="https://merchant.example/done",
    )
    assert challenged.status == "requires_action"
    assert challenged.next_action.type == "redirect_to_url"
    assert "/authenticate/" in challenged.next_action.redirect_to_url.url
    assert stripe.PaymentIntent.cancel(challenged.id).status == "canceled"

    # Canceled is final.
    for intent in (fresh, authorized):
        with pytest.raises(InvalidRequestError) as raised:
            stripe.PaymentIntent.capture(intent.id)
        assert raised.value.code == "payment_intent_unexpected_state"
        with pytest.raises(InvalidRequestError) as raised:
            stripe.PaymentIntent.cancel(intent.id)
        assert raised.value.code == "payment_intent_unexpected_state"
        assert raised.value.error.payment_intent.status == "canceled"


def test_search_succeeded_intents(new_merchant):
    key = new_merchant("Search")["secret_key"]
    succeeded = {paid_intent(amount=1000 + i, api_key=key).id for i in range(3)}
    stripe.PaymentIntent.create(amount=50, currency="usd", api_key=key)
    held = stripe.PaymentIntent.create(
        amount=60,
        currency="usd",
        payment_method=new_card(VISA, api_key=key).id,
        capture_method="manual",
        confirm=True,
        api_key=key,
    )
    stripe.PaymentIntent.cancel(
        stripe.PaymentIntent.create(amount=70, currency="usd", api_key=key).id, api_key=key
    )

    found = stripe.PaymentIntent.search(query="status:'succeeded'", api_key=key)
    assert found.object == "search_result"
    assert {pi.id for pi in found.data} == succeeded
    assert all(isinstance(pi, stripe.PaymentIntent) for pi in found.data)
    assert all(pi.status == "succeeded" for pi in found.data)

    paged = stripe.PaymentIntent.search(query="status:'succeeded'", limit=2, api_key=key)
    assert paged.has_more is True
    seen = [pi.id for pi in paged.auto_paging_iter()]
    assert Counter(seen).most_common(1)[0][1] == 1
    assert set(seen) == succeeded

    found = stripe.PaymentIntent.search(query="status:'requires_capture'", api_key=key)
    assert [pi.id for pi in found.data] == [held.id]


def test_charge_retrieve_and_list():
    intent = paid_intent(amount=3100, description="charge me")
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert isinstance(charge, stripe.Charge)
    assert charge.object == "charge"
    assert charge.id.startswith("ch_")
    assert charge.amount == 3100
    assert charge.amount_captured == 3100
    assert charge.amount_refunded == 0
    assert charge.currency == "usd"
    assert charge.captured is True
    assert charge.paid is True
    assert charge.refunded is False
    assert charge.status == "succeeded"
    assert charge.payment_intent == intent.id
    assert charge.payment_method == intent.payment_method
    assert charge.outcome.network_status == "approved_by_network"
    assert charge.outcome.type == "authorized"
    assert charge.outcome.risk_level in {"normal", "elevated", "highest"}
    assert charge.payment_method_details.card.last4 == "4242"

    listed = stripe.Charge.list(payment_intent=intent.id)
    assert [c.id for c in listed.data] == [charge.id]


def test_captured_charge_has_balance_transaction():
    charge = stripe.Charge.retrieve(paid_intent(amount=3200).latest_charge)
    assert charge.captured is True
    assert isinstance(charge.balance_transaction, str)
    assert charge.balance_transaction.startswith("txn_")
    txn = stripe.BalanceTransaction.retrieve(charge.balance_transaction)
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.type, txn.amount, txn.source) == ("charge", 3200, charge.id)
    assert txn.net == txn.amount - txn.fee
    assert sum(detail.amount for detail in txn.fee_details) == txn.fee
    assert txn.status in ("pending", "available")


def test_balance_lists_available_and_pending_per_currency():
    paid_intent(amount=1500)
    balance = stripe.Balance.retrieve()
    assert isinstance(balance, stripe.Balance)
    pending = {entry.currency: entry.amount for entry in balance.pending}
    assert pending.get("usd", 0) > 0
    assert {entry.currency for entry in balance.available} == set(pending)
    listed = stripe.BalanceTransaction.list(limit=2, type="charge")
    assert len(listed.data) == 2 and all(t.type == "charge" for t in listed.data)


def test_payout_above_the_available_balance_is_refused():
    available = {e.currency: e.amount for e in stripe.Balance.retrieve().available}.get("usd", 0)
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Payout.create(amount=max(available, 0) + 1, currency="usd")
    assert raised.value.code == "balance_insufficient"
    assert raised.value.http_status == 400


def test_failed_attempt_leaves_a_failed_charge():
    with pytest.raises(CardError) as raised:
        stripe.PaymentIntent.create(
            amount=800, currency="usd", payment_method=new_card("4000000000000002").id, confirm=True
        )
    charge_id = raised.value.error.charge
    assert charge_id and charge_id.startswith("ch_")
    charge = stripe.Charge.retrieve(charge_id)
    assert charge.status == "failed"
    assert charge.paid is False
    assert charge.failure_code == "card_declined"
    assert charge.outcome.network_status == "declined_by_network"


# --- refunds -------------------------------------------------------------------------


def test_refund_retrieve_update_and_full_refund():
    intent = paid_intent(amount=2500)
    refund = stripe.Refund.create(payment_intent=intent.id, metadata={"ticket": "1"})
    assert refund.amount == 2500  # default: everything that remains
    assert refund.status == "succeeded"

    fetched = stripe.Refund.retrieve(refund.id)
    assert fetched.to_dict() == refund.to_dict()

    updated = stripe.Refund.modify(refund.id, metadata={"ticket": "", "note": "done"})
    assert updated.metadata.to_dict() == {"note": "done"}

    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert charge.refunded is True
    assert charge.amount_refunded == 2500

    with pytest.raises(InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id, amount=1)
    assert raised.value.code == "charge_already_refunded"

    by_charge = stripe.Refund.list(charge=charge.id)
    assert [r.id for r in by_charge.data] == [refund.id]


def test_refund_by_charge_and_cancel_a_pending_refund():
    intent = paid_intent(amount=900, number=REFUND_PENDING)
    refund = stripe.Refund.create(charge=intent.latest_charge, amount=400)
    assert refund.payment_intent == intent.id
    assert refund.status == "pending"
    canceled = stripe.Refund.cancel(refund.id)
    assert canceled.id == refund.id
    assert canceled.status == "canceled"
    assert stripe.Charge.retrieve(intent.latest_charge).amount_refunded == 0

    # A succeeded refund cannot be canceled.
    done = stripe.Refund.create(payment_intent=paid_intent(amount=900).id)
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Refund.cancel(done.id)
    assert raised.value.http_status == 400


def test_refund_of_uncaptured_intent_is_refused():
    intent = stripe.PaymentIntent.create(
        amount=1000, currency="usd", payment_method=new_card(VISA).id, capture_method="manual", confirm=True
    )
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id)
    assert raised.value.http_status == 400


# --- events ----------------------------------------------------------------------------


def test_event_list_by_type(new_merchant):
    key = new_merchant("Events")["secret_key"]
    first = paid_intent(amount=1100, api_key=key)
    second = paid_intent(amount=1200, api_key=key)
    stripe.Refund.create(payment_intent=second.id, amount=200, api_key=key)

    succeeded = stripe.Event.list(type="payment_intent.succeeded", api_key=key)
    assert succeeded.object == "list"
    assert succeeded.url == "/v1/events"
    assert [e.data.object.id for e in succeeded.data] == [second.id, first.id]
    event = succeeded.data[0]
    assert isinstance(event, stripe.Event)
    assert event.object == "event"
    assert event.id.startswith("evt_")
    assert event.type == "payment_intent.succeeded"
    assert event.livemode is False
    assert event.data.object.object == "payment_intent"
    assert event.data.object.status == "succeeded"
    assert event.request.id.startswith("req_")
    assert event.request.idempotency_key  # the library sent one for the create

    assert stripe.Event.retrieve(event.id, api_key=key).to_dict() == event.to_dict()

    created = stripe.Event.list(type="payment_intent.created", api_key=key)
    assert {e.data.object.id for e in created.data} == {first.id, second.id}

    refunds = stripe.Event.list(type="refund.created", api_key=key)
    assert len(refunds.data) == 1
    assert refunds.data[0].data.object.amount == 200

    charges = stripe.Event.list(type="charge.succeeded", api_key=key)
    assert {e.data.object.payment_intent for e in charges.data} == {first.id, second.id}


def test_event_list_by_several_types(new_merchant):
    key = new_merchant("EventTypes")["secret_key"]
    intent = paid_intent(amount=1300, api_key=key)
    refund = stripe.Refund.create(payment_intent=intent.id, amount=300, api_key=key)
    listed = stripe.Event.list(types=["payment_intent.succeeded", "refund.created"], api_key=key)
    assert [(e.type, e.data.object.id) for e in listed.data] == [
        ("refund.created", refund.id),
        ("payment_intent.succeeded", intent.id),
    ]


# --- idempotency and expand ------------------------------------------------------------


class _DropFirstResponse(stripe.RequestsClient):
    """Sends every request, but loses the answer to the first POST: the server
    did the work, the client saw a dropped connection and retries, as a
    network failure would make it."""

    def __init__(self):
        super().__init__()
        self.posts = []

    def request(self, method, url, headers, post_data=None, **kwargs):
        response = super().request(method, url, headers, post_data, **kwargs)
        if method == "post":
            self.posts.append((dict(headers), response))
            if len(self.posts) == 1:
                raise APIConnectionError("connection reset (simulated)", should_retry=True)
        return response


def test_library_retry_with_automatic_idempotency_key_returns_same_intent(server, merchant, unique):
    http = _DropFirstResponse()
    client = stripe.StripeClient(
        merchant["secret_key"],
        base_addresses={"api": server.base_url},
        http_client=http,
        max_network_retries=2,
    )
    customer = stripe.Customer.create(email=f"retry-{unique}@example.com")
    method = new_card(VISA)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1700,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
        }
    )
    assert len(http.posts) == 2, "the library should have retried once"
    (first_headers, first), (second_headers, second) = http.posts
    key = first_headers.get("Idempotency-Key")
    assert key, "the library sends an Idempotency-Key on every POST"
    assert second_headers.get("Idempotency-Key") == key
    assert first[1] == 200 and second[1] == 200
    assert second[2].get("Idempotent-Replayed") == "true"
    assert first[0] == second[0]  # replayed byte for byte

    assert intent.status == "succeeded"
    listed = stripe.PaymentIntent.list(customer=customer.id)
    assert [pi.id for pi in listed.data] == [intent.id]  # charged once
    assert len(stripe.Charge.list(payment_intent=intent.id).data) == 1


def test_explicit_idempotency_key_replays_confirmed_create(unique):
    key = f"pi-{unique}"
    method = new_card(VISA)
    params = dict(amount=1800, currency="usd", payment_method=method.id, confirm=True)
    first = stripe.PaymentIntent.create(idempotency_key=key, **params)
    second = stripe.PaymentIntent.create(idempotency_key=key, **params)
    assert second.id == first.id
    assert second.to_dict() == first.to_dict()
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(stripe.Charge.list(payment_intent=first.id).data) == 1

    # The same key on a capture or refund replays too: refunded once.
    refund_key = f"re-{unique}"
    r1 = stripe.Refund.create(payment_intent=first.id, amount=100, idempotency_key=refund_key)
    r2 = stripe.Refund.create(payment_intent=first.id, amount=100, idempotency_key=refund_key)
    assert r1.id == r2.id
    assert stripe.Charge.retrieve(first.latest_charge).amount_refunded == 100




def test_expand_latest_charge_on_create_with_confirm():
    intent = stripe.PaymentIntent.create(
        amount=2100,
        currency="usd",
        payment_method=new_card(VISA).id,
        confirm=True,
        expand=["latest_charge"],
    )
    assert intent.status == "succeeded"
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.amount == 2100
    assert charge.payment_intent == intent.id


def test_expand_latest_charge_on_confirm():
    intent = stripe.PaymentIntent.create(amount=2200, currency="usd")
    confirmed = stripe.PaymentIntent.confirm(
        intent.id, payment_method=new_card(VISA).id, expand=["latest_charge"]
    )
    assert confirmed.status == "succeeded"
    assert isinstance(confirmed.latest_charge, stripe.Charge)
    assert confirmed.latest_charge.amount_captured == 2200


def test_expand_latest_charge_on_capture_shows_the_capture():
    intent = stripe.PaymentIntent.create(
        amount=2300, currency="usd", payment_method=new_card(VISA).id, capture_method="manual", confirm=True
    )
    captured = stripe.PaymentIntent.capture(
        intent.id, amount_to_capture=1500, expand=["latest_charge"]
    )
    assert captured.status == "succeeded"
    assert isinstance(captured.latest_charge, stripe.Charge)
    assert captured.latest_charge.captured is True
    assert captured.latest_charge.amount_captured == 1500


def test_expand_on_retrieve_and_list(unique):
    customer = stripe.Customer.create(email=f"expand-{unique}@example.com")
    method = new_card(VISA)
    intent = stripe.PaymentIntent.create(
        amount=2100, currency="usd", customer=customer.id, payment_method=method.id, confirm=True
    )
    assert isinstance(intent.latest_charge, str)

    fetched = stripe.PaymentIntent.retrieve(
        intent.id, expand=["latest_charge", "payment_method", "customer"]
    )
    assert isinstance(fetched.latest_charge, stripe.Charge)
    assert fetched.latest_charge.id == intent.latest_charge
    assert fetched.latest_charge.amount == 2100
    assert fetched.latest_charge.payment_intent == intent.id
    assert isinstance(fetched.payment_method, stripe.PaymentMethod)
    assert fetched.payment_method.card.last4 == "4242"
    assert isinstance(fetched.customer, stripe.Customer)
    assert fetched.customer.id == customer.id

    listed = stripe.PaymentIntent.list(customer=customer.id, expand=["data.latest_charge"])
    assert [pi.id for pi in listed.data] == [intent.id]
    assert isinstance(listed.data[0].latest_charge, stripe.Charge)

    plain = stripe.PaymentIntent.retrieve(intent.id)
    assert plain.latest_charge == intent.latest_charge

    with pytest.raises(InvalidRequestError) as raised:
        stripe.PaymentIntent.retrieve(intent.id, expand=["client_secret"])
    assert raised.value.http_status == 400
