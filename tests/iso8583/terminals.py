"""Drives the terminal listener of a real gateway (`portcullis serve
--iso8583-listen`) with pyiso8583-built messages (stock `default` spec,
2-byte big-endian framing), MACed with an independent AES-CMAC (the
`cryptography` package's CMAC, first 8 bytes, over the message from the MTI
up to the MAC field). Every answer must decode with pyiso8583, re-encode to
the same bytes, and (except 03) carry a MAC that `cryptography` verifies.

Cases: sign-on; an approval with track 2; each decline of the sandbox's
test-card table; a risk block (59); a wrong and a missing MAC (63); an
unknown terminal, a wrong card acceptor id and a revoked terminal (03,
unMACed); a malformed message (30); a repeated purchase (the first answer,
byte for byte, and one charge); a reversal by DE 90 of a purchase (refunded)
and by STAN and date of an authorization (canceled), each repeated; a
refund (0200, DE 3 200000, DE 90 naming the purchase) in part, repeated,
and refused (too much, another card, no original); a completion advice
(0220) capturing an authorization's final amount once; the listener on
`default_ascii` with 4-ASCII-digit framing; and, through an ISO 8583
acquirer played by pyiso8583, the network's decline codes the sandbox's
cards cannot produce (55, 57, 62, …) answered as the network gave them.

usage: terminals.py PORTCULLIS_BIN"""

import copy
import datetime
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import unittest
import urllib.request
import warnings

warnings.simplefilter("ignore", ResourceWarning)

import iso8583
from iso8583.specs import default, default_ascii
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "target/debug/portcullis"
EXPIRY = (datetime.date.today().year % 100 + 3) * 100 + 12  # YYMM, three years ahead


def cmac8(key, data):
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()[:8]


def mac_width(spec):
    """Bytes the 8-byte MAC takes on the wire: raw, or 16 hex characters."""
    return 16 if spec is default_ascii else 8


def signed(doc, key, spec=default):
    """The encoded message with its MAC in DE 64 (DE 128 with a secondary bitmap)."""
    doc = copy.deepcopy(doc)
    secondary = any(k.isdigit() and 64 < int(k) < 128 for k in doc)
    field = "128" if secondary else "64"
    doc[field] = "00" * 8
    encoded, _ = iso8583.encode(copy.deepcopy(doc), spec)
    doc[field] = cmac8(key, bytes(encoded[: -mac_width(spec)])).hex().upper()
    encoded, _ = iso8583.encode(doc, spec)
    return bytes(encoded)


def unsigned(doc, spec=default):
    encoded, _ = iso8583.encode(copy.deepcopy(doc), spec)
    return bytes(encoded)


def run(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


def new_merchant_and_terminal(cls, name):
    """A data directory with a merchant and its terminal, on `cls`."""
    cls.dir = tempfile.mkdtemp()
    common = ["--data-dir", cls.dir]
    merchant = json.loads(run("merchant", "create", "--name", name, "--json", *common))
    cls.secret_key = merchant["secret_key"]
    cls.terminal = json.loads(run("terminal", "create", "--merchant", merchant["id"], "--json", *common))
    cls.key = bytes.fromhex(cls.terminal["mac_key"])
    return merchant


class Gateway:
    def __init__(self, data_dir, env=None, args=(), log=None):
        """With `log`, the gateway logs at debug level to that file."""
        self.data_dir = data_dir
        self.common = ["--data-dir", data_dir]
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--iso8583-listen", "127.0.0.1:0", *args, *self.common],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=dict(os.environ, PORTCULLIS_LOG="debug" if log else "warn", **(env or {})),
        )
        self.iso8583 = None
        for line in self.process.stdout:
            if line.startswith("iso8583 listening on "):
                host, port = line.split()[-1].rsplit(":", 1)
                self.iso8583 = (host, int(port))
            if line.startswith("portcullis listening on "):
                self.url = line.split()[-1]
                break
        assert self.iso8583, "the terminal listener was not announced"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.process.stdout.close()
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def get(self, path, secret_key):
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {secret_key}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


