"""Creates one object of every kind through the API, so the fuzzer reaches
real objects and not only 404s, and prints a schemathesis configuration
fragment (TOML) that offers their ids as the `{id}` of each operation.

    python seed.py BASE_URL SECRET_KEY > fragment.toml

Random request bodies never create a valid PaymentIntent, refund or webhook
endpoint, so without this every `/v1/refunds/{id}` request would be a 404.
Each id is offered with a probability below 1: the fuzzer still tries
random ids on the same operations.
"""

import json
import sys
import time

import requests

# How often an operation's `{id}` is taken from the seeded objects rather
# than generated.
SEEDED_ID_PROBABILITY = 0.7
TIMEOUT_S = 30
# Where the seeded webhook endpoint points: a loopback port where nothing
# listens (9, discard), so every delivery fails at once, is recorded and
# retried, and nothing leaves the machine. The server runs with
# --webhooks-allow-private-targets to accept it.
RECEIVER = "http://127.0.0.1:9/hooks"


class Api:
    def __init__(self, base_url: str, secret_key: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret_key}"

    def call(self, method: str, path: str, **data) -> dict:
        response = self.session.request(
            method, self.base_url + path, data=data or None, timeout=TIMEOUT_S
        )
        if response.status_code != 200:
            sys.exit(f"seed: {method} {path} answered {response.status_code}: {response.text}")
        return response.json()


def card_method(api: Api, number: str = "4242424242424242") -> dict:
    return api.call(
        "POST",
        "/v1/payment_methods",
        type="card",
        **{"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2040", "card[cvc]": "123"},
    )


def seed(api: Api) -> dict[str, list[str]]:
    customer = api.call("POST", "/v1/customers", email="fuzz@example.com", name="Fuzz", **{"metadata[k]": "v"})
    deleted = api.call("POST", "/v1/customers", email="gone@example.com")
    api.call("DELETE", f"/v1/customers/{deleted['id']}")

    attached = card_method(api)
    api.call("POST", f"/v1/payment_methods/{attached['id']}/attach", customer=customer["id"])
    loose = card_method(api, "5555555555554444")

    paid = api.call(
        "POST", "/v1/payment_intents", amount="5000", currency="usd", customer=customer["id"],
        payment_method=attached["id"], confirm="true",
    )
    authorized = api.call(
        "POST", "/v1/payment_intents", amount="3000", currency="eur", payment_method=card_method(api)["id"],
        capture_method="manual", confirm="true",
    )
    unconfirmed = api.call("POST", "/v1/payment_intents", amount="700", currency="usd")
    declined = api.call("POST", "/v1/payment_intents", amount="800", currency="usd")
    api.session.post(  # a 402: leaves a failed charge and a last_payment_error
        f"{api.base_url}/v1/payment_intents/{declined['id']}/confirm",
        data={"payment_method": "pm_card_visa_chargeDeclined"},
        timeout=TIMEOUT_S,
    )

    refund = api.call("POST", "/v1/refunds", payment_intent=paid["id"], amount="1000")

    # Risk: a list with an item, a rule of our own, and a review it opens
    # (the rule sends every USD 43.21 payment to review).
    risk_list = api.call("POST", "/v1/risk/lists", alias="fuzz_emails", item_type="email")
    item = api.call("POST", f"/v1/risk/lists/{risk_list['id']}/items", value="fraud@example.com")
    rule = api.call("POST", "/v1/risk/rules", rule="review if :amount: = 43.21", description="fuzz")
    reviewed = [
        api.call(
            "POST", "/v1/payment_intents", amount="4321", currency="usd",
            payment_method="pm_card_visa", confirm="true",
        )
        for _ in range(2)
    ]
    reviews = api.call("GET", "/v1/reviews", limit="10")["data"]

    # Payouts: the server settles at once (settlement_delay_s = 0 in the
    # settings run.sh gives it), so funds become available within a moment.
    deadline = time.monotonic() + 20
    while not any(b["currency"] == "usd" and b["amount"] >= 200 for b in api.call("GET", "/v1/balance")["available"]):
        if time.monotonic() > deadline:
            sys.exit("seed: no USD funds became available for payouts within 20s")
        time.sleep(0.2)
    payouts = [api.call("POST", "/v1/payouts", amount="100", currency="usd") for _ in range(2)]
    balance_transactions = api.call("GET", "/v1/balance_transactions", limit="10")["data"]

    endpoints = [
        api.call("POST", "/v1/webhook_endpoints", url=RECEIVER, **{"enabled_events[]": "*"}),
        api.call("POST", "/v1/webhook_endpoints", url=RECEIVER, **{"enabled_events[]": "charge.succeeded"}),
    ]
    checkout_sessions = [
        api.call(
            "POST", "/v1/checkout/sessions", mode="payment", success_url="https://shop.example/done",
            **{
                "line_items[0][price_data][currency]": "usd",
                "line_items[0][price_data][unit_amount]": "1200",
                "line_items[0][price_data][product_data][name]": "Fuzz",
                "line_items[0][quantity]": "2",
            },
        )
        for _ in range(2)
    ]
    events = api.call("GET", "/v1/events", limit="5")["data"]
    charges = api.call("GET", "/v1/charges", limit="10")["data"]

    return {
        "customers": [customer["id"], deleted["id"]],
        "payment_methods": [attached["id"], loose["id"]],
        "payment_intents": [paid["id"], authorized["id"], unconfirmed["id"], declined["id"]],
        "charges": [charge["id"] for charge in charges],
        "refunds": [refund["id"]],
        "webhook_endpoints": [endpoint["id"] for endpoint in endpoints],
        "events": [event["id"] for event in events],
        "balance_transactions": [txn["id"] for txn in balance_transactions],
        "payouts": [payout["id"] for payout in payouts],
        "reviews": [review["id"] for review in reviews],
        "risk_lists": [risk_list["id"]],
        "risk_list_items": [item["id"]],
        "risk_rules": [rule["id"]],
        "reviewed_payment_intents": [intent["id"] for intent in reviewed],
        "checkout_sessions": [session["id"] for session in checkout_sessions],
    }


