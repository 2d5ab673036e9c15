"""Client-side encryption with an independent encrypter: `jwcrypto` reads
the gateway's JWK Set from /.well-known/jwks.json and makes a compact JWE
(RSA-OAEP-256 + A256GCM) of the card; the official stripe library sends it
as card[encrypted] with the publishable key, and the secret key pays with
the payment method. Neither the gateway's code nor our own JWE writer
makes the JWE.
"""

import json
import urllib.request

import pytest
import stripe
from jwcrypto import jwe, jwk

InvalidRequestError = getattr(stripe, "InvalidRequestError", None) or stripe.error.InvalidRequestError


def published_key(server):
    with urllib.request.urlopen(f"{server.base_url}/.well-known/jwks.json") as answer:
        keys = json.load(answer)["keys"]
    assert keys and keys[0]["alg"] == "RSA-OAEP-256"
    return jwk.JWK(**keys[0])


def encrypt(key, card):
    token = jwe.JWE(
        json.dumps(card).encode(),
        protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": key.key_id}),
    )
    token.add_recipient(key)
    return token.serialize(compact=True)


def test_a_jwcrypto_jwe_becomes_a_payment_method_that_pays(server, merchant):
    key = published_key(server)
    compact = encrypt(key, {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"})
    method = stripe.PaymentMethod.create(
        api_key=merchant["publishable_key"], type="card", card={"encrypted": compact}
    )
    assert method.card.brand == "visa"
    assert method.card.last4 == "4242"
    intent = stripe.PaymentIntent.create(amount=1999, currency="usd", payment_method=method.id, confirm=True)
    assert intent.status == "succeeded"


def test_a_declined_card_inside_a_jwe_is_declined(server, merchant):
    key = published_key(server)
    compact = encrypt(key, {"number": "4000000000000002", "exp_month": 12, "exp_year": 2034, "cvc": "123"})
    method = stripe.PaymentMethod.create(
        api_key=merchant["publishable_key"], type="card", card={"encrypted": compact}
    )
    with pytest.raises(stripe.error.CardError) as declined:
        stripe.PaymentIntent.create(amount=1999, currency="usd", payment_method=method.id, confirm=True)
    assert declined.value.code == "card_declined"


def test_a_jwe_for_another_key_is_refused(server, merchant):
    stranger = jwk.JWK.generate(kty="RSA", size=2048, kid="csek_stranger00000000000000")
    compact = encrypt(stranger, {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034})
    with pytest.raises(InvalidRequestError) as refused:
        stripe.PaymentMethod.create(
            api_key=merchant["publishable_key"], type="card", card={"encrypted": compact}
        )
    assert refused.value.param == "card[encrypted]"
