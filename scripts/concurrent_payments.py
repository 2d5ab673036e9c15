"""Sends create-and-confirm payments over several keep-alive connections
at once, for scripts/callgrind-payments.sh (CONNECTIONS=N): the bench's
body (`pm_card_visa`, automatic capture), orders FIRST.. FIRST+COUNT-1.

    concurrent_payments.py URL SECRET_KEY FIRST COUNT CONNECTIONS

Fails unless every payment is answered 200.
"""
import base64
import http.client
import json
import sys
import threading
import urllib.parse


def body(order):
    return json.dumps({
        "amount": 1000 + order % 9000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "capture_method": "automatic",
        "description": "Order %012d from the benchmark" % order,
        "metadata": {"order_id": "ord_%012d" % order, "channel": "bench"},
    })


def send(url, key, orders, failures):
    target = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
    auth = base64.b64encode(("%s:" % key).encode()).decode()
    headers = {"Authorization": "Basic " + auth, "Content-Type": "application/json"}
    for order in orders:
        conn.request("POST", "/v1/payment_intents", body(order), headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            failures.append((order, answer.status))


def main():
    url, key, first, count, connections = sys.argv[1:6]
    first, count, connections = int(first), int(count), int(connections)
    orders = list(range(first, first + count))
    failures = []
    threads = [
        threading.Thread(target=send, args=(url, key, orders[i::connections], failures))
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit("payments not answered 200: %s" % failures[:5])


main()
