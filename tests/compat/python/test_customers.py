"""Customers through the official `stripe` Python library.

Every call goes through the library's own request encoding, response parsing
and error mapping; the only change from talking to Stripe is `api_base`.
"""

from collections import Counter

import pytest
import stripe

# The library's error classes, under the name this pinned version exports
# (stripe.error.X is an alias kept for older code).
AuthenticationError = getattr(stripe, "AuthenticationError", None) or stripe.error.AuthenticationError
InvalidRequestError = getattr(stripe, "InvalidRequestError", None) or stripe.error.InvalidRequestError
IdempotencyError = getattr(stripe, "IdempotencyError", None) or stripe.error.IdempotencyError
PermissionError_ = getattr(stripe, "PermissionError", None) or stripe.error.PermissionError

ADDRESS = {
    "line1": "1 Portcullis Way",
    "line2": "Gatehouse",
    "city": "York",
    "state": "North Yorkshire",
    "postal_code": "YO1 7HH",
    "country": "GB",
}


def test_create_with_email_name_metadata_address(unique):
    email = f"ada-{unique}@example.com"
    customer = stripe.Customer.create(
        email=email,
        name="Ada Lovelace",
        description="first customer",
        phone="+441234567890",
        metadata={"order": "6735", "tier": "gold"},
        address=ADDRESS,
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.object == "customer"
    assert customer.id.startswith("cus_")
    assert customer.email == email
    assert customer.name == "Ada Lovelace"
    assert customer.description == "first customer"
    assert customer.phone == "+441234567890"
    assert customer.livemode is False
    assert isinstance(customer.created, int) and customer.created > 1_600_000_000
    assert customer.metadata.to_dict() == {"order": "6735", "tier": "gold"}
    assert customer.address.to_dict() == ADDRESS
    assert customer.address.city == "York"


def test_retrieve(unique):
    created = stripe.Customer.create(email=f"r-{unique}@example.com", metadata={"k": "v"})
    fetched = stripe.Customer.retrieve(created.id)
    assert isinstance(fetched, stripe.Customer)
    assert fetched.id == created.id
    assert fetched.email == created.email
    assert fetched.metadata["k"] == "v"
    assert fetched.to_dict() == created.to_dict()


def test_update_metadata_set_and_unset_and_clear_description(unique):
    customer = stripe.Customer.create(
        email=f"u-{unique}@example.com",
        description="to be cleared",
        metadata={"keep": "1", "drop": "2"},
    )
    updated = stripe.Customer.modify(
        customer.id,
        name="Renamed",
        description="",
        metadata={"drop": "", "added": "3"},
    )
    assert updated.id == customer.id
    assert updated.name == "Renamed"
    assert updated.description is None
    assert updated.metadata.to_dict() == {"keep": "1", "added": "3"}

    again = stripe.Customer.retrieve(customer.id)
    assert again.name == "Renamed"
    assert again.description is None
    assert again.metadata.to_dict() == {"keep": "1", "added": "3"}
    assert again.email == customer.email  # untouched fields stay


def test_update_clears_all_metadata_and_address(unique):
    customer = stripe.Customer.create(
        email=f"c-{unique}@example.com", metadata={"a": "1", "b": "2"}, address=ADDRESS
    )
    updated = stripe.Customer.modify(customer.id, metadata="", address="")
    assert updated.metadata.to_dict() == {}
    assert updated.address is None


def test_list_auto_paging_iter_sees_every_customer_once(new_merchant):
    # A merchant of its own, so the list holds exactly what this test made.
    key = new_merchant("Paging")["secret_key"]
    created = [
        stripe.Customer.create(email=f"page{i}@example.com", name=f"P {i}", api_key=key).id
        for i in range(27)
    ]
    first_page = stripe.Customer.list(limit=10, api_key=key)
    assert first_page.object == "list"
    assert first_page.url == "/v1/customers"
    assert first_page.has_more is True
    assert len(first_page.data) == 10

    seen = [c.id for c in first_page.auto_paging_iter()]
    counts = Counter(seen)
    assert [i for i, n in counts.items() if n > 1] == []
    assert set(seen) == set(created)
    assert len(seen) == 27
    # Newest first.
    assert seen == list(reversed(created))


def test_list_auto_paging_iter_backwards_with_ending_before(new_merchant):
    key = new_merchant("Backwards")["secret_key"]
    created = [stripe.Customer.create(name=f"B {i}", api_key=key).id for i in range(12)]
    # Newer than the oldest one: everything else, fetched page by page backwards.
    page = stripe.Customer.list(limit=5, ending_before=created[0], api_key=key)
    seen = [c.id for c in page.auto_paging_iter()]
    assert Counter(seen).most_common(1)[0][1] == 1
    assert set(seen) == set(created[1:])


def test_list_filter_by_email(unique):
    email = f"filter-{unique}@example.com"
    wanted = {stripe.Customer.create(email=email, name=f"F{i}").id for i in range(3)}
    stripe.Customer.create(email=f"other-{unique}@example.com")
    listed = stripe.Customer.list(email=email, limit=100)
    assert {c.id for c in listed.data} == wanted
    assert all(c.email == email for c in listed.data)
    assert listed.has_more is False
    assert stripe.Customer.list(email=f"nobody-{unique}@example.com").data == []


def test_search_by_email_and_name(unique):
    email = f"search-{unique}@example.com"
    by_email = stripe.Customer.create(email=email, name=f"Grace Hopper {unique}")
    other = stripe.Customer.create(email=f"else-{unique}@example.com", name=f"Grace Brewster {unique}")

    found = stripe.Customer.search(query=f"email:'{email}'")
    assert found.object == "search_result"
    assert [c.id for c in found.data] == [by_email.id]
    assert isinstance(found.data[0], stripe.Customer)

    found = stripe.Customer.search(query=f"name~'Hopper {unique}'")
    assert [c.id for c in found.data] == [by_email.id]

    found = stripe.Customer.search(query=f"name~'{unique}'", limit=100)
    assert {c.id for c in found.data} == {by_email.id, other.id}

    assert stripe.Customer.search(query=f"email:'none-{unique}@example.com'").data == []


def test_search_auto_paging_iter(unique):
    made = {stripe.Customer.create(name=f"Pager {unique} {i}").id for i in range(7)}
    result = stripe.Customer.search(query=f"name~'Pager {unique}'", limit=3)
    assert result.has_more is True
    assert result.next_page
    seen = [c.id for c in result.auto_paging_iter()]
    assert Counter(seen).most_common(1)[0][1] == 1
    assert set(seen) == made


def test_delete_then_retrieve_shows_deleted(unique):
    customer = stripe.Customer.create(email=f"d-{unique}@example.com")
    deleted = stripe.Customer.delete(customer.id)
    assert deleted.id == customer.id
    assert deleted.deleted is True

    fetched = stripe.Customer.retrieve(customer.id)
    assert fetched.id == customer.id
    assert fetched.deleted is True

    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.modify(customer.id, name="ghost")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


def test_deleted_customers_leave_list_and_search(unique):
    email = f"gone-{unique}@example.com"
    kept = stripe.Customer.create(email=email, name=f"Kept {unique}")
    gone = stripe.Customer.create(email=email, name=f"Gone {unique}")
    stripe.Customer.delete(gone.id)
    assert [c.id for c in stripe.Customer.list(email=email).data] == [kept.id]
    assert [c.id for c in stripe.Customer.search(query=f"name~'{unique}'").data] == [kept.id]


def test_customers_are_scoped_to_their_merchant(new_merchant, unique):
    other_key = new_merchant("Other")["secret_key"]
    mine = stripe.Customer.create(email=f"mine-{unique}@example.com")
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.retrieve(mine.id, api_key=other_key)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert stripe.Customer.list(api_key=other_key).data == []
    # Idempotency keys are per merchant too: the same key makes a new customer there.
    key = f"shared-{unique}"
    first = stripe.Customer.create(email=f"a-{unique}@example.com", idempotency_key=key)
    second = stripe.Customer.create(
        email=f"b-{unique}@example.com", idempotency_key=key, api_key=other_key
    )
    assert second.id != first.id
    assert second.email == f"b-{unique}@example.com"


def test_wrong_key_is_authentication_error():
    with pytest.raises(AuthenticationError) as raised:
        stripe.Customer.list(api_key="sk_test_thisKeyDoesNotExist0000000000")
    assert raised.value.http_status == 401
    assert isinstance(raised.value, stripe.error.AuthenticationError)
    assert raised.value.request_id and raised.value.request_id.startswith("req_")


def test_publishable_key_cannot_create_customers(merchant):
    with pytest.raises(PermissionError_) as raised:
        stripe.Customer.create(email="p@example.com", api_key=merchant["publishable_key"])
    assert raised.value.http_status == 403


def test_unknown_parameter_is_invalid_request_with_param():
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.create(email="x@example.com", favourite_colour="green")
    err = raised.value
    assert err.http_status == 400
    assert err.param == "favourite_colour"
    assert err.code == "parameter_unknown"
    assert err.error.type == "invalid_request_error"


def test_invalid_list_parameters():
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.list(limit=101)
    assert raised.value.http_status == 400
    assert raised.value.param == "limit"
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.list(starting_after="cus_doesNotExist000000000")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "starting_after"


def test_missing_customer_is_404_resource_missing():
    with pytest.raises(InvalidRequestError) as raised:
        stripe.Customer.retrieve("cus_doesNotExist000000000")
    err = raised.value
    assert err.http_status == 404
    assert err.code == "resource_missing"
    assert err.param == "id"
    assert "cus_doesNotExist000000000" in err.user_message


def test_idempotent_replay_returns_same_customer(unique):
    key = f"idem-{unique}"
    first = stripe.Customer.create(email=f"i-{unique}@example.com", idempotency_key=key)
    second = stripe.Customer.create(email=f"i-{unique}@example.com", idempotency_key=key)
    assert second.id == first.id
    assert second.to_dict() == first.to_dict()
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert stripe.Customer.list(email=f"i-{unique}@example.com").data[0].id == first.id
    assert len(stripe.Customer.list(email=f"i-{unique}@example.com").data) == 1


def test_same_idempotency_key_other_params_is_idempotency_error(unique):
    key = f"idem-mismatch-{unique}"
    stripe.Customer.create(email=f"m-{unique}@example.com", idempotency_key=key)
    with pytest.raises(IdempotencyError) as raised:
        stripe.Customer.create(email=f"different-{unique}@example.com", idempotency_key=key)
    assert raised.value.http_status == 400
    assert raised.value.error.type == "idempotency_error"


def test_rejected_request_does_not_use_up_its_idempotency_key(unique):
    key = f"idem-rejected-{unique}"
    with pytest.raises(InvalidRequestError):
        stripe.Customer.create(email=f"x-{unique}@example.com", bogus="1", idempotency_key=key)
    created = stripe.Customer.create(email=f"y-{unique}@example.com", idempotency_key=key)
    assert created.email == f"y-{unique}@example.com"


def test_every_response_has_request_id(unique):
    customer = stripe.Customer.create(email=f"rid-{unique}@example.com")
    assert customer.last_response.request_id.startswith("req_")


def test_stripe_client_style(server, merchant, unique):
    client = stripe.StripeClient(
        merchant["secret_key"],
        base_addresses={"api": server.base_url},
        max_network_retries=0,
    )
    customers = client.v1.customers
    created = customers.create(
        params={"email": f"client-{unique}@example.com", "metadata": {"style": "client"}}
    )
    assert created.id.startswith("cus_")
    assert customers.retrieve(created.id).metadata["style"] == "client"
    updated = customers.update(created.id, params={"name": "Via Client"})
    assert updated.name == "Via Client"
    listed = customers.list(params={"email": f"client-{unique}@example.com"})
    assert [c.id for c in listed.data] == [created.id]
    found = customers.search(params={"query": f"email:'client-{unique}@example.com'"})
    assert [c.id for c in found.data] == [created.id]
    assert customers.delete(created.id).deleted is True
