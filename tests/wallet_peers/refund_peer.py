"""The providers' SDKs as the provider for our refund calls
(crates/portcullis/tests/wallet_refund_peers.rs).

  refund_peer.py serve GIVEN.json        -> a local Alipay + WeChat Pay v3
                                            refund API; prints "listening PORT"
  refund_peer.py notification GIVEN.json -> a signed, encrypted REFUND.SUCCESS

`serve` answers our `alipay.trade.refund` and
`alipay.trade.fastpay.refund.query` (gateway.do) only when alipay-sdk-python
verifies their RSA2 signature with the merchant's application public key,
and signs its answers with the SDK's `sign_with_rsa2` (Alipay's key); a
request that does not verify is answered `40002 isv.invalid-signature`.
It answers `POST /v3/refund/domestic/refunds` (status PROCESSING) and
`GET /v3/refund/domestic/refunds/{out_refund_no}` (SUCCESS) only when
wechatpayv3's `rsa_verify` verifies the Authorization signature over
`METHOD\\npath\\ntimestamp\\nnonce\\nbody\\n` with the merchant key, and signs
answers with wechatpayv3's `rsa_sign` (platform key); otherwise 401
SIGN_ERROR. `GET /peer/verdicts` lists every request and whether it
verified. `notification` builds the REFUND.SUCCESS message WeChat Pay would
send: resource sealed with AEAD_AES_256_GCM under the API v3 key, message
signed with wechatpayv3's `rsa_sign`.
"""

import json
import sys
import time
import urllib.parse
import uuid
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.utils import load_private_key, load_public_key, rsa_sign, rsa_verify

REFUNDS_PATH = "/v3/refund/domestic/refunds"


def pem_body(pem):
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def pkcs1_body(private_pem):
    key = serialization.load_pem_private_key(private_pem.encode("utf-8"), password=None)
    return pem_body(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()).decode("utf-8"))


class Peer:
    def __init__(self, given):
        self.given = given
        self.alipay_private = pkcs1_body(given["alipay_private_key"])
        self.platform_private = load_private_key(pem_body(given["platform_private_key"]))
        self.merchant_public = load_public_key(pem_body(given["wechat_merchant_public_key"]))
        self.verdicts = []
        self.refunds = {}

    def alipay(self, form):
        params = {k: v[0] for k, v in urllib.parse.parse_qs(form, keep_blank_values=True).items()}
        sign = params.pop("sign", "")
        content = get_sign_content({k: v for k, v in params.items() if v != ""})
        try:
            verified = verify_with_rsa(pem_body(self.given["app_public_key"]), content.encode("utf-8"), sign)
        except Exception:  # rsa.VerificationError on a bad signature
            verified = False
        method = params.get("method", "")
        self.verdicts.append({"provider": "alipay", "method": method, "verified": bool(verified)})
        biz = json.loads(params.get("biz_content") or "{}")
        if not verified:
            node = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature",
                    "sub_msg": "验签出错"}
        elif method == "alipay.trade.refund":
            self.refunds[biz["out_request_no"]] = biz["refund_amount"]
            node = {"code": "10000", "msg": "Success", "trade_no": "2025120522001400001234567890",
                    "out_trade_no": biz["out_trade_no"], "buyer_logon_id": "pee***@example.com",
                    "fund_change": "Y", "refund_fee": biz["refund_amount"],
                    "gmt_refund_pay": "2025-12-05 10:00:00"}
        elif method == "alipay.trade.fastpay.refund.query":
            node = {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
                    "out_request_no": biz["out_request_no"]}
            if biz["out_request_no"] in self.refunds:
                node["refund_amount"] = self.refunds[biz["out_request_no"]]
                node["refund_status"] = "REFUND_SUCCESS"
        else:
            node = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.METHOD_UNKNOWN"}
        node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sign = sign_with_rsa2(self.alipay_private, node_text, "utf-8")
        name = method.replace(".", "_") + "_response"
        return 200, '{"%s":%s,"sign":"%s"}' % (name, node_text, sign), {}

    def wechat(self, method, path, headers, body):
        authorization = headers.get("Authorization", "")
        scheme, _, fields = authorization.partition(" ")
        parts = {}
        for pair in fields.split(","):
            key, _, value = pair.partition("=")
            parts[key.strip()] = value.strip().strip('"')
        # wechatpayv3's verifier checks "a\nb\nc\n"; given (METHOD, path,
        # "timestamp\nnonce\nbody") that is exactly the request's sign string.
        verified = (scheme == "WECHATPAY2-SHA256-RSA2048"
                    and parts.get("mchid") == self.given["wechat_mchid"]
                    and parts.get("serial_no") == self.given["wechat_serial"]
                    and rsa_verify(method, path, "%s\n%s\n%s" % (parts.get("timestamp"), parts.get("nonce_str"), body),
                                   parts.get("signature", ""), self.merchant_public))
        self.verdicts.append({"provider": "wechat_pay", "method": method, "path": path, "verified": bool(verified)})
        if not verified:
            return self.signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        if method == "POST" and path == REFUNDS_PATH:
            asked = json.loads(body)
            self.refunds[asked["out_refund_no"]] = asked
            return self.signed(200, self.refund(asked, "PROCESSING"))
        number = path[len(REFUNDS_PATH) + 1:]
        if method == "GET" and number in self.refunds:
            return self.signed(200, self.refund(self.refunds[number], "SUCCESS"))
        return self.signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})

    @staticmethod
    def refund(asked, status):
        amount = asked["amount"]
        return {"refund_id": "50000000382019052709732678859", "out_refund_no": asked["out_refund_no"],
                "transaction_id": "4200000001201912051234567890", "out_trade_no": asked["out_trade_no"],
                "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
                "create_time": "2025-12-05T10:00:00+08:00", "status": status, "funds_account": "AVAILABLE",
                "amount": {"total": amount["total"], "refund": amount["refund"], "payer_total": amount["total"],
                           "payer_refund": amount["refund"], "settlement_total": amount["total"],
                           "settlement_refund": amount["refund"], "discount_refund": 0,
                           "currency": amount.get("currency", "CNY"), "from": []}}

    def signed(self, status, answer):
        body = json.dumps(answer, ensure_ascii=False)
        timestamp = str(int(time.time()))
        nonce = uuid.uuid4().hex.upper()
        headers = {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
                   "Wechatpay-Serial": self.given["platform_serial"],
                   "Wechatpay-Signature": rsa_sign(self.platform_private, "%s\n%s\n%s\n" % (timestamp, nonce, body)),
                   "Content-Type": "application/json"}
        return status, body, headers


