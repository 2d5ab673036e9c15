"""The independent peer of the wallet codec tests (crates/wallets/tests/peers.rs).

Reads what our codec produced (a JSON file named on the command line),
checks it with the providers' own Python SDKs -- alipay-sdk-python
(Alipay's official SDK) and wechatpayv3 -- and answers, as JSON on stdout,
what they concluded plus messages they signed or encrypted, which the Rust
side then checks with our codec.
"""

import json
import sys
from base64 import b64decode, b64encode

from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from wechatpayv3.utils import (aes_decrypt, build_authorization, hmac_sign, load_private_key,
                               load_public_key, rsa_sign, rsa_verify)


def pem_body(pem):
    """The base64 inside a PEM block, as the SDKs' key helpers take it."""
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def alipay_verifies(public_key, message, sign):
    """verify_with_rsa raises on a bad signature; False is the answer then."""
    try:
        return verify_with_rsa(public_key, message, sign)
    except Exception:  # rsa.VerificationError and malformed input alike
        return False


def alipay_checks(given):
    request = dict(given["request"])
    sign = request.pop("sign")
    content = get_sign_content({k: v for k, v in request.items() if v != ""})
    request_ok = alipay_verifies(given["public_key"], content.encode("utf-8"), sign)
    node_text = given["response_node_text"]
    response_ok = alipay_verifies(given["public_key"], node_text.encode("utf-8"), given["response_sign"])
    notification = dict(given["notification"])
    content = get_sign_content(notification)
    notification["sign"] = sign_with_rsa2(given["private_key_pkcs1"], content, "utf-8")
    notification["sign_type"] = "RSA2"
    return {
        "request_verified": request_ok,
        "response_verified": response_ok,
        "signed_notification": notification,
    }


def wechat_checks(given):
    public_key = load_public_key(pem_body(given["public_key"]))
    private_key = load_private_key(pem_body(given["private_key_pkcs8"]))
    header = given["authorization"]
    fields = dict(pair.split("=", 1) for pair in header.split(" ", 1)[1].split(","))
    fields = {k: v.strip('"') for k, v in fields.items()}
    sign_str = "%s\n%s\n%s\n%s\n%s\n" % (given["method"], given["path"], fields["timestamp"],
                                         fields["nonce_str"], given["body"])
    try:
        public_key.verify(b64decode(fields["signature"]), sign_str.encode("utf-8"), PKCS1v15(), SHA256())
        authorization_ok = fields["mchid"] == given["mchid"] and fields["serial_no"] == given["serial"]
    except InvalidSignature:
        authorization_ok = False
    signed = given["signed_message"]
    message_ok = rsa_verify(signed["timestamp"], signed["nonce"], signed["body"], signed["signature"], public_key)
    resource = given["resource"]
    plaintext = aes_decrypt(resource["nonce"], resource["ciphertext"], resource["associated_data"],
                            given["api_v3_key"])
    peer_authorization = build_authorization(given["path"], given["method"], given["mchid"], given["serial"],
                                             private_key, data=given["body"])
    peer_body = '{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}'
    peer_signed = {"timestamp": signed["timestamp"], "nonce": "PEERNONCE", "body": peer_body,
                   "signature": rsa_sign(private_key, "%s\nPEERNONCE\n%s\n" % (signed["timestamp"], peer_body))}
    peer_plain = '{"out_trade_no":"pi_peer","trade_state":"SUCCESS","amount":{"total":1234}}'
    sealed = AESGCM(given["api_v3_key"].encode("utf-8")).encrypt(b"peer-nonce12", peer_plain.encode("utf-8"),
                                                                 b"transaction")
    return {
        "authorization_verified": authorization_ok,
        "signed_message_verified": message_ok,
        "resource_plaintext": plaintext,
        "peer_authorization": peer_authorization,
        "peer_signed_message": peer_signed,
        "peer_resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": b64encode(sealed).decode(),
                          "associated_data": "transaction", "nonce": "peer-nonce12",
                          "original_type": "transaction"},
        "peer_resource_plaintext": peer_plain,
    }


def v2_checks(given):
    params = {k: v for k, v in given["params"].items() if k != "sign" and v != ""}
    string_a = "&".join("%s=%s" % (k, params[k]) for k in sorted(params))
    return {"sign": hmac_sign(given["key"], string_a + "&key=" + given["key"])}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        given = json.load(f)
    json.dump({"alipay": alipay_checks(given["alipay"]), "wechat_pay": wechat_checks(given["wechat_pay"]),
               "wechat_v2": v2_checks(given["wechat_v2"])}, sys.stdout)


if __name__ == "__main__":
    main()
