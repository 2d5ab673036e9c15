"""Drives `portcullis acquirer-sim` over TCP with pyiso8583-built messages
(stock `default` spec, 2-byte big-endian framing): sign-on, approvals and
declines by the sandbox's test-card table, completion, reversal, refund,
repeats, a format error; then checks the journal's settlement CSV. Every
answer must decode with pyiso8583 and re-encode to the same bytes.

usage: acquirer_sim.py PORTCULLIS_BIN"""

import copy
import datetime
import os
import socket
import struct
import subprocess
import sys
import tempfile
import unittest
import warnings

warnings.simplefilter("ignore", ResourceWarning)

import iso8583
from iso8583.specs import default

BIN = sys.argv.pop(1) if len(sys.argv) > 1 else "target/debug/portcullis"


def now_fields():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%m%d%H%M%S"), now.strftime("%Y-%m-%d")


class Host:
    def __init__(self, journal, *extra):
        self.process = subprocess.Popen(
            [BIN, "acquirer-sim", "--listen", "127.0.0.1:0", "--journal", journal, *extra],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line.startswith("acquirer-sim listening on "), line
        host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
        self.address = (host, int(port))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class Link:
    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=5)
        self.stan = 0

    def send(self, doc):
        encoded, _ = iso8583.encode(copy.deepcopy(doc), default)
        self.sock.sendall(struct.pack(">H", len(encoded)) + bytes(encoded))

    def receive(self):
        header = self._exactly(2)
        raw = self._exactly(struct.unpack(">H", header)[0])
        decoded, _ = iso8583.decode(bytearray(raw), default)
        again, _ = iso8583.encode(copy.deepcopy(decoded), default)
        assert bytes(again) == raw, "answer does not re-encode byte for byte"
        return decoded

    def ask(self, doc):
        self.send(doc)
        return self.receive()

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


TRANSMISSION, TODAY = now_fields()
ACCEPTOR = {"32": "12345", "41": "TERM0001", "42": "MERCHANT0000001"}


def financial(mti, pan, amount, stan, rrn, pc="000000", **extra):
    doc = {"t": mti, "3": pc, "4": f"{amount:012d}", "7": TRANSMISSION, "11": stan,
           "37": rrn, "49": "840", **ACCEPTOR, **extra}
    if pan:
        doc["2"] = pan
    return doc


def original(mti, stan):
    return mti + stan + TRANSMISSION + "00000012345" + "0" * 11


