//! `portcullis wallet-sim` through its wire protocols only, as a connector
//! sees it: requests signed with the printed merchant credentials (our
//! codec; `tests/wallet_peers` has the providers' own SDKs do the same),
//! answers and notifications verified with the printed provider keys,
//! notification faults and retry schedules, payment codes, dropped answers,
//! and keys and trades kept across a restart. The simulator holds no
//! database, so these tests have no SQLite/PostgreSQL variants.

mod wallets;

use portcullis_wallets::alipay_methods::{self as methods, Order};
use portcullis_wallets::keys::generate_pem_pair;
use portcullis_wallets::wechat_pay;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wallets::{now_s, Receiver, WalletSim};

const SPEEDUP: &str = "100000";

fn order(out_trade_no: &str, amount_fen: i64) -> Order<'_> {
    Order {
        out_trade_no,
        amount_fen,
        subject: "Tea 茶",
        timeout_minutes: 15,
    }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn alipay_precreate_scan_pay_notify_query_and_refund() {
    let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
    let receiver = Receiver::start(0).await;
    let alipay = sim.alipay();
    let biz = methods::payment(methods::PRECREATE, &order("pi_alipay_qr_1", 2000)).unwrap();
    let created = alipay
        .call(methods::PRECREATE, &biz, Some(&receiver.alipay_url()))
        .await;
    assert_eq!(created["code"], "10000", "{created}");
    let qr_code = created["qr_code"].as_str().unwrap().to_owned();

    // Before the buyer scans, Alipay knows no such trade.
    let query = methods::by_trade("pi_alipay_qr_1");
    let unknown = alipay.call(methods::QUERY, &query, None).await;
    assert_eq!(unknown["sub_code"], "ACQ.TRADE_NOT_EXIST");

    let scanned = reqwest::get(format!(
        "{}/scan?data={}",
        sim.base_url,
        urlencode(&qr_code)
    ))
    .await
    .unwrap();
    assert_eq!(scanned.status(), 200);
    assert!(scanned.text().await.unwrap().contains("20.00"));
    let waiting = alipay.call(methods::QUERY, &query, None).await;
    assert_eq!(waiting["trade_status"], "WAIT_BUYER_PAY");

    assert_eq!(sim.act(&qr_code, "pay", "none").await.status(), 200);
    let notified = receiver.wait_for(1).await;
    let form = notified[0].form();
    assert!(alipay.verify_notification(&form), "{form:?}");
    assert_eq!(form["trade_status"], "TRADE_SUCCESS");
    assert_eq!(form["total_amount"], "20.00");
    assert_eq!(form["out_trade_no"], "pi_alipay_qr_1");
    assert_eq!(form["sign_type"], "RSA2");

    let paid = alipay.call(methods::QUERY, &query, None).await;
    assert_eq!(paid["trade_status"], "TRADE_SUCCESS");
    assert_eq!(paid["trade_no"], form["trade_no"].as_str());

    let refund = methods::refund("pi_alipay_qr_1", "re_1", 500).unwrap();
    let refunded = alipay.call(methods::REFUND, &refund, None).await;
    assert_eq!(
        (refunded["code"].as_str(), refunded["fund_change"].as_str()),
        (Some("10000"), Some("Y"))
    );
    assert_eq!(refunded["refund_fee"], "5.00");
    let again = alipay.call(methods::REFUND, &refund, None).await;
    assert_eq!(
        (again["fund_change"].as_str(), again["refund_fee"].as_str()),
        (Some("N"), Some("5.00"))
    );
    let too_much = methods::refund("pi_alipay_qr_1", "re_2", 1501).unwrap();
    let refused = alipay.call(methods::REFUND, &too_much, None).await;
    assert_eq!(refused["sub_code"], "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL");
    let looked_up = alipay
        .call(
            methods::REFUND_QUERY,
            &methods::refund_query("pi_alipay_qr_1", "re_1"),
            None,
        )
        .await;
    assert_eq!(looked_up["refund_amount"], "5.00");
    let unknown_refund = alipay
        .call(
            methods::REFUND_QUERY,
            &methods::refund_query("pi_alipay_qr_1", "re_9"),
            None,
        )
        .await;
    assert_eq!(unknown_refund["code"], "10000");
    assert!(unknown_refund.get("refund_amount").is_none());

    let closing_paid = alipay.call(methods::CLOSE, &query, None).await;
    assert_eq!(closing_paid["sub_code"], "ACQ.TRADE_STATUS_ERROR");
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn alipay_refuses_requests_not_signed_by_the_merchant_key() {
    let sim = WalletSim::start(None, &[]);
    let alipay = sim.alipay();
    let biz = methods::payment(methods::PRECREATE, &order("pi_forged", 100)).unwrap();
    let mut params = alipay.signed(methods::PRECREATE, &biz, None);
    params.insert(
        "biz_content".into(),
        biz.to_string().replace("1.00", "0.01"),
    );
    let answer = alipay.verify(methods::PRECREATE, &alipay.post(&params).await);
    assert_eq!(
        (answer["code"].as_str(), answer["sub_code"].as_str()),
        (Some("40002"), Some("isv.invalid-signature"))
    );

    let (other_private, _) = generate_pem_pair().unwrap();
    let mut stranger = sim.alipay();
    stranger.credentials["private_key"] = json!(other_private);
    let answer = stranger.call(methods::PRECREATE, &biz, None).await;
    assert_eq!(answer["sub_code"], "isv.invalid-signature");
    assert!(sim.trades().await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn alipay_page_pay_opens_the_customer_page_and_returns_signed() {
    let sim = WalletSim::start(None, &[]);
    let alipay = sim.alipay();
    let biz = methods::payment(methods::PAGE_PAY, &order("pi_page_1", 1234)).unwrap();
    let key = portcullis_wallets::keys::private_key_from_pem(
        alipay.credentials["private_key"].as_str().unwrap(),
    )
    .unwrap();
    let app_id = alipay.credentials["app_id"].as_str().unwrap().to_owned();
    let context = portcullis_wallets::alipay::RequestContext {
        app_id: &app_id,
        now: now_s(),
        notify_url: None,
        return_url: Some("https://shop.example/return?order=1"),
    };
    let params =
        portcullis_wallets::alipay::signed_request(&key, &context, methods::PAGE_PAY, &biz);
    let url = methods::redirect_url(&sim.base_url, &params);
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("12.34") && page.contains("Pay 支付"),
        "{page}"
    );
    let token = sim.trades().await[0]["token"].as_str().unwrap().to_owned();
    let paid = sim
        .act(&format!("{}/c/{token}", sim.base_url), "pay", "none")
        .await;
    assert_eq!(paid.status(), 303);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = location.split_once("?order=1&").unwrap();
    assert_eq!(base, "https://shop.example/return");
    let returned: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(alipay.verify_notification(&returned));
    assert_eq!(returned["total_amount"], "12.34");
}

#[tokio::test]
async fn wechat_native_order_pay_notify_decrypt_refund_and_close() {
    let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
    let receiver = Receiver::start(0).await;
    let wechat = sim.wechat();
    let (appid, mchid) = (wechat.appid(), wechat.mchid());
    let expire = portcullis_wallets::wechat_pay_orders::time_expire(now_s() + 900);
    let notify_url = receiver.wechat_url();
    let new_order = |out_trade_no: &'static str| portcullis_wallets::wechat_pay_orders::Order {
        appid: "",
        mchid: "",
        out_trade_no,
        amount_fen: 888,
        description: "Tea 茶",
        notify_url: "",
        time_expire: "",
    };
    let mut order = new_order("pi_wechat_native_1");
    order.appid = &appid;
    order.mchid = &mchid;
    order.notify_url = &notify_url;
    order.time_expire = &expire;
    let (path, body) = portcullis_wallets::wechat_pay_orders::order(
        &order,
        &portcullis_wallets::wechat_pay_orders::Flow::Native,
    )
    .unwrap();
    let created = wechat.call("POST", path, &body.to_string()).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.verified, "the answer is signed by the platform key");
    let code_url = created.json()["code_url"].as_str().unwrap().to_owned();
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="));

    let query_path =
        portcullis_wallets::wechat_pay_orders::query_path("pi_wechat_native_1", &mchid);
    let notpay = wechat.call("GET", &query_path, "").await;
    assert_eq!(
        (notpay.status, notpay.json()["trade_state"].clone()),
        (200, json!("NOTPAY"))
    );
    assert!(notpay.verified);

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let scanned = client
        .get(format!(
            "{}/scan?data={}",
            sim.base_url,
            urlencode(&code_url)
        ))
        .send()
        .await
        .unwrap();
    let page = format!(
        "{}{}",
        sim.base_url,
        scanned.headers()["location"].to_str().unwrap()
    );
    assert_eq!(sim.act(&page, "pay", "none").await.status(), 200);

    let notified = receiver.wait_for(1).await;
    assert!(
        wechat.verify(&notified[0].wechat_headers(), &notified[0].body),
        "signed by the platform key"
    );
    let notification: Value = serde_json::from_str(&notified[0].body).unwrap();
    assert_eq!(notification["event_type"], "TRANSACTION.SUCCESS");
    let resource: wechat_pay::EncryptedResource =
        serde_json::from_value(notification["resource"].clone()).unwrap();
    let plain = wechat_pay::decrypt_resource(&wechat.api_v3_key(), &resource).unwrap();
    let transaction: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(transaction["trade_state"], "SUCCESS");
    assert_eq!(transaction["amount"]["total"], 888);
    assert_eq!(transaction["out_trade_no"], "pi_wechat_native_1");
    let by_id = format!(
        "/v3/pay/transactions/id/{}?mchid={mchid}",
        transaction["transaction_id"].as_str().unwrap()
    );
    assert_eq!(
        wechat.call("GET", &by_id, "").await.json()["trade_state"],
        "SUCCESS"
    );

    let refund = portcullis_wallets::wechat_pay_orders::refund(
        "pi_wechat_native_1",
        "re_w1",
        300,
        888,
        &notify_url,
    )
    .unwrap();
    let refunded = wechat
        .call(
            "POST",
            portcullis_wallets::wechat_pay_orders::REFUNDS_PATH,
            &refund.to_string(),
        )
        .await;
    assert_eq!(refunded.status, 200, "{}", refunded.body);
    assert_eq!(refunded.json()["amount"]["refund"], 300);
    let notified = receiver.wait_for(2).await;
    assert!(wechat.verify(&notified[1].wechat_headers(), &notified[1].body));
    let notification: Value = serde_json::from_str(&notified[1].body).unwrap();
    assert_eq!(notification["event_type"], "REFUND.SUCCESS");
    let resource: wechat_pay::EncryptedResource =
        serde_json::from_value(notification["resource"].clone()).unwrap();
    let refund_plain: Value = serde_json::from_str(
        &wechat_pay::decrypt_resource(&wechat.api_v3_key(), &resource).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            refund_plain["out_refund_no"].as_str(),
            refund_plain["amount"]["refund"].as_i64()
        ),
        (Some("re_w1"), Some(300))
    );
    let over = portcullis_wallets::wechat_pay_orders::refund(
        "pi_wechat_native_1",
        "re_w2",
        589,
        888,
        &notify_url,
    )
    .unwrap();
    let refused = wechat
        .call(
            "POST",
            portcullis_wallets::wechat_pay_orders::REFUNDS_PATH,
            &over.to_string(),
        )
        .await;
    assert_eq!(refused.status, 400);
    let looked_up = wechat
        .call(
            "GET",
            &portcullis_wallets::wechat_pay_orders::refund_query_path("re_w1"),
            "",
        )
        .await;
    assert_eq!(
        (looked_up.status, looked_up.json()["status"].clone()),
        (200, json!("SUCCESS"))
    );
    let refund_state = wechat.call("GET", &query_path, "").await;
    assert_eq!(refund_state.json()["trade_state"], "REFUND");

    let mut unpaid = new_order("pi_wechat_native_2");
    unpaid.appid = &appid;
    unpaid.mchid = &mchid;
    unpaid.notify_url = &notify_url;
    unpaid.time_expire = &expire;
    let (path, body) = portcullis_wallets::wechat_pay_orders::order(
        &unpaid,
        &portcullis_wallets::wechat_pay_orders::Flow::Native,
    )
    .unwrap();
    assert_eq!(
        wechat.call("POST", path, &body.to_string()).await.status,
        200
    );
    let close_path = portcullis_wallets::wechat_pay_orders::close_path("pi_wechat_native_2");
    let closed = wechat
        .call("POST", &close_path, &json!({"mchid": mchid}).to_string())
        .await;
    assert_eq!((closed.status, closed.verified), (204, true));
    let state = wechat
        .call(
            "GET",
            &portcullis_wallets::wechat_pay_orders::query_path("pi_wechat_native_2", &mchid),
            "",
        )
        .await;
    assert_eq!(state.json()["trade_state"], "CLOSED");
}