class Link:
    """One terminal connection: `binary2` (2-byte big-endian length) or
    `ascii4` (4 ASCII digits) framing, messages in `spec`."""

    def __init__(self, address, spec=default, framing="binary2"):
        self.sock = socket.create_connection(address, timeout=10)
        self.spec = spec
        self.framing = framing

    def send(self, raw):
        header = struct.pack(">H", len(raw)) if self.framing == "binary2" else b"%04d" % len(raw)
        self.sock.sendall(header + raw)

    def receive_raw(self):
        if self.framing == "binary2":
            return self._exactly(struct.unpack(">H", self._exactly(2))[0])
        header = self._exactly(4)
        assert header.isdigit(), f"the length prefix {header!r} is not 4 ASCII digits"
        return self._exactly(int(header))

    def ask(self, raw, key=None):
        """Sends `raw`; the answer decoded, checked to re-encode byte for
        byte and, with `key`, to carry a MAC that verifies under it."""
        self.send(raw)
        answer = self.receive_raw()
        decoded, _ = iso8583.decode(bytearray(answer), self.spec)
        again, _ = iso8583.encode(copy.deepcopy(decoded), self.spec)
        assert bytes(again) == answer, "the answer does not re-encode byte for byte"
        field = "128" if "128" in decoded else "64"
        if key is None:
            assert "64" not in decoded and "128" not in decoded, "an 03 answer is not MACed"
        else:
            assert field in decoded, "the answer carries no MAC"
            covered = answer[: -mac_width(self.spec)]
            assert decoded[field].upper() == cmac8(key, covered).hex().upper(), "the answer's MAC does not verify"
        decoded["raw"] = answer
        return decoded

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


def transmission():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%m%d%H%M%S")


