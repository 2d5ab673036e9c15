"""pyiso8583 as the acquirer: a gateway configured with `[connectors.peer]`
pays through a Python host that decodes every message the connector sends
with pyiso8583's stock `default` spec (and checks it re-encodes to the same
bytes), and answers with pyiso8583-encoded messages. Covers sign-on 0800,
0100, 0200, 0220, 0400 and the 0200 refund.

usage: connector_peer.py PORTCULLIS_BIN"""

import copy
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import iso8583
from iso8583.specs import default

BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "target/debug/portcullis")
ECHOED = ("3", "4", "7", "11", "32", "37", "41", "42", "49", "70")


class PeerAcquirer:
    """`code_of(doc)` is DE 39 of the answer to `doc` (default: 00);
    `answers(doc)` false leaves `doc` unanswered (default: all answered)."""

    def __init__(self, code_of=lambda doc: "00", answers=lambda doc: True):
        self.code_of = code_of
        self.answers = answers
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = []
        self.problems = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            while True:
                header = self.exactly(conn, 2)
                raw = self.exactly(conn, struct.unpack(">H", header)[0])
                doc, _ = iso8583.decode(bytearray(raw), default)
                again, _ = iso8583.encode(copy.deepcopy(doc), default)
                if bytes(again) != raw:
                    self.problems.append(f"{doc['t']} does not re-encode byte for byte")
                self.received.append(doc)
                if not self.answers(doc):
                    continue
                answer = {"t": doc["t"][:2] + str(int(doc["t"][2]) + 1) + doc["t"][3]}
                for field in ECHOED:
                    if field in doc:
                        answer[field] = doc[field]
                answer["39"] = self.code_of(doc)
                if answer["39"] == "00" and doc["t"] in ("0100", "0200") and doc.get("3") == "000000":
                    answer["38"] = "PY0001"
                encoded, _ = iso8583.encode(answer, default)
                conn.sendall(struct.pack(">H", len(encoded)) + bytes(encoded))
        except (ConnectionError, OSError):
            return
        except Exception as error:  # a decode failure is what this test is about
            self.problems.append(repr(error))

    @staticmethod
    def exactly(conn, count):
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


class PeerGateway(unittest.TestCase):
    """A gateway whose merchant pays through `self.peer`."""

    timing = ""

    def peer_acquirer(self):
        return PeerAcquirer()

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.data = os.path.join(self.dir, "data")
        out = subprocess.run([BIN, "merchant", "create", "--name", "Peer", "--json", "--data-dir", self.data],
                             check=True, capture_output=True, text=True).stdout
        self.merchant = json.loads(out)
        self.peer = self.peer_acquirer()
        config = os.path.join(self.dir, "portcullis.toml")
        with open(config, "w") as file:
            file.write(
                self.timing + "\n"
                f'[connectors.peer]\ntype = "iso8583"\naddress = "127.0.0.1:{self.peer.port}"\n'
                'acquirer_id = "12345"\ncard_acceptor_id = "MERCHANT0000001"\nterminal_id = "TERM0001"\n'
                f'merchants = ["{self.merchant["id"]}"]\n'
            )
        self.server = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data, "--config", config],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PORTCULLIS_LOG="warn"),
        )
        for line in self.server.stdout:
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.base = found.group(1)
                break
        threading.Thread(target=lambda: [None for _ in self.server.stdout], daemon=True).start()

    def tearDown(self):
        self.server.terminate()
        self.server.wait(timeout=30)

    def post(self, path, form):
        request = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": "Bearer " + self.merchant["secret_key"]},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)