def handler_for(peer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, headers):
            data = body.encode("utf-8")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")

        def do_POST(self):
            body = self.body()
            if self.path.startswith("/gateway.do"):
                self.answer(*peer.alipay(body))
            else:
                self.answer(*peer.wechat("POST", self.path, self.headers, body))

        def do_GET(self):
            if self.path == "/peer/verdicts":
                self.answer(200, json.dumps(peer.verdicts), {"Content-Type": "application/json"})
            else:
                self.answer(*peer.wechat("GET", self.path, self.headers, ""))

    return Handler


def serve(given):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(Peer(given)))
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


def notification(given):
    resource = {"mchid": given["wechat_mchid"], "out_trade_no": given["out_trade_no"],
                "transaction_id": "4200000001201912051234567890", "out_refund_no": given["out_refund_no"],
                "refund_id": "50000000382019052709732678859", "refund_status": "SUCCESS",
                "success_time": "2025-12-05T10:00:05+08:00", "user_received_account": "支付用户零钱",
                "amount": {"total": given["total_fen"], "refund": given["refund_fen"],
                           "payer_total": given["total_fen"], "payer_refund": given["refund_fen"]}}
    nonce = uuid.uuid4().hex[:12]
    sealed = AESGCM(given["api_v3_key"].encode("utf-8")).encrypt(
        nonce.encode("utf-8"), json.dumps(resource, ensure_ascii=False).encode("utf-8"), b"refund")
    body = json.dumps({"id": "EV-" + uuid.uuid4().hex, "create_time": "2025-12-05T10:00:05+08:00",
                       "resource_type": "encrypt-resource", "event_type": "REFUND.SUCCESS", "summary": "退款成功",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": b64encode(sealed).decode(),
                                    "associated_data": "refund", "nonce": nonce, "original_type": "refund"}},
                      ensure_ascii=False)
    timestamp = str(int(time.time()))
    message_nonce = uuid.uuid4().hex.upper()
    key = load_private_key(pem_body(given["platform_private_key"]))
    return {"body": body, "headers": {"timestamp": timestamp, "nonce": message_nonce,
                                      "signature": rsa_sign(key, "%s\n%s\n%s\n" % (timestamp, message_nonce, body)),
                                      "serial": given["platform_serial"]}}


def main():
    with open(sys.argv[2], encoding="utf-8") as f:
        given = json.load(f)
    if sys.argv[1] == "serve":
        serve(given)
    else:
        json.dump(notification(given), sys.stdout)


if __name__ == "__main__":
    main()