class Terminals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        common = ["--data-dir", cls.dir]
        merchant = json.loads(run("merchant", "create", "--name", "Kiosk", "--json", *common))
        cls.secret_key = merchant["secret_key"]
        cls.terminal = json.loads(run("terminal", "create", "--merchant", merchant["id"], "--json", *common))
        cls.other = json.loads(run("terminal", "create", "--merchant", merchant["id"], "--json", *common))
        cls.key = bytes.fromhex(cls.terminal["mac_key"])
        cls.gateway = Gateway(cls.dir, log=os.path.join(cls.dir, "gateway.log"))
        cls.link = Link(cls.gateway.iso8583)
        cls.stan = 0

    @classmethod
    def tearDownClass(cls):
        cls.link.sock.close()
        cls.gateway.stop()

    def next_stan(self):
        Terminals.stan += 1
        return f"{Terminals.stan:06d}"

    def purchase(self, pan, amount, mti="0200", **extra):
        doc = {"t": mti, "3": "000000", "4": f"{amount:012d}", "7": transmission(),
               "11": self.next_stan(), "22": "901", "35": f"{pan}={EXPIRY}1011234",
               "37": f"{Terminals.stan:012d}", "41": self.terminal["terminal_id"],
               "42": self.terminal["card_acceptor_id"], "49": "840", "52": "123456789ABCDEF0"}
        doc.update(extra)
        return doc

    def intent_of(self, amount):
        intents = self.gateway.get("/v1/payment_intents?limit=100", self.secret_key)["data"]
        mine = [i for i in intents if i["amount"] == amount]
        self.assertEqual(len(mine), 1, f"one intent of {amount}")
        return mine[0]

    def test_01_terminal_create_prints_the_issue_s_shape(self):
        self.assertEqual(set(self.terminal), {"terminal_id", "card_acceptor_id", "merchant", "mac_key"})
        self.assertEqual(len(self.terminal["terminal_id"]), 8)
        self.assertEqual(len(self.terminal["card_acceptor_id"]), 15)
        self.assertEqual(len(self.terminal["mac_key"]), 32)
        int(self.terminal["mac_key"], 16)
        listed = run("terminal", "list", "--merchant", self.terminal["merchant"], "--json", "--data-dir", self.dir)
        self.assertNotIn(self.terminal["mac_key"], listed, "the key is shown once")
        self.assertIn(self.terminal["terminal_id"], listed)

    def test_02_sign_on(self):
        doc = {"t": "0800", "7": transmission(), "11": self.next_stan(), "41": self.terminal["terminal_id"],
               "42": self.terminal["card_acceptor_id"], "70": "001"}
        answer = self.link.ask(signed(doc, self.key), self.key)
        self.assertEqual((answer["t"], answer["39"], answer["70"]), ("0810", "00", "001"))

    def test_03_approval_with_track_2(self):
        doc = self.purchase("4242424242424242", 1234)
        answer = self.link.ask(signed(doc, self.key), self.key)
        self.assertEqual((answer["t"], answer["39"]), ("0210", "00"))
        self.assertEqual(len(answer["38"]), 6)
        for field in ("11", "37", "41", "42"):
            self.assertEqual(answer[field], doc[field], f"DE {field} echoed")
        for field in ("35", "52", "2"):
            self.assertNotIn(field, answer)
        intent = self.intent_of(1234)
        self.assertEqual(intent["status"], "succeeded")
        self.assertEqual(intent["payment_method_types"], ["card_present"])
        self.assertEqual(intent["metadata"], {"terminal_id": self.terminal["terminal_id"]})
        charge = self.gateway.get(f"/v1/charges/{intent['latest_charge']}", self.secret_key)
        details = charge["payment_method_details"]
        self.assertEqual(details["type"], "card_present")
        self.assertEqual((details["card_present"]["brand"], details["card_present"]["last4"]), ("visa", "4242"))

    def test_04_each_decline(self):
        cases = [("4000000000000002", "05"), ("4000000000009995", "51"), ("4000000000000069", "54"),
                 ("4000000000009987", "41"), ("4000000000009979", "43"), ("4000000000000119", "96"),
                 ("4100000000000019", "59"), ("4242424242424241", "14")]
        for index, (pan, code) in enumerate(cases):
            with self.subTest(pan=pan[-4:]):
                answer = self.link.ask(signed(self.purchase(pan, 2000 + index), self.key), self.key)
                self.assertEqual((answer["t"], answer["39"]), ("0210", code))
                self.assertNotIn("38", answer)

    def test_05_wrong_and_missing_mac(self):
        raw = bytearray(signed(self.purchase("4242424242424242", 3001), self.key))
        raw[-1] ^= 0x01
        self.assertEqual(self.link.ask(bytes(raw), self.key)["39"], "63")
        self.assertEqual(self.link.ask(unsigned(self.purchase("4242424242424242", 3002)), self.key)["39"], "63")
        intents = self.gateway.get("/v1/payment_intents?limit=100", self.secret_key)["data"]
        self.assertFalse([i for i in intents if i["amount"] in (3001, 3002)], "nothing was paid")

    def test_06_unknown_terminal_wrong_acceptor_and_revoked(self):
        unknown = self.purchase("4242424242424242", 3101, **{"41": "NOSUCH01"})
        self.assertEqual(self.link.ask(signed(unknown, self.key))["39"], "03")
        wrong = self.purchase("4242424242424242", 3102, **{"42": "WRONGACCEPTOR01"})
        answer = self.link.ask(signed(wrong, self.key))
        self.assertEqual((answer["39"], answer["11"], answer["41"]), ("03", wrong["11"], wrong["41"]))
        run("terminal", "revoke", self.other["terminal_id"], "--data-dir", self.dir)
        other_key = bytes.fromhex(self.other["mac_key"])
        revoked = self.purchase("4242424242424242", 3103, **{"41": self.other["terminal_id"],
                                                             "42": self.other["card_acceptor_id"]})
        self.assertEqual(self.link.ask(signed(revoked, other_key))["39"], "03")

    def test_07_format_errors(self):
        missing_amount = self.purchase("4242424242424242", 3201)
        del missing_amount["4"]
        self.assertEqual(self.link.ask(signed(missing_amount, self.key), self.key)["39"], "30")
        # MTI, bitmap and STAN readable, then a truncated field: 30, unMACed.
        readable = unsigned({"t": "0200", "11": "000777", "41": self.terminal["terminal_id"]})[:-3]
        answer = self.link.ask(readable)
        self.assertEqual((answer["t"], answer["39"], answer["11"]), ("0210", "30", "000777"))
        # Not even an MTI: the connection is closed.
        garbage = Link(self.gateway.iso8583)
        garbage.send(b"\xff\xfe\xfd")
        with self.assertRaises(ConnectionError):
            garbage.receive_raw()
        garbage.sock.close()

    def test_08_repeated_purchase_answers_the_first_answer(self):
        raw = signed(self.purchase("4242424242424242", 3301), self.key)
        first = self.link.ask(raw, self.key)
        again = self.link.ask(raw, self.key)
        self.assertEqual(first["39"], "00")
        self.assertEqual(again["raw"], first["raw"], "byte for byte")
        self.intent_of(3301)  # exactly one

    def test_09_reversal_by_de_90_refunds_a_purchase(self):
        doc = self.purchase("4242424242424242", 3401)
        self.assertEqual(self.link.ask(signed(doc, self.key), self.key)["39"], "00")
        reversal = {"t": "0400", "3": "000000", "4": doc["4"], "7": transmission(), "11": self.next_stan(),
                    "41": doc["41"], "42": doc["42"], "49": "840",
                    "90": "0200" + doc["11"] + doc["7"] + "0" * 22}
        for attempt in ("first", "repeat"):
            answer = self.link.ask(signed(reversal, self.key), self.key)
            self.assertEqual((answer["t"], answer["39"], answer["90"]), ("0410", "00", reversal["90"]), attempt)
        charge = self.gateway.get(f"/v1/charges/{self.intent_of(3401)['latest_charge']}", self.secret_key)
        self.assertEqual(charge["amount_refunded"], 3401)
        refunds = self.gateway.get(f"/v1/refunds?charge={charge['id']}", self.secret_key)["data"]
        self.assertEqual(len(refunds), 1, "a repeated reversal changes nothing")

    def test_10_reversal_by_stan_and_date_cancels_an_authorization(self):
        doc = self.purchase("4242424242424242", 3501, mti="0100")
        self.assertEqual(self.link.ask(signed(doc, self.key), self.key)["t"], "0110")
        self.assertEqual(self.intent_of(3501)["status"], "requires_capture")
        reversal = {"t": "0400", "3": "000000", "4": doc["4"], "7": doc["7"], "11": doc["11"],
                    "41": doc["41"], "42": doc["42"], "49": "840"}
        for attempt in ("first", "repeat"):
            self.assertEqual(self.link.ask(signed(reversal, self.key), self.key)["39"], "00", attempt)
        self.assertEqual(self.intent_of(3501)["status"], "canceled")
        unknown = dict(reversal, **{"11": "999999"})
        self.assertEqual(self.link.ask(signed(unknown, self.key), self.key)["39"], "25")

    def test_11_refund_by_de_90_in_part_then_repeat_and_refusals(self):
        doc = self.purchase("4242424242424242", 3601)
        self.assertEqual(self.link.ask(signed(doc, self.key), self.key)["39"], "00")
        named = "0200" + doc["11"] + doc["7"] + "0" * 22

        def refund(amount, pan="4242424242424242", **extra):
            refund = self.purchase(pan, amount, **{"3": "200000", "90": named})
            del refund["52"]
            refund.update(extra)
            return refund

        first = refund(1000)
        raw = signed(first, self.key)
        answer = self.link.ask(raw, self.key)
        self.assertEqual((answer["t"], answer["3"], answer["39"], len(answer["38"])), ("0210", "200000", "00", 6))
        self.assertEqual(self.link.ask(raw, self.key)["raw"], answer["raw"], "a repeat answers the first answer")
        charge_id = self.intent_of(3601)["latest_charge"]
        charge = self.gateway.get(f"/v1/charges/{charge_id}", self.secret_key)
        self.assertEqual(charge["amount_refunded"], 1000)
        refunds = self.gateway.get(f"/v1/refunds?charge={charge_id}", self.secret_key)["data"]
        self.assertEqual([(r["amount"], r["status"]) for r in refunds], [(1000, "succeeded")])

        too_much = self.link.ask(signed(refund(2602), self.key), self.key)
        self.assertEqual((too_much["39"], "38" in too_much), ("13", False), "more than remains")
        other_card = self.link.ask(signed(refund(100, "5555555555554444"), self.key), self.key)
        self.assertEqual(other_card["39"], "12", "only to the card that paid")
        unknown = self.link.ask(signed(refund(100, **{"90": "0200999999" + doc["7"] + "0" * 22}), self.key), self.key)
        self.assertEqual(unknown["39"], "25")
        unnamed = refund(100)
        del unnamed["90"]
        self.assertEqual(self.link.ask(signed(unnamed, self.key), self.key)["39"], "25")

        reversal = {"t": "0400", "3": "200000", "4": first["4"], "7": transmission(), "11": self.next_stan(),
                    "41": first["41"], "42": first["42"], "49": "840",
                    "90": "0200" + first["11"] + first["7"] + "0" * 22}
        self.assertEqual(self.link.ask(signed(reversal, self.key), self.key)["39"], "12", "a refund is not reversed")
        purchase_reversal = dict(reversal, **{"3": "000000", "4": doc["4"], "11": self.next_stan(), "90": named})
        self.assertEqual(self.link.ask(signed(purchase_reversal, self.key), self.key)["39"], "00")
        charge = self.gateway.get(f"/v1/charges/{charge_id}", self.secret_key)
        self.assertEqual((charge["amount_refunded"], charge["refunded"]), (3601, True))

    def test_12_completion_advice_captures_the_final_amount_once(self):
        auth = self.purchase("4242424242424242", 3701, mti="0100")
        approved = self.link.ask(signed(auth, self.key), self.key)
        self.assertEqual((approved["t"], approved["39"]), ("0110", "00"))
        named = "0100" + auth["11"] + auth["7"] + "0" * 22

        def advice(amount, original=named):
            return {"t": "0220", "3": "000000", "4": f"{amount:012d}", "7": transmission(),
                    "11": self.next_stan(), "41": auth["41"], "42": auth["42"], "49": "840", "90": original}

        raw = signed(advice(2950), self.key)
        answer = self.link.ask(raw, self.key)
        self.assertEqual((answer["t"], answer["39"], answer["38"]), ("0230", "00", approved["38"]))
        self.assertEqual(self.link.ask(raw, self.key)["raw"], answer["raw"], "a repeat answers the first answer")
        intent = self.intent_of(3701)
        self.assertEqual((intent["status"], intent["amount_received"]), ("succeeded", 2950))
        self.assertEqual(self.link.ask(signed(advice(100), self.key), self.key)["39"], "12", "captured already")
        self.assertEqual(self.link.ask(signed(advice(100, "0100999999" + auth["7"] + "0" * 22), self.key),
                                       self.key)["39"], "25")
        bigger = self.purchase("4242424242424242", 3702, mti="0100")
        self.assertEqual(self.link.ask(signed(bigger, self.key), self.key)["39"], "00")
        over = advice(3703, "0100" + bigger["11"] + bigger["7"] + "0" * 22)
        self.assertEqual(self.link.ask(signed(over, self.key), self.key)["39"], "13", "more than authorized")
        self.assertEqual(self.intent_of(3702)["status"], "requires_capture")

    def test_99_no_pin_block_or_card_number_in_the_database_or_the_log(self):
        self.link.sock.close()
        self.gateway.stop()
        pin = bytes.fromhex("123456789ABCDEF0")
        needles = [pin, pin.hex().encode(), pin.hex().upper().encode(), b"4242424242424242", b"=" + str(EXPIRY).encode()]
        for folder, _, names in os.walk(self.dir):
            for name in names:
                with open(os.path.join(folder, name), "rb") as file:
                    data = file.read()
                for needle in needles:
                    self.assertNotIn(needle, data, f"{needle!r} found in {name}")
        self.assertGreater(os.path.getsize(os.path.join(self.dir, "gateway.log")), 0, "the log was written")
        Terminals.gateway = Gateway(self.dir)  # for tearDownClass
        Terminals.link = Link(Terminals.gateway.iso8583)


