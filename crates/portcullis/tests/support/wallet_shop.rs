//! A merchant that takes Alipay and WeChat Pay through a wallet simulator:
//! its gateway may reach private endpoints (the simulator listens on
//! loopback) and has one connector account per provider, made from the
//! simulator's printed credentials.
#![allow(dead_code)]

use super::{create_merchant, Api, Backend, Merchant, TestDatabase, TestServer};

/// The setting that lets connector accounts point at the loopback simulator.
pub const ALLOW_PRIVATE: (&str, &str) = ("PORTCULLIS_CONNECTORS_ALLOW_PRIVATE_ENDPOINTS", "true");

pub struct WalletShop {
    pub db: TestDatabase,
    pub server: TestServer,
    pub merchant: Merchant,
    pub api: Api,
}

impl WalletShop {
    /// A new database, merchant "Tea House" and gateway, with a connector
    /// account per form of `account_forms` (`WalletSim::account_form`).
    pub async fn open(backend: Backend, account_forms: &[Vec<(String, String)>]) -> WalletShop {
        let db = TestDatabase::new(backend).await;
        let merchant = create_merchant(&db, "Tea House");
        let server = TestServer::start_with_env(&db, &[], &[ALLOW_PRIVATE]);
        let api = Api::new(&server, &merchant.secret_key);
        for form in account_forms {
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let created = api.post("/v1/connector_accounts", &form).await;
            assert_eq!(created.status, 200, "{}", created.text);
        }
        WalletShop {
            db,
            server,
            merchant,
            api,
        }
    }
}
