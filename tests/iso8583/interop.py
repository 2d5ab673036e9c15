"""pyiso8583 (stock `default` and `default_ascii` specs) against the
Portcullis codec, byte for byte, both directions, for every MTI Portcullis
sends or accepts. The Portcullis side is `json_bridge` (the codec crate's
example: one JSON request per line). Run by run.sh."""

import copy
import json
import subprocess
import sys
import unittest

import iso8583
from iso8583.specs import default, default_ascii

from samples import BINARY, SAMPLES

BRIDGE = sys.argv.pop(1) if len(sys.argv) > 1 else "target/debug/examples/json_bridge"
SPECS = {"default": default, "default_ascii": default_ascii}


class Bridge:
    def __init__(self, path):
        self.process = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise AssertionError(f"portcullis: {answer['error']}")
        return answer

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def fields_only(doc):
    """A decoded pyiso8583 document without the derived bitmaps, binary
    fields in upper-case hex."""
    out = {}
    for key, value in doc.items():
        if key in ("p", "1", "h"):
            continue
        out[key] = value.upper() if key in BINARY else value
    return out


def for_profile(sample, profile):
    """pyiso8583's `default_ascii` carries binary fields as hex text: the same
    document, as its encoder expects (upper-case hex)."""
    doc = copy.deepcopy(sample)
    for key in BINARY & doc.keys():
        doc[key] = doc[key].upper()
    return doc


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bridge = Bridge(BRIDGE)

    @classmethod
    def tearDownClass(cls):
        cls.bridge.close()

    def pyiso_encode(self, doc, profile):
        encoded, _ = iso8583.encode(copy.deepcopy(doc), SPECS[profile])
        return bytes(encoded)

    def test_every_sample_both_directions_both_profiles(self):
        for name, sample in SAMPLES.items():
            for profile in SPECS:
                with self.subTest(message=name, profile=profile):
                    doc = for_profile(sample, profile)
                    theirs = self.pyiso_encode(doc, profile)
                    ours = bytes.fromhex(
                        self.bridge.ask({"op": "encode", "profile": profile, "fields": doc})["hex"]
                    )
                    self.assertEqual(ours, theirs, "encodings differ")
                    decoded_by_us = self.bridge.ask(
                        {"op": "decode", "profile": profile, "hex": theirs.hex()}
                    )["fields"]
                    self.assertEqual(decoded_by_us, doc)
                    decoded_by_them, _ = iso8583.decode(bytearray(ours), SPECS[profile])
                    self.assertEqual(fields_only(decoded_by_them), doc)

    def test_malformed_input_is_refused_by_both(self):
        sample = for_profile(SAMPLES["0100 authorization"], "default")
        good = self.pyiso_encode(sample, "default")
        for broken in (good[:-1], good + b"0", good[:12] + b"99" + good[14:]):
            with self.subTest(length=len(broken)):
                with self.assertRaises(iso8583.DecodeError):
                    iso8583.decode(bytearray(broken), default)
                self.bridge.process.stdin.write(
                    json.dumps({"op": "decode", "profile": "default", "hex": broken.hex()}) + "\n"
                )
                self.bridge.process.stdin.flush()
                answer = json.loads(self.bridge.process.stdout.readline())
                self.assertIn("error", answer)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