# Which seeded ids each path parameter takes: (path regex, parameter, kinds).
PATHS = [
    (r"^/v1/customers/\{id\}", "id", ["customers"]),
    (r"^/v1/payment_methods/\{id\}", "id", ["payment_methods"]),
    (r"^/v1/payment_intents/\{id\}", "id", ["payment_intents", "reviewed_payment_intents"]),
    (r"^/v1/charges/\{id\}", "id", ["charges"]),
    (r"^/v1/refunds/\{id\}", "id", ["refunds"]),
    (r"^/v1/webhook_endpoints/\{id\}", "id", ["webhook_endpoints"]),
    (r"^/v1/events/\{id\}", "id", ["events"]),
    (r"^/v1/balance_transactions/\{id\}", "id", ["balance_transactions"]),
    (r"^/v1/payouts/\{id\}", "id", ["payouts"]),
    (r"^/v1/reviews/\{id\}", "id", ["reviews"]),
    (r"^/v1/risk/lists/\{id\}", "id", ["risk_lists"]),
    (r"^/v1/risk/rules/\{id\}", "id", ["risk_rules"]),
    (r"^/v1/checkout/sessions/\{id\}", "id", ["checkout_sessions"]),
]
# Path parameters other than `id`, by the kind of their ids.
OTHER_PARAMETERS = [(r"^/v1/risk/lists/\{id\}/items/\{item\}", "item", ["risk_list_items"])]


def toml_fragment(ids: dict[str, list[str]]) -> str:
    lines = ["", "# Generated by tests/fuzz/seed.py: ids of objects created before the run."]
    for kind, values in ids.items():
        if not values:
            sys.exit(f"seed: no {kind} were created")
    # One dictionary per path parameter, holding the ids of every kind it takes.
    bindings: dict[str, list[str]] = {}
    for regex, parameter, kinds in PATHS + OTHER_PARAMETERS:
        name = f"{kinds[0]}_{parameter}"
        lines += ["", f"[dictionaries.{name}]", f"values = {json.dumps([v for k in kinds for v in ids[k]])}"]
        bindings.setdefault(regex, []).append(
            f'"path.{parameter}" = {{ dictionary = "{name}", probability = {SEEDED_ID_PROBABILITY} }}'
        )
    # The most specific pattern first: an operation takes the first that matches.
    for regex in sorted(bindings, key=len, reverse=True):
        params = list(bindings[regex])
        for other, other_params in bindings.items():
            if other != regex and regex.startswith(other.rstrip("$")):
                params += other_params
        lines += [
            "",
            "[[operations]]",
            f"include-path-regex = {json.dumps(regex)}",
            f"parameters = {{ {', '.join(params)} }}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    base_url, secret_key = sys.argv[1:3]
    ids = seed(Api(base_url, secret_key))
    print(toml_fragment(ids), end="")
    total = sum(len(values) for values in ids.values())
    print(f"seed: created {total} objects: {', '.join(f'{len(v)} {k}' for k, v in ids.items())}", file=sys.stderr)


if __name__ == "__main__":
    main()