class ConnectorPeer(PeerGateway):
    def test_every_message_the_connector_sends_is_pyiso8583_default(self):
        paid = self.post("/v1/payment_intents", {"amount": 1200, "currency": "usd",
                                                 "payment_method": "pm_card_visa", "confirm": "true"})
        self.assertEqual(paid["status"], "succeeded")
        held = self.post("/v1/payment_intents", {"amount": 3000, "currency": "eur", "capture_method": "manual",
                                                 "payment_method": "pm_card_mastercard", "confirm": "true"})
        self.assertEqual(held["status"], "requires_capture")
        captured = self.post(f"/v1/payment_intents/{held['id']}/capture", {"amount_to_capture": 2500})
        self.assertEqual(captured["status"], "succeeded")
        refund = self.post("/v1/refunds", {"payment_intent": held["id"], "amount": 700})
        self.assertEqual(refund["status"], "succeeded")
        voided = self.post("/v1/payment_intents", {"amount": 800, "currency": "usd", "capture_method": "manual",
                                                   "payment_method": "pm_card_visa", "confirm": "true"})
        self.assertEqual(self.post(f"/v1/payment_intents/{voided['id']}/cancel", {})["status"], "canceled")

        self.assertEqual(self.peer.problems, [])
        kinds = [(doc["t"], doc.get("3"), doc.get("70")) for doc in self.peer.received]
        self.assertEqual(kinds[0], ("0800", None, "001"), "signs on first")
        self.assertEqual(kinds[1:], [("0200", "000000", None), ("0100", "000000", None),
                                     ("0220", "000000", None), ("0200", "200000", None),
                                     ("0100", "000000", None), ("0400", "000000", None)])
        purchase, held_auth, completion, refund_msg = self.peer.received[1:5]
        self.assertEqual((purchase["2"], purchase["4"], purchase["49"]), ("4242424242424242", "000000001200", "840"))
        self.assertEqual((held_auth["4"], held_auth["49"]), ("000000003000", "978"))
        self.assertEqual(completion["37"], held_auth["37"], "the completion names the original RRN")
        self.assertEqual(completion["90"][:10], "0100" + held_auth["11"], "DE 90: original MTI and STAN")
        self.assertEqual(refund_msg["4"], "000000000700")
        self.assertNotIn("2", completion, "follow-ups carry no PAN")


class LostRefundAnswer(PeerGateway):
    """The first refund message goes unanswered (the answer was lost): the
    refund is pending, and the recovery worker sends it again with the same
    RRN (the acquirer's duplicate check makes it refund once), after which
    it succeeds."""

    timing = "connector_timeout_ms = 800\nattempt_stale_ms = 1000\nrecovery_interval_ms = 200\n"

    def peer_acquirer(self):
        self.dropped = []

        def answers(doc):
            if doc["t"] == "0200" and doc.get("3") == "200000" and not self.dropped:
                self.dropped.append(doc)
                return False
            return True

        return PeerAcquirer(answers=answers)

    def get(self, path):
        request = urllib.request.Request(self.base + path,
                                         headers={"Authorization": "Bearer " + self.merchant["secret_key"]})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def test_a_refund_whose_answer_was_lost_is_sent_again_with_its_rrn(self):
        paid = self.post("/v1/payment_intents", {"amount": 1500, "currency": "usd",
                                                 "payment_method": "pm_card_visa", "confirm": "true"})
        self.assertEqual(paid["status"], "succeeded")
        refund = self.post("/v1/refunds", {"payment_intent": paid["id"], "amount": 600})
        self.assertEqual(refund["status"], "pending", "its answer was lost")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            refund = self.get(f"/v1/refunds/{refund['id']}")
            if refund["status"] != "pending":
                break
            time.sleep(0.3)
        self.assertEqual(refund["status"], "succeeded")
        refunds = [d for d in self.peer.received if d["t"] == "0200" and d.get("3") == "200000"]
        self.assertGreaterEqual(len(refunds), 2, "sent again")
        self.assertEqual({d["37"] for d in refunds}, {self.dropped[0]["37"]}, "with the same RRN")
        self.assertEqual({d["4"] for d in refunds}, {"000000000600"})
        charge = self.get(f"/v1/charges/{paid['latest_charge']}")
        self.assertEqual(charge["amount_refunded"], 600)
        self.assertEqual(self.peer.problems, [])


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
