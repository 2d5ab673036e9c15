"""The providers' own SDKs as the merchant, against `portcullis wallet-sim`
(crates/portcullis/tests/wallet_sim.rs, `the_providers_sdks_*`).

  sim_peer.py call GIVEN.json          -> the SDKs place and query orders
  sim_peer.py notifications GIVEN.json -> the SDKs verify notifications

alipay-sdk-python (Alipay's official SDK) signs its requests with the
merchant key the simulator printed and verifies the simulator's answers
with the printed Alipay public key (it raises when they do not verify);
wechatpayv3 does the same with the WeChat Pay v3 credentials, and its
`callback` verifies and decrypts the notifications the simulator sent.
Answers JSON on stdout.

One patch: the SDK's `get_http_connection` ignores the port of an http://
URL (it connects to port 80); the simulator listens on an ephemeral port,
so the connection helper is replaced by one that keeps the port. Signing
and verification are the SDK's own.
"""

import json
import sys
import urllib.parse
import http.client

import alipay.aop.api.util.WebUtils as web_utils
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from wechatpayv3 import WeChatPay, WeChatPayType


def http_connection_keeping_the_port(url, query_string, timeout):
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(host=parsed.hostname, port=parsed.port or 80, timeout=timeout)
    return "%s://%s:%s%s?%s" % (parsed.scheme, parsed.hostname, parsed.port or 80, parsed.path, query_string), connection


web_utils.get_http_connection = http_connection_keeping_the_port


def pem_body(pem):
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def pkcs1_body(private_pem):
    """The SDK takes the application key as PKCS#1 (what Alipay's key tool
    gives non-Java developers); the simulator prints PKCS#8."""
    key = serialization.load_pem_private_key(private_pem.encode("utf-8"), password=None)
    return pem_body(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()).decode("utf-8"))


def alipay_client(account, alipay_public_key=None):
    credentials = account["credentials"]
    config = AlipayClientConfig()
    config.server_url = account["endpoint"] + "/gateway.do"
    config.app_id = credentials["app_id"]
    config.app_private_key = pkcs1_body(credentials["private_key"])
    config.alipay_public_key = pem_body(alipay_public_key or credentials["alipay_public_key"])
    return DefaultAlipayClient(alipay_client_config=config)


def wechat_client(account, notify_url):
    credentials = account["credentials"]
    client = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=credentials["mchid"],
                       private_key=credentials["private_key"], cert_serial_no=credentials["certificate_serial"],
                       appid=credentials["appid"], apiv3_key=credentials["api_v3_key"], notify_url=notify_url,
                       public_key=credentials["platform_public_key"], public_key_id=credentials["platform_serial"])
    client._core._gate_way = account["endpoint"]
    return client


def alipay_calls(given):
    client = alipay_client(given["accounts"]["alipay"])
    model = AlipayTradePrecreateModel()
    model.out_trade_no = given["alipay_out_trade_no"]
    model.total_amount = "9.99"
    model.subject = "Tea"
    request = AlipayTradePrecreateRequest(biz_model=model)
    request.notify_url = given["alipay_notify_url"]
    created = json.loads(client.execute(request))
    query_model = AlipayTradeQueryModel()
    query_model.out_trade_no = given["alipay_out_trade_no"]
    queried = json.loads(client.execute(AlipayTradeQueryRequest(biz_model=query_model)))
    try:
        alipay_client(given["accounts"]["alipay"], given["stranger_public_key"]).execute(
            AlipayTradeQueryRequest(biz_model=query_model))
        stranger_accepted = True
    except Exception:  # the SDK raises when the answer does not verify
        stranger_accepted = False
    return {"created": created, "queried": queried, "stranger_key_accepted": stranger_accepted}


def wechat_calls(given):
    client = wechat_client(given["accounts"]["wechat_pay"], given["wechat_notify_url"])
    code, message = client.pay(description="Tea", out_trade_no=given["wechat_out_trade_no"],
                               amount={"total": 999, "currency": "CNY"})
    query_code, query_message = client.query(out_trade_no=given["wechat_out_trade_no"])
    return {"status": code, "created": json.loads(message), "query_status": query_code,
            "queried": json.loads(query_message)}


def notifications(given):
    alipay = given["alipay_notification"]
    sign = alipay.pop("sign")
    alipay.pop("sign_type", None)
    content = get_sign_content(alipay)
    public_key = pem_body(given["accounts"]["alipay"]["credentials"]["alipay_public_key"])
    try:
        alipay_ok = verify_with_rsa(public_key, content.encode("utf-8"), sign)
    except Exception:
        alipay_ok = False
    client = wechat_client(given["accounts"]["wechat_pay"], None)
    wechat = client.callback(given["wechat_headers"], given["wechat_body"])
    return {"alipay_verified": bool(alipay_ok), "wechat": wechat}


def main():
    with open(sys.argv[2], encoding="utf-8") as f:
        given = json.load(f)
    if sys.argv[1] == "call":
        answer = {"alipay": alipay_calls(given), "wechat_pay": wechat_calls(given)}
    else:
        answer = notifications(given)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