class AsciiWire(unittest.TestCase):
    """A listener set to pyiso8583's `default_ascii` (hex bitmaps and MACs),
    by the environment, and to 4-ASCII-digit framing, by the flag."""

    @classmethod
    def setUpClass(cls):
        merchant = new_merchant_and_terminal(cls, "Vending")
        cls.gateway = Gateway(cls.dir, env={"PORTCULLIS_ISO8583_LISTEN_PROFILE": "default_ascii"},
                              args=("--iso8583-listen-framing", "ascii4"))
        cls.link = Link(cls.gateway.iso8583, default_ascii, "ascii4")

    @classmethod
    def tearDownClass(cls):
        cls.link.sock.close()
        cls.gateway.stop()

    def purchase(self, pan, amount, stan):
        return {"t": "0200", "3": "000000", "4": f"{amount:012d}", "7": transmission(), "11": stan,
                "22": "901", "35": f"{pan}={EXPIRY}1011234", "37": f"{int(stan):012d}",
                "41": self.terminal["terminal_id"], "42": self.terminal["card_acceptor_id"], "49": "840",
                "52": "123456789ABCDEF0"}

    def test_approval_decline_repeat_and_wrong_mac(self):
        sign_on = {"t": "0800", "7": transmission(), "11": "000001", "41": self.terminal["terminal_id"],
                   "42": self.terminal["card_acceptor_id"], "70": "001"}
        raw = signed(sign_on, self.key, default_ascii)
        self.assertEqual(raw[4:20], raw[4:20].upper(), "the bitmap is 16 hex characters")
        self.assertEqual(self.link.ask(raw, self.key)["39"], "00")
        approval = signed(self.purchase("4242424242424242", 4101, "000002"), self.key, default_ascii)
        first = self.link.ask(approval, self.key)
        self.assertEqual((first["t"], first["39"], len(first["38"])), ("0210", "00", 6))
        self.assertEqual(self.link.ask(approval, self.key)["raw"], first["raw"], "a repeat answers the first answer")
        declined = self.link.ask(signed(self.purchase("4000000000009995", 4102, "000003"), self.key, default_ascii),
                                 self.key)
        self.assertEqual(declined["39"], "51")
        tampered = bytearray(signed(self.purchase("4242424242424242", 4103, "000004"), self.key, default_ascii))
        tampered[-1] = ord("0") if tampered[-1] != ord("0") else ord("1")
        self.assertEqual(self.link.ask(bytes(tampered), self.key)["39"], "63")
        intents = self.gateway.get("/v1/payment_intents?limit=100", self.secret_key)["data"]
        self.assertEqual(sorted(i["amount"] for i in intents), [4101, 4102])

    def test_binary_framing_is_not_understood(self):
        other = Link(self.gateway.iso8583)
        other.send(signed(self.purchase("4242424242424242", 4201, "000005"), self.key, default_ascii))
        with self.assertRaises((ConnectionError, socket.timeout)):
            other.receive_raw()
        other.sock.close()