#[tokio::test]
async fn wechat_refuses_bad_signatures_serials_and_stale_timestamps() {
    let sim = WalletSim::start(None, &[]);
    let wechat = sim.wechat();
    let path = portcullis_wallets::wechat_pay_orders::query_path("pi_none", &wechat.mchid());
    let good = wechat.authorization("GET", &path, "");
    let tampered = good.replacen("signature=\"", "signature=\"AA", 1);
    let answer = wechat.send("GET", &path, "", &tampered).await;
    assert_eq!(
        (answer.status, answer.json()["code"].clone()),
        (401, json!("SIGN_ERROR"))
    );
    assert!(answer.verified, "errors are signed too");
    let other_path = portcullis_wallets::wechat_pay_orders::query_path("pi_other", &wechat.mchid());
    let answer = wechat.send("GET", &other_path, "", &good).await;
    assert_eq!(answer.status, 401, "a signature covers its path");
    let wrong_serial = good.replace(
        wechat.credentials["certificate_serial"].as_str().unwrap(),
        "0123",
    );
    assert_eq!(
        wechat.send("GET", &path, "", &wrong_serial).await.status,
        401
    );
    let answer = wechat.send("GET", &path, "", &good).await;
    assert_eq!(
        (answer.status, answer.json()["code"].clone()),
        (404, json!("ORDER_NOT_EXIST"))
    );
}