class AcquirerSim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.journal = os.path.join(cls.dir, "journal.jsonl")
        cls.host = Host(cls.journal)
        cls.link = Link(cls.host.address)

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()

    def test_1_sign_on_and_echo(self):
        for code in ("001", "301"):
            answer = self.link.ask({"t": "0800", "7": TRANSMISSION, "11": "000001", "32": "12345", "70": code})
            self.assertEqual((answer["t"], answer["39"], answer["70"]), ("0810", "00", code))

    def test_2_test_card_table(self):
        cases = [("4242424242424242", "00"), ("4000000000000002", "05"),
                 ("4000000000009995", "51"), ("4000000000000069", "54"),
                 ("4000000000000119", "96"), ("4000000000009987", "41")]
        for index, (pan, code) in enumerate(cases):
            with self.subTest(pan=pan[-4:]):
                stan = f"{100 + index:06d}"
                answer = self.link.ask(financial("0100", pan, 1000, stan, f"{100 + index:012d}"))
                self.assertEqual(answer["t"], "0110")
                self.assertEqual(answer["39"], code)
                self.assertEqual(answer["11"], stan)
                self.assertEqual("38" in answer, code == "00")

    def test_3_completion_reversal_refund_and_settlement(self):
        link = self.link
        auth = link.ask(financial("0100", "4242424242424242", 5000, "000201", "000000000201"))
        self.assertEqual(auth["39"], "00")
        again = link.ask(financial("0100", "4242424242424242", 5000, "000202", "000000000201"))
        self.assertEqual((again["39"], again["38"]), ("00", auth["38"]), "a repeated RRN answers the first answer")
        completion = financial("0220", None, 4000, "000203", "000000000201", **{"90": original("0100", "000201")})
        self.assertEqual(link.ask(completion)["39"], "00")
        self.assertEqual(link.ask(dict(completion, **{"11": "000204"}))["39"], "00", "repeated completion")
        too_much = financial("0200", None, 4001, "000205", "000000000301", pc="200000", **{"90": original("0100", "000201")})
        self.assertEqual(link.ask(too_much)["39"], "13")
        refund = dict(too_much, **{"4": f"{1500:012d}", "11": "000206"})
        self.assertEqual(link.ask(refund)["t"], "0210")
        self.assertEqual(link.ask(dict(refund, **{"11": "000207"}))["39"], "00", "repeated refund")
        held = link.ask(financial("0100", "5555555555554444", 700, "000208", "000000000208"))
        reversal = financial("0400", None, 700, "000209", "000000000208", **{"90": original("0100", "000208")})
        self.assertEqual(held["39"], "00")
        self.assertEqual(link.ask(reversal)["39"], "00")
        self.assertEqual(link.ask(dict(reversal, **{"11": "000210"}))["39"], "00", "repeated reversal")
        self.assertEqual(link.ask(dict(completion, **{"11": "000211", "37": "000000000208", "90": original("0100", "000208")}))["39"], "12")
        purchase = link.ask(financial("0200", "378282246310005", 900, "000212", "000000000212"))
        self.assertEqual((purchase["t"], purchase["39"]), ("0210", "00"))
        unknown = financial("0400", None, 1, "000213", "000000999999", **{"90": original("0100", "999999")})
        self.assertEqual(link.ask(unknown)["39"], "25")
        csv = subprocess.run([BIN, "acquirer-sim", "settlement", "--journal", self.journal, "--date", TODAY],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(csv[0], "rrn,stan,terminal_id,card_acceptor_id,masked_pan,amount,currency,type,auth_code")
        rows = sorted(csv[1:])
        self.assertEqual(rows, sorted([
            f"000000000201,000203,TERM0001,MERCHANT0000001,424242******4242,4000,840,completion,{auth['38']}",
            f"000000000301,000206,TERM0001,MERCHANT0000001,424242******4242,1500,840,refund,{auth['38']}",
            f"000000000212,000212,TERM0001,MERCHANT0000001,378282*****0005,900,840,purchase,{purchase['38']}",
        ]))
        with open(self.journal) as journal:
            self.assertNotIn("4242424242424242", journal.read())

    def test_4_format_error_then_close(self):
        link = Link(self.host.address)
        broken = b"0100" + bytes([0x00, 0x20, 0, 0, 0, 0, 0, 0]) + b"00000"  # DE 11 cut short
        link.sock.sendall(struct.pack(">H", len(broken)) + broken)
        # DE 11 is unreadable: no answer, the connection is closed.
        with self.assertRaises(ConnectionError):
            link.receive()
        link = Link(self.host.address)
        bad_amount = b"0100" + bytes([0x10, 0x20, 0, 0, 0, 0, 0, 0]) + b"00000000001X" + b"000042"
        link.sock.sendall(struct.pack(">H", len(bad_amount)) + bad_amount)
        with self.assertRaises(ConnectionError):
            link.receive()
        bits_after_stan = b"0100" + bytes([0x00, 0x20, 0, 0, 0x02, 0, 0, 0]) + b"000042" + b"TERM"
        link = Link(self.host.address)
        link.sock.sendall(struct.pack(">H", len(bits_after_stan)) + bits_after_stan)
        answer = link.receive()
        self.assertEqual((answer["t"], answer["11"], answer["39"]), ("0110", "000042", "30"))

    def test_5_faults(self):
        journal = os.path.join(self.dir, "faults.jsonl")
        host = Host(journal, "--fault", "duplicate:100")
        try:
            link = Link(host.address)
            first = link.ask(financial("0100", "4242424242424242", 100, "000301", "000000000301"))
            second = link.receive()
            self.assertEqual(first, second)
        finally:
            host.stop()
        host = Host(journal, "--fault", "close:100")
        try:
            link = Link(host.address)
            self.assertEqual(link.ask({"t": "0800", "7": TRANSMISSION, "11": "000001", "32": "12345", "70": "001"})["39"], "00")
            link.send(financial("0100", "4242424242424242", 100, "000302", "000000000302"))
            with self.assertRaises(ConnectionError):
                link.receive()
        finally:
            host.stop()
        with open(journal) as lines:
            approvals = [line for line in lines if '"approval"' in line]
        self.assertEqual(len(approvals), 2, "each approval is journaled before the fault strikes")


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