class NetworkDeclines(unittest.TestCase):
    """The terminal's merchant pays through an ISO 8583 acquirer (pyiso8583,
    tests/iso8583/connector_peer.py) that answers each decline code the
    sandbox's cards cannot produce: the terminal gets the network's own code
    back (62 stays 62 though Stripe calls 57 and 62 both
    `transaction_not_allowed`), and the API shows Stripe's codes."""

    CODES = {5500: ("55", "incorrect_pin"), 5700: ("57", "transaction_not_allowed"),
             6200: ("62", "transaction_not_allowed"), 5100: ("51", "insufficient_funds"),
             5400: ("54", "expired_card"), 500: ("05", "generic_decline"), 9100: ("91", "processing_error")}

    @classmethod
    def setUpClass(cls):
        from connector_peer import PeerAcquirer

        def code_of(doc):
            known = cls.CODES.get(int(doc.get("4", "0") or 0))
            return known[0] if known and doc["t"] in ("0100", "0200") else "00"

        cls.peer = PeerAcquirer(code_of)
        merchant = new_merchant_and_terminal(cls, "Routed kiosk")
        config = os.path.join(cls.dir, "portcullis.toml")
        with open(config, "w") as file:
            file.write(f'[connectors.peer]\ntype = "iso8583"\naddress = "127.0.0.1:{cls.peer.port}"\n'
                       'acquirer_id = "12345"\ncard_acceptor_id = "MERCHANT0000001"\nterminal_id = "TERM0001"\n'
                       f'merchants = ["{merchant["id"]}"]\n')
        cls.gateway = Gateway(cls.dir, args=("--config", config))
        cls.link = Link(cls.gateway.iso8583)

    @classmethod
    def tearDownClass(cls):
        cls.link.sock.close()
        cls.gateway.stop()

    def test_each_network_decline_is_answered_with_its_own_code(self):
        for stan, (amount, (code, decline_code)) in enumerate(sorted(self.CODES.items()), start=1):
            with self.subTest(code=code):
                doc = {"t": "0200", "3": "000000", "4": f"{amount:012d}", "7": transmission(), "11": f"{stan:06d}",
                       "22": "901", "35": f"4242424242424242={EXPIRY}1011234", "37": f"{stan:012d}",
                       "41": self.terminal["terminal_id"], "42": self.terminal["card_acceptor_id"], "49": "840",
                       "52": "123456789ABCDEF0"}
                answer = self.link.ask(signed(doc, self.key), self.key)
                self.assertEqual((answer["t"], answer["39"]), ("0210", code))
                self.assertNotIn("38", answer)
                intents = self.gateway.get("/v1/payment_intents?limit=100", self.secret_key)["data"]
                intent = [i for i in intents if i["amount"] == amount][0]
                error = intent["last_payment_error"]
                self.assertEqual(error["decline_code"], decline_code)
                charge = self.gateway.get(f"/v1/charges/{error['charge']}", self.secret_key)
                self.assertEqual(charge["outcome"]["network_decline_code"], code)
        self.assertEqual(self.peer.problems, [])
        sent = [d for d in self.peer.received if d["t"] == "0200"]
        self.assertEqual(len(sent), len(self.CODES), "each reached the acquirer once")
        self.assertTrue(all("52" not in d for d in sent), "the PIN block is not forwarded")


if __name__ == "__main__":
    unittest.main(verbosity=2)