#[tokio::test]
async fn wechat_jsapi_request_payment_is_checked_like_the_wechat_app_does() {
    let sim = WalletSim::start(None, &[]);
    let wechat = sim.wechat();
    let (appid, mchid) = (wechat.appid(), wechat.mchid());
    let expire = portcullis_wallets::wechat_pay_orders::time_expire(now_s() + 900);
    let order = portcullis_wallets::wechat_pay_orders::Order {
        appid: &appid,
        mchid: &mchid,
        out_trade_no: "pi_jsapi_1",
        amount_fen: 100,
        description: "Tea",
        notify_url: "https://shop.example/notify",
        time_expire: &expire,
    };
    let flow = portcullis_wallets::wechat_pay_orders::Flow::Jsapi {
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    };
    let (path, body) = portcullis_wallets::wechat_pay_orders::order(&order, &flow).unwrap();
    let created = wechat.call("POST", path, &body.to_string()).await;
    let prepay_id = created.json()["prepay_id"].as_str().unwrap().to_owned();
    let key = portcullis_wallets::keys::private_key_from_pem(
        wechat.credentials["private_key"].as_str().unwrap(),
    )
    .unwrap();
    let params =
        wechat_pay::jsapi_pay_parameters(&key, &appid, &prepay_id, now_s(), &wechat_pay::nonce());
    let client = reqwest::Client::new();
    let url = format!("{}/sim/wechat_pay/request_payment", sim.base_url);
    let ok = client.post(&url).json(&params).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["errMsg"], "requestPayment:ok");
    let mut forged = params.clone();
    forged["package"] = json!("prepay_id=wx_other");
    assert_eq!(
        client
            .post(&url)
            .json(&forged)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn alipay_payment_codes_pay_wait_decline_and_cancel() {
    let sim = WalletSim::start(None, &[]);
    let alipay = sim.alipay();
    let pay = |n: &'static str, code: &'static str| {
        let biz = methods::pay_with_code(&order(n, 500), code).unwrap();
        let alipay = sim.alipay();
        async move { alipay.call(methods::PAY, &biz, None).await }
    };
    let paid = pay("pi_code_pays", "280000000000000000").await;
    assert_eq!(
        (paid["code"].as_str(), paid["total_amount"].as_str()),
        (Some("10000"), Some("5.00"))
    );
    let declined = pay("pi_code_declines", "280000000000000001").await;
    assert_eq!(declined["sub_code"], "ACQ.BUYER_BALANCE_NOT_ENOUGH");
    let invalid = pay("pi_code_invalid", "130000000000000000").await;
    assert_eq!(
        invalid["sub_code"], "ACQ.PAYMENT_AUTH_CODE_INVALID",
        "a WeChat code is not Alipay's"
    );

    let waiting = pay("pi_code_waits", "280000000000000002").await;
    assert_eq!(waiting["code"], "10003");
    let query = methods::by_trade("pi_code_waits");
    assert_eq!(
        alipay.call(methods::QUERY, &query, None).await["trade_status"],
        "WAIT_BUYER_PAY"
    );
    assert_eq!(
        alipay.call(methods::QUERY, &query, None).await["trade_status"],
        "TRADE_SUCCESS"
    );

    let forever = pay("pi_code_forever", "280000000000000003").await;
    assert_eq!(forever["code"], "10003");
    let query = methods::by_trade("pi_code_forever");
    for _ in 0..5 {
        assert_eq!(
            alipay.call(methods::QUERY, &query, None).await["trade_status"],
            "WAIT_BUYER_PAY"
        );
    }
    let cancelled = alipay.call(methods::CANCEL, &query, None).await;
    assert_eq!(
        (cancelled["code"].as_str(), cancelled["action"].as_str()),
        (Some("10000"), Some("close"))
    );
    assert_eq!(
        alipay.call(methods::QUERY, &query, None).await["trade_status"],
        "TRADE_CLOSED"
    );
    let cancel_paid = alipay
        .call(methods::CANCEL, &methods::by_trade("pi_code_pays"), None)
        .await;
    assert_eq!(cancel_paid["action"], "refund");
}

#[tokio::test]
async fn wechat_micropay_userpaying_orderquery_and_reverse() {
    let sim = WalletSim::start(None, &[]);
    let wechat = sim.wechat();
    let micropay = |n: &str, code: &str| {
        fields(&[
            ("body", "Tea"),
            ("out_trade_no", n),
            ("total_fee", "700"),
            ("spbill_create_ip", "127.0.0.1"),
            ("auth_code", code),
        ])
    };
    let paid = wechat
        .v2(
            "/pay/micropay",
            micropay("pi_mp_pays", "134567890123456780"),
        )
        .await;
    assert_eq!(
        (paid["result_code"].as_str(), paid["total_fee"].as_str()),
        ("SUCCESS", "700")
    );
    let waiting = wechat
        .v2(
            "/pay/micropay",
            micropay("pi_mp_waits", "134567890123456782"),
        )
        .await;
    assert_eq!(waiting["err_code"], "USERPAYING");
    let query = fields(&[("out_trade_no", "pi_mp_waits")]);
    assert_eq!(
        wechat.v2("/pay/orderquery", query.clone()).await["trade_state"],
        "USERPAYING"
    );
    assert_eq!(
        wechat.v2("/pay/orderquery", query).await["trade_state"],
        "SUCCESS"
    );

    let forever = wechat
        .v2(
            "/pay/micropay",
            micropay("pi_mp_forever", "134567890123456783"),
        )
        .await;
    assert_eq!(forever["err_code"], "USERPAYING");
    let query = fields(&[("out_trade_no", "pi_mp_forever")]);
    for _ in 0..4 {
        assert_eq!(
            wechat.v2("/pay/orderquery", query.clone()).await["trade_state"],
            "USERPAYING"
        );
    }
    let reversed = wechat.v2("/secapi/pay/reverse", query.clone()).await;
    assert_eq!(
        (
            reversed["result_code"].as_str(),
            reversed["recall"].as_str()
        ),
        ("SUCCESS", "N")
    );
    assert_eq!(
        wechat.v2("/pay/orderquery", query).await["trade_state"],
        "REVOKED"
    );

    let declined = wechat
        .v2(
            "/pay/micropay",
            micropay("pi_mp_declines", "134567890123456781"),
        )
        .await;
    assert_eq!(declined["err_code"], "NOTENOUGH");
    let unsigned =
        portcullis_wallets::wechat_v2::to_xml(&micropay("pi_mp_unsigned", "134567890123456780"));
    let refused = wechat.v2_raw("/pay/micropay", &unsigned).await;
    assert_eq!(refused["return_code"], "FAIL");
    assert!(sim
        .trades()
        .await
        .iter()
        .all(|t| t["out_trade_no"] != "pi_mp_unsigned"));
}

/// Creates a QR trade for `provider` with the receiver as notify URL and
/// pays it with `fault`; returns its page.
async fn paid_with_fault(
    sim: &WalletSim,
    receiver: &Receiver,
    provider: &str,
    n: &str,
    fault: &str,
) {
    let page = match provider {
        "alipay" => {
            let biz = methods::payment(methods::PRECREATE, &order(n, 1000)).unwrap();
            let created = sim
                .alipay()
                .call(methods::PRECREATE, &biz, Some(&receiver.alipay_url()))
                .await;
            created["qr_code"].as_str().unwrap().to_owned()
        }
        _ => {
            let wechat = sim.wechat();
            let (appid, mchid, url) = (wechat.appid(), wechat.mchid(), receiver.wechat_url());
            let expire = portcullis_wallets::wechat_pay_orders::time_expire(now_s() + 900);
            let order = portcullis_wallets::wechat_pay_orders::Order {
                appid: &appid,
                mchid: &mchid,
                out_trade_no: n,
                amount_fen: 1000,
                description: "Tea",
                notify_url: &url,
                time_expire: &expire,
            };
            let flow = portcullis_wallets::wechat_pay_orders::Flow::H5 {
                payer_client_ip: "203.0.113.9",
            };
            let (path, body) = portcullis_wallets::wechat_pay_orders::order(&order, &flow).unwrap();
            wechat.call("POST", path, &body.to_string()).await.json()["h5_url"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(sim.act(&page, "pay", fault).await.status(), 200);
}

fn alipay_verdicts(sim: &WalletSim, receiver: &Receiver) -> Vec<(bool, String, String)> {
    let alipay = sim.alipay();
    receiver
        .received()
        .iter()
        .map(|r| {
            let form = r.form();
            (
                alipay.verify_notification(&form),
                form["trade_status"].clone(),
                form["total_amount"].clone(),
            )
        })
        .collect()
}

fn wechat_verdicts(sim: &WalletSim, receiver: &Receiver) -> Vec<(bool, String, i64)> {
    let wechat = sim.wechat();
    receiver
        .received()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            let resource: wechat_pay::EncryptedResource =
                serde_json::from_value(body["resource"].clone()).unwrap();
            let plain: Value = serde_json::from_str(
                &wechat_pay::decrypt_resource(&wechat.api_v3_key(), &resource).unwrap(),
            )
            .unwrap();
            (
                wechat.verify(&r.wechat_headers(), &r.body),
                r.wechat_headers().nonce,
                plain["amount"]["total"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn notification_faults_are_injected_as_asked() {
    let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);

    let forged = Receiver::start(0).await;
    paid_with_fault(&sim, &forged, "alipay", "pi_f_forged", "forged").await;
    forged.wait_for(2).await;
    let verdicts = alipay_verdicts(&sim, &forged);
    assert_eq!(
        (verdicts[0].0, verdicts[1].0),
        (false, true),
        "a forged one, then the genuine one"
    );

    let duplicate = Receiver::start(0).await;
    paid_with_fault(&sim, &duplicate, "alipay", "pi_f_duplicate", "duplicate").await;
    let received = duplicate.wait_for(2).await;
    assert!(alipay_verdicts(&sim, &duplicate)
        .iter()
        .all(|v| v.0 && v.1 == "TRADE_SUCCESS"));
    assert_ne!(
        received[0].form()["notify_id"],
        received[1].form()["notify_id"],
        "two deliveries, each signed"
    );

    let mismatch = Receiver::start(0).await;
    paid_with_fault(
        &sim,
        &mismatch,
        "alipay",
        "pi_f_mismatch",
        "amount_mismatch",
    )
    .await;
    mismatch.wait_for(1).await;
    assert_eq!(
        alipay_verdicts(&sim, &mismatch)[0],
        (true, "TRADE_SUCCESS".into(), "10.01".into())
    );

    let out_of_order = Receiver::start(0).await;
    paid_with_fault(&sim, &out_of_order, "alipay", "pi_f_order", "out_of_order").await;
    out_of_order.wait_for(2).await;
    let statuses: Vec<String> = alipay_verdicts(&sim, &out_of_order)
        .into_iter()
        .map(|v| v.1)
        .collect();
    assert_eq!(statuses, ["TRADE_SUCCESS", "WAIT_BUYER_PAY"]);

    let stale = Receiver::start(0).await;
    paid_with_fault(&sim, &stale, "wechat_pay", "pi_f_stale", "stale").await;
    stale.wait_for(2).await;
    let verdicts = wechat_verdicts(&sim, &stale);
    assert_eq!(
        (verdicts[0].0, verdicts[1].0),
        (false, true),
        "outside the window, then genuine"
    );

    let replayed = Receiver::start(0).await;
    paid_with_fault(&sim, &replayed, "wechat_pay", "pi_f_replayed", "replayed").await;
    replayed.wait_for(2).await;
    let verdicts = wechat_verdicts(&sim, &replayed);
    assert!(verdicts[0].0 && verdicts[1].0);
    assert_eq!(verdicts[0].1, verdicts[1].1, "the same nonce twice");

    let forged_wechat = Receiver::start(0).await;
    paid_with_fault(
        &sim,
        &forged_wechat,
        "wechat_pay",
        "pi_f_forged_w",
        "forged",
    )
    .await;
    forged_wechat.wait_for(2).await;
    let verdicts = wechat_verdicts(&sim, &forged_wechat);
    assert_eq!((verdicts[0].0, verdicts[1].0), (false, true));

    let lost = Receiver::start(0).await;
    paid_with_fault(&sim, &lost, "wechat_pay", "pi_f_lost", "lost").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(lost.received().is_empty());
}

#[tokio::test]
async fn unacknowledged_notifications_are_retried_on_schedule() {
    let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
    let receiver = Receiver::start(3).await;
    paid_with_fault(&sim, &receiver, "wechat_pay", "pi_retry_w", "none").await;
    receiver.wait_for(4).await;
    let alipay_receiver = Receiver::start(2).await;
    paid_with_fault(&sim, &alipay_receiver, "alipay", "pi_retry_a", "none").await;
    alipay_receiver.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        4,
        "no delivery after the acknowledgement"
    );
    let trades = sim.trades().await;
    let trade = trades
        .iter()
        .find(|t| t["out_trade_no"] == "pi_retry_w")
        .unwrap();
    assert_eq!(
        (
            trade["notifications_sent"].as_u64(),
            trade["notifications_acknowledged"].as_u64()
        ),
        (Some(4), Some(1))
    );
}

#[tokio::test]
async fn unpaid_trades_close_at_their_expiry() {
    let sim = WalletSim::start(None, &[]);
    let wechat = sim.wechat();
    let (appid, mchid) = (wechat.appid(), wechat.mchid());
    let expire = portcullis_wallets::wechat_pay_orders::time_expire(now_s() + 2);
    let order = portcullis_wallets::wechat_pay_orders::Order {
        appid: &appid,
        mchid: &mchid,
        out_trade_no: "pi_expiring",
        amount_fen: 100,
        description: "Tea",
        notify_url: "https://shop.example/notify",
        time_expire: &expire,
    };
    let (path, body) = portcullis_wallets::wechat_pay_orders::order(
        &order,
        &portcullis_wallets::wechat_pay_orders::Flow::H5 {
            payer_client_ip: "203.0.113.2",
        },
    )
    .unwrap();
    let page = wechat.call("POST", path, &body.to_string()).await.json()["h5_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = portcullis_wallets::wechat_pay_orders::query_path("pi_expiring", &mchid);
    assert_eq!(
        wechat.call("GET", &query, "").await.json()["trade_state"],
        "NOTPAY"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4_200)).await;
    assert_eq!(
        wechat.call("GET", &query, "").await.json()["trade_state"],
        "CLOSED"
    );
    assert_eq!(
        sim.act(&page, "pay", "none").await.status(),
        409,
        "too late to pay"
    );
}

#[tokio::test]
async fn a_dropped_answer_still_took_effect() {
    let sim = WalletSim::start(None, &[]);
    let control = reqwest::Client::new();
    control
        .post(format!("{}/sim/faults", sim.base_url))
        .json(&json!({"drop_answers": 1}))
        .send()
        .await
        .unwrap();
    let alipay = sim.alipay();
    let biz = methods::payment(methods::PRECREATE, &order("pi_dropped", 300)).unwrap();
    let params = alipay.signed(methods::PRECREATE, &biz, None);
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(800))
        .build()
        .unwrap();
    let dropped = impatient
        .post(format!("{}/gateway.do", sim.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(methods::encoded(&params))
        .send()
        .await;
    assert!(dropped.is_err_and(|e| e.is_timeout()));
    let again = alipay.call(methods::PRECREATE, &biz, None).await;
    assert_eq!(
        again["code"], "10000",
        "the repeated call answers the same trade"
    );
    assert_eq!(sim.trades().await.len(), 1);
}

#[tokio::test]
async fn keys_and_trades_survive_a_restart_with_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let first = WalletSim::start(Some(dir.path()), &[]);
    let accounts = first.accounts["alipay"]["credentials"].clone();
    let biz = methods::pay_with_code(&order("pi_kept", 900), "280000000000000000").unwrap();
    assert_eq!(
        first.alipay().call(methods::PAY, &biz, None).await["code"],
        "10000"
    );
    drop(first);
    let second = WalletSim::start(Some(dir.path()), &[]);
    assert_eq!(second.accounts["alipay"]["credentials"], accounts);
    let queried = second
        .alipay()
        .call(methods::QUERY, &methods::by_trade("pi_kept"), None)
        .await;
    assert_eq!(queried["trade_status"], "TRADE_SUCCESS");
    let mode = std::fs::metadata(dir.path().join("wallet-sim/keys.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
}

mod connector_clients {
    //! `portcullis_connectors::wallets` against the simulator: the clients
    //! a PaymentIntent will use, with their verification and timeouts.

    use super::*;
    use portcullis_connectors::wallets::alipay::{AlipayClient, AlipayCredentials};
    use portcullis_connectors::wallets::wechat_pay::{
        Prepared, WechatPayClient, WechatPayCredentials,
    };
    use portcullis_connectors::wallets::{CodePayment, TradeState, WalletCallError};
    use portcullis_wallets::wechat_pay_orders::{time_expire, Flow};
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn credential(sim: &WalletSim, provider: &str, name: &str) -> String {
        sim.accounts[provider]["credentials"][name]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn alipay_client(
        sim: &WalletSim,
        public_key: Option<String>,
        timeout: Duration,
    ) -> AlipayClient {
        let credentials = AlipayCredentials {
            app_id: credential(sim, "alipay", "app_id"),
            private_key_pem: Zeroizing::new(credential(sim, "alipay", "private_key")),
            alipay_public_key_pem: public_key
                .unwrap_or_else(|| credential(sim, "alipay", "alipay_public_key")),
        };
        AlipayClient::new(
            http(),
            &sim.base_url,
            credentials,
            "https://gateway.example/notify/alipay/ca_1",
            timeout,
        )
        .unwrap()
    }

    fn wechat_client(sim: &WalletSim, platform_key: Option<String>) -> WechatPayClient {
        let c = |name: &str| credential(sim, "wechat_pay", name);
        let credentials = WechatPayCredentials {
            mchid: c("mchid"),
            appid: c("appid"),
            private_key_pem: Zeroizing::new(c("private_key")),
            certificate_serial: c("certificate_serial"),
            api_v3_key: Zeroizing::new(c("api_v3_key")),
            platform_public_key_pem: platform_key.unwrap_or_else(|| c("platform_public_key")),
            platform_serial: c("platform_serial"),
            api_v2_key: Some(Zeroizing::new(c("api_v2_key"))),
        };
        WechatPayClient::new(
            http(),
            &sim.base_url,
            credentials,
            "https://gateway.example/notify/wechat_pay/ca_2",
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_alipay_client_runs_a_qr_payment_refund_and_codes() {
        let sim = WalletSim::start(None, &[]);
        let client = alipay_client(&sim, None, Duration::from_secs(5));
        let qr = client.precreate(&order("pi_client_a", 4321)).await.unwrap();
        assert_eq!(
            client.query("pi_client_a").await.unwrap().state,
            TradeState::NotFound
        );
        assert_eq!(sim.act(&qr, "pay", "none").await.status(), 200);
        let paid = client.query("pi_client_a").await.unwrap();
        assert_eq!(
            (paid.state, paid.amount_fen),
            (TradeState::Paid, Some(4321))
        );
        assert!(paid.provider_trade_id.is_some());
        let refund = client
            .refund("pi_client_a", "re_client_a", 321)
            .await
            .unwrap();
        assert_eq!(refund.amount_fen, 321);
        assert_eq!(
            client
                .refund_query("pi_client_a", "re_client_a")
                .await
                .unwrap()
                .unwrap()
                .amount_fen,
            321
        );
        assert_eq!(
            client.refund_query("pi_client_a", "re_none").await.unwrap(),
            None
        );
        let refused = client
            .refund("pi_client_a", "re_client_b", 5000)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, WalletCallError::Refused { code, .. } if code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
        );
        assert!(!refused.outcome_unknown());

        client
            .precreate(&order("pi_client_unscanned", 100))
            .await
            .unwrap();
        client.close("pi_client_unscanned").await.unwrap();

        let waiting = client
            .pay_with_code(&order("pi_client_code", 100), "280000000000000002")
            .await
            .unwrap();
        assert_eq!(waiting, CodePayment::Waiting);
        assert_eq!(
            client.query("pi_client_code").await.unwrap().state,
            TradeState::Waiting
        );
        assert_eq!(
            client.query("pi_client_code").await.unwrap().state,
            TradeState::Paid
        );
        let declined = client
            .pay_with_code(&order("pi_client_code_2", 100), "280000000000000001")
            .await
            .unwrap();
        assert!(
            matches!(declined, CodePayment::Declined { code, .. } if code == "ACQ.BUYER_BALANCE_NOT_ENOUGH")
        );
        let url = client
            .payment_url(
                methods::WAP_PAY,
                &order("pi_client_wap", 100),
                Some("https://shop.example/r"),
            )
            .unwrap();
        assert!(reqwest::get(&url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("1.00"));
        let order_string = client
            .app_order_string(&order("pi_client_app", 100))
            .unwrap();
        assert!(
            order_string.contains("method=alipay.trade.app.pay") && order_string.contains("sign=")
        );
    }

    #[tokio::test]
    async fn answers_that_do_not_verify_or_never_come_leave_the_outcome_unknown() {
        let sim = WalletSim::start(None, &[]);
        let (_, stranger_public) = generate_pem_pair().unwrap();
        let fooled = alipay_client(&sim, Some(stranger_public.clone()), Duration::from_secs(5));
        let error = fooled
            .precreate(&order("pi_unverified", 100))
            .await
            .unwrap_err();
        assert!(matches!(error, WalletCallError::Unverified(_)) && error.outcome_unknown());
        let fooled = wechat_client(&sim, Some(stranger_public));
        let error = fooled.query("pi_unverified_w").await.unwrap_err();
        assert!(matches!(error, WalletCallError::Unverified(_)), "{error:?}");

        reqwest::Client::new()
            .post(format!("{}/sim/faults", sim.base_url))
            .json(&json!({"drop_answers": 1}))
            .send()
            .await
            .unwrap();
        let impatient = alipay_client(&sim, None, Duration::from_millis(700));
        let error = impatient
            .precreate(&order("pi_timeout", 100))
            .await
            .unwrap_err();
        assert_eq!(error, WalletCallError::Timeout);
        assert!(error.outcome_unknown());
    }

    #[tokio::test]
    async fn the_wechat_client_runs_orders_refunds_and_payment_codes() {
        let sim = WalletSim::start(None, &[]);
        let client = wechat_client(&sim, None);
        let expire = time_expire(now_s() + 900);
        let prepared = client
            .order("pi_wclient_1", 990, "Tea", &expire, &Flow::Native)
            .await
            .unwrap();
        let Prepared::CodeUrl(code_url) = prepared else {
            panic!("{prepared:?}")
        };
        assert_eq!(
            client.query("pi_wclient_1").await.unwrap().state,
            TradeState::Waiting
        );
        let page = format!(
            "{}/c/{}",
            sim.base_url,
            code_url.rsplit('=').next().unwrap()
        );
        assert_eq!(sim.act(&page, "pay", "lost").await.status(), 200);
        let paid = client.query("pi_wclient_1").await.unwrap();
        assert_eq!((paid.state, paid.amount_fen), (TradeState::Paid, Some(990)));
        let refund = client
            .refund("pi_wclient_1", "re_wclient_1", 90, 990)
            .await
            .unwrap();
        assert!(refund.succeeded && refund.amount_fen == 90);
        assert_eq!(
            client
                .refund_query("re_wclient_1")
                .await
                .unwrap()
                .unwrap()
                .amount_fen,
            90
        );
        assert_eq!(client.refund_query("re_none").await.unwrap(), None);
        assert_eq!(
            client.query("pi_wclient_1").await.unwrap().state,
            TradeState::Refunded
        );
        assert_eq!(
            client.query("pi_wclient_none").await.unwrap().state,
            TradeState::NotFound
        );

        let h5 = client
            .order(
                "pi_wclient_h5",
                100,
                "Tea",
                &expire,
                &Flow::H5 {
                    payer_client_ip: "203.0.113.1",
                },
            )
            .await
            .unwrap();
        assert!(matches!(h5, Prepared::H5Url(url) if url.starts_with(&sim.base_url)));
        let app = client
            .order("pi_wclient_app", 100, "Tea", &expire, &Flow::App)
            .await
            .unwrap();
        assert!(matches!(app, Prepared::PrepayId(_)));
        client.close("pi_wclient_app").await.unwrap();
        assert_eq!(
            client.query("pi_wclient_app").await.unwrap().state,
            TradeState::Closed
        );

        let waiting = client
            .micropay(
                "pi_wclient_code",
                500,
                "Tea",
                "134567890123456783",
                "127.0.0.1",
            )
            .await
            .unwrap();
        assert_eq!(waiting, CodePayment::Waiting);
        assert_eq!(
            client.orderquery("pi_wclient_code").await.unwrap().state,
            TradeState::UserPaying
        );
        client.reverse("pi_wclient_code").await.unwrap();
        assert_eq!(
            client.orderquery("pi_wclient_code").await.unwrap().state,
            TradeState::Closed
        );
        let paid = client
            .micropay(
                "pi_wclient_code_2",
                500,
                "Tea",
                "134567890123456780",
                "127.0.0.1",
            )
            .await
            .unwrap();
        assert!(matches!(paid, CodePayment::Paid(status) if status.amount_fen == Some(500)));
        let declined = client
            .micropay(
                "pi_wclient_code_3",
                500,
                "Tea",
                "134567890123456781",
                "127.0.0.1",
            )
            .await
            .unwrap();
        assert!(matches!(declined, CodePayment::Declined { code, .. } if code == "NOTENOUGH"));
    }
}

mod the_providers_sdks {
    //! alipay-sdk-python and wechatpayv3 as the merchant against the
    //! simulator (`tests/wallet_peers/sim_peer.py`): they sign the requests
    //! and verify the answers and notifications, so the simulator is not
    //! checked only by the codec it shares with our connectors. Runs under
    //! `tests/wallet_peers/run.sh`; without the SDKs it prints SKIPPED,
    //! except under `CI=true`, where it fails.

    use super::*;
    use std::process::Command;

    fn python() -> String {
        wallets::peer_python()
    }

    fn sdks_available() -> bool {
        wallets::sdks_available("alipay.aop.api.DefaultAlipayClient, wechatpayv3")
    }

    fn run(step: &str, given: &Value) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("given.json");
        std::fs::write(&input, given.to_string()).unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/wallet_peers/sim_peer.py"
        );
        let output = Command::new(python())
            .arg(script)
            .arg(step)
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "sim_peer.py {step}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    #[tokio::test]
    #[ignore = "needs alipay-sdk-python and wechatpayv3: run tests/wallet_peers/run.sh"]
    async fn the_providers_sdks_pay_through_the_simulator_and_accept_its_notifications() {
        if !sdks_available() {
            return;
        }
        let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
        let receiver = Receiver::start(0).await;
        let (_, stranger_public_key) = generate_pem_pair().unwrap();
        let given = json!({
            "accounts": sim.accounts,
            "alipay_out_trade_no": "pi_sdk_alipay",
            "alipay_notify_url": receiver.alipay_url(),
            "wechat_out_trade_no": "pi_sdk_wechat",
            "wechat_notify_url": receiver.wechat_url(),
            "stranger_public_key": stranger_public_key,
        });
        let called = run("call", &given);
        assert_eq!(called["alipay"]["created"]["code"], "10000", "{called}");
        assert_eq!(
            called["alipay"]["queried"]["sub_code"], "ACQ.TRADE_NOT_EXIST",
            "not scanned yet"
        );
        assert_eq!(
            called["alipay"]["stranger_key_accepted"], false,
            "the SDK checks the answer's signature"
        );
        assert_eq!(called["wechat_pay"]["status"], 200, "{called}");
        assert_eq!(called["wechat_pay"]["queried"]["trade_state"], "NOTPAY");

        let qr_code = called["alipay"]["created"]["qr_code"].as_str().unwrap();
        assert_eq!(sim.act(qr_code, "pay", "none").await.status(), 200);
        let code_url = called["wechat_pay"]["created"]["code_url"]
            .as_str()
            .unwrap();
        let page = format!(
            "{}/c/{}",
            sim.base_url,
            code_url.rsplit('=').next().unwrap()
        );
        assert_eq!(sim.act(&page, "pay", "none").await.status(), 200);
        let received = receiver.wait_for(2).await;
        let alipay = received
            .iter()
            .find(|r| r.headers.get("wechatpay-signature").is_none())
            .unwrap();
        let wechat = received
            .iter()
            .find(|r| r.headers.get("wechatpay-signature").is_some())
            .unwrap();
        let wechat_headers: serde_json::Map<String, Value> = wechat
            .headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("wechatpay-"))
            .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap())))
            .collect();
        let verdicts = run(
            "notifications",
            &json!({
                "accounts": sim.accounts,
                "alipay_notification": alipay.form(),
                "wechat_headers": wechat_headers,
                "wechat_body": wechat.body,
            }),
        );
        assert_eq!(verdicts["alipay_verified"], true, "{verdicts}");
        assert_eq!(
            verdicts["wechat"]["resource"]["trade_state"], "SUCCESS",
            "{verdicts}"
        );
        assert_eq!(verdicts["wechat"]["resource"]["amount"]["total"], 999);
        assert_eq!(
            verdicts["wechat"]["resource"]["out_trade_no"],
            "pi_sdk_wechat"
        );
    }
}

mod connections {
    //! `portcullis_api::wallet_connections::connect`: a connector account
    //! becomes a provider client on the checked resolver; a private
    //! endpoint only with `--connectors-allow-private-endpoints`.

    use super::*;
    use portcullis_api::wallet_connections::{
        connect, ConnectError, ConnectOptions, WalletConnection,
    };
    use portcullis_domain::connector_accounts::{
        AccountChanges, ConnectorAccount, ConnectorType, Credentials, Endpoint,
    };
    use std::time::Duration;

    fn account(
        sim: &WalletSim,
        provider: &str,
        endpoint: &str,
    ) -> (ConnectorAccount, BTreeMap<String, String>) {
        let kind = ConnectorType::parse(provider).unwrap();
        let given: BTreeMap<String, String> = sim.accounts[provider]["credentials"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let credentials = Credentials::parse(kind, given).unwrap();
        let changes = AccountChanges {
            endpoint: Some(Endpoint::parse(endpoint).unwrap()),
            credentials: credentials.clone(),
            metadata: None,
            routing: Default::default(),
        };
        (
            ConnectorAccount::create(kind, &changes, false, now_s()).unwrap(),
            credentials.sealed,
        )
    }

    fn options(allow_private: bool) -> ConnectOptions<'static> {
        ConnectOptions {
            allow_private,
            call_timeout: Duration::from_secs(5),
            notify_base_url: "https://pay.example.com/",
        }
    }

    #[tokio::test]
    async fn accounts_connect_to_private_endpoints_only_when_allowed() {
        let sim = WalletSim::start(None, &[]);
        let (alipay, secrets) = account(&sim, "alipay", &sim.base_url);
        let refused = connect(&alipay, &secrets, &options(false)).await;
        assert!(matches!(refused, Err(ConnectError::Endpoint(_))));
        let localhost = sim.base_url.replace("127.0.0.1", "localhost");
        let (by_name, secrets) = account(&sim, "alipay", &localhost);
        assert!(matches!(
            connect(&by_name, &secrets, &options(false)).await,
            Err(ConnectError::Endpoint(_))
        ));

        let Ok(WalletConnection::Alipay(client)) = connect(&alipay, &secrets, &options(true)).await
        else {
            panic!("the Alipay account connects when private endpoints are allowed");
        };
        client.precreate(&order("pi_connected", 100)).await.unwrap();
        let trades = sim.trades().await;
        assert_eq!(
            trades[0]["notify_url"],
            format!("https://pay.example.com/notify/alipay/{}", alipay.id)
        );

        let (wechat, secrets) = account(&sim, "wechat_pay", &sim.base_url);
        let Ok(WalletConnection::WechatPay(client)) =
            connect(&wechat, &secrets, &options(true)).await
        else {
            panic!("the WeChat Pay account connects");
        };
        assert_eq!(
            client.query("pi_nothing").await.unwrap().state,
            portcullis_connectors::wallets::TradeState::NotFound
        );
    }
}

mod notices {
    //! `portcullis_connectors::wallets::notifications` on what the
    //! simulator really sends, faults included: forged, stale, replayed
    //! and other-account messages are refused; amount mismatches and stale
    //! states come back as they are, for the receiver to refuse.

    use super::*;
    use portcullis_connectors::wallets::alipay::AlipayCredentials;
    use portcullis_connectors::wallets::notifications::{
        alipay_notice, wechat_notice, NoticeError, ReplayGuard, WechatNotice,
    };
    use portcullis_connectors::wallets::wechat_pay::WechatPayCredentials;
    use portcullis_connectors::wallets::TradeState;
    use zeroize::Zeroizing;

    fn alipay_credentials(sim: &WalletSim) -> AlipayCredentials {
        let c = |name: &str| {
            sim.accounts["alipay"]["credentials"][name]
                .as_str()
                .unwrap()
                .to_owned()
        };
        AlipayCredentials {
            app_id: c("app_id"),
            private_key_pem: Zeroizing::new(c("private_key")),
            alipay_public_key_pem: c("alipay_public_key"),
        }
    }

    fn wechat_credentials(sim: &WalletSim) -> WechatPayCredentials {
        let c = |name: &str| {
            sim.accounts["wechat_pay"]["credentials"][name]
                .as_str()
                .unwrap()
                .to_owned()
        };
        WechatPayCredentials {
            mchid: c("mchid"),
            appid: c("appid"),
            private_key_pem: Zeroizing::new(c("private_key")),
            certificate_serial: c("certificate_serial"),
            api_v3_key: Zeroizing::new(c("api_v3_key")),
            platform_public_key_pem: c("platform_public_key"),
            platform_serial: c("platform_serial"),
            api_v2_key: None,
        }
    }

    #[tokio::test]
    async fn alipay_notices_are_verified_and_read() {
        let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
        let credentials = alipay_credentials(&sim);
        let forged = Receiver::start(0).await;
        paid_with_fault(&sim, &forged, "alipay", "pi_n_forged", "forged").await;
        let received = forged.wait_for(2).await;
        assert_eq!(
            alipay_notice(&credentials, &received[0].body),
            Err(NoticeError::Forged)
        );
        let genuine = alipay_notice(&credentials, &received[1].body).unwrap();
        assert_eq!(
            (
                genuine.out_trade_no.as_str(),
                genuine.status.state,
                genuine.status.amount_fen
            ),
            ("pi_n_forged", TradeState::Paid, Some(1000))
        );

        let mismatch = Receiver::start(0).await;
        paid_with_fault(
            &sim,
            &mismatch,
            "alipay",
            "pi_n_mismatch",
            "amount_mismatch",
        )
        .await;
        let received = mismatch.wait_for(1).await;
        assert_eq!(
            alipay_notice(&credentials, &received[0].body)
                .unwrap()
                .status
                .amount_fen,
            Some(1001)
        );

        let out_of_order = Receiver::start(0).await;
        paid_with_fault(&sim, &out_of_order, "alipay", "pi_n_order", "out_of_order").await;
        let received = out_of_order.wait_for(2).await;
        assert_eq!(
            alipay_notice(&credentials, &received[1].body)
                .unwrap()
                .status
                .state,
            TradeState::Waiting
        );

        let mut other = alipay_credentials(&sim);
        other.app_id = "2021000000000000".into();
        assert_eq!(
            alipay_notice(&other, &received[0].body),
            Err(NoticeError::OtherAccount)
        );
    }

    #[tokio::test]
    async fn wechat_notices_refuse_forged_stale_and_replayed_messages() {
        let sim = WalletSim::start(None, &["--notify-speedup", SPEEDUP]);
        let credentials = wechat_credentials(&sim);
        let guard = ReplayGuard::default();
        let read = |r: &wallets::Received, guard: &ReplayGuard| {
            wechat_notice(&credentials, &r.wechat_headers(), &r.body, now_s(), guard)
        };

        let stale = Receiver::start(0).await;
        paid_with_fault(&sim, &stale, "wechat_pay", "pi_n_stale", "stale").await;
        let received = stale.wait_for(2).await;
        assert_eq!(read(&received[0], &guard), Err(NoticeError::Stale));
        let Ok(WechatNotice::Payment(paid)) = read(&received[1], &guard) else {
            panic!("the genuine one is read")
        };
        assert_eq!(
            (
                paid.status.state,
                paid.status.amount_fen,
                paid.currency.as_str()
            ),
            (TradeState::Paid, Some(1000), "CNY")
        );

        let forged = Receiver::start(0).await;
        paid_with_fault(&sim, &forged, "wechat_pay", "pi_n_forged_w", "forged").await;
        let received = forged.wait_for(2).await;
        assert_eq!(read(&received[0], &guard), Err(NoticeError::Forged));
        assert!(read(&received[1], &guard).is_ok());

        let replayed = Receiver::start(0).await;
        paid_with_fault(&sim, &replayed, "wechat_pay", "pi_n_replayed", "replayed").await;
        let received = replayed.wait_for(2).await;
        assert!(read(&received[0], &guard).is_ok());
        assert!(matches!(
            read(&received[1], &guard),
            Err(NoticeError::Replayed(_))
        ));

        let duplicate = Receiver::start(0).await;
        paid_with_fault(
            &sim,
            &duplicate,
            "wechat_pay",
            "pi_n_duplicate",
            "duplicate",
        )
        .await;
        let received = duplicate.wait_for(2).await;
        assert!(
            read(&received[0], &guard).is_ok() && read(&received[1], &guard).is_ok(),
            "two deliveries, two nonces: idempotency is the receiver's"
        );

        let refunded = Receiver::start(0).await;
        paid_with_fault(&sim, &refunded, "wechat_pay", "pi_n_refund", "none").await;
        refunded.wait_for(1).await;
        let refund = portcullis_wallets::wechat_pay_orders::refund(
            "pi_n_refund",
            "re_n_1",
            400,
            1000,
            &refunded.wechat_url(),
        )
        .unwrap();
        let answer = sim
            .wechat()
            .call(
                "POST",
                portcullis_wallets::wechat_pay_orders::REFUNDS_PATH,
                &refund.to_string(),
            )
            .await;
        assert_eq!(answer.status, 200);
        let received = refunded.wait_for(2).await;
        assert_eq!(
            read(&received[1], &guard),
            Ok(WechatNotice::Refund {
                out_refund_no: "re_n_1".into(),
                succeeded: true,
                amount_fen: 400
            })
        );
    }
}
