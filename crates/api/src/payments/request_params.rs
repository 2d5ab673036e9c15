//! What each payments operation accepts (see `routes::params`): the
//! declarations `/openapi.json` renders and `wire::Params` holds the
//! handlers to.

use crate::routes::params::{
    boolean, integer, list, object, one_of, string, Param, EXPAND, METADATA,
};

const CAPTURE_METHODS: &[&str] = &["automatic", "automatic_async", "manual"];

/// `POST /v1/payment_methods`' card (and `payment_method_data[card]`'s):
/// the plain fields, or `encrypted` (a JWE of them, client-side
/// encryption) alone.
const METHOD_CARD: &[Param] = &[
    string("number", 30),
    integer("exp_month"),
    integer("exp_year"),
    string("cvc", 8),
    string("encrypted", crate::client_encryption::ENCRYPTED_CHARS_MAX),
];
const BILLING_ADDRESS: &[Param] = &[
    string("city", 200),
    string("country", 200),
    string("line1", 200),
    string("line2", 200),
    string("postal_code", 200),
    string("state", 200),
];
pub const BILLING_DETAILS: Param = object(
    "billing_details",
    &[
        object("address", BILLING_ADDRESS),
        string("email", 512),
        string("name", 200),
        string("phone", 64),
    ],
);
/// A payment code the merchant's device scanned.
const AUTH_CODE: &[Param] = &[string("auth_code", 32)];
/// `card` goes with `type=card`; the wallets take no data of their own.
const PAYMENT_METHOD_DATA: Param = object(
    "payment_method_data",
    &[
        one_of(
            "type",
            &[
                "card",
                "alipay",
                "wechat_pay",
                "wallet_code",
                "wallet_qr",
                "customer_balance",
            ],
        )
        .required(),
        object("card", METHOD_CARD),
        object("alipay", AUTH_CODE),
        object("wechat_pay", AUTH_CODE),
        object("wallet_code", AUTH_CODE),
        BILLING_DETAILS,
    ],
);
const EXPIRES_AFTER_SECONDS: Param = integer("expires_after_seconds");
/// The wallets' options (`payments::wallets::options_from`).
const PAYMENT_METHOD_OPTIONS: Param = object(
    "payment_method_options",
    &[
        object(
            "alipay",
            &[
                one_of("channel", crate::payments::wallets::ALIPAY_CHANNELS),
                EXPIRES_AFTER_SECONDS,
            ],
        ),
        object(
            "wechat_pay",
            &[
                one_of("client", crate::payments::wallets::WECHAT_CLIENTS),
                string("openid", 128),
                EXPIRES_AFTER_SECONDS,
            ],
        ),
    ],
);

/// The fields create and update share (`intents::changes_from`), then
/// the operation's own.
macro_rules! intent_fields {
    ($($own:expr),* $(,)?) => {
        &[
            one_of("capture_method", CAPTURE_METHODS),
            string("customer", 255),
            string("description", 1000),
            METADATA,
            string("receipt_email", 512),
            string("statement_descriptor_suffix", 22),
            string("setup_future_usage", 20),
            $($own,)*
        ]
    };
}

pub const INTENT_CREATE: &[Param] = intent_fields![
    integer("amount").required(),
    string("currency", 3).required(),
    list("payment_method_types"),
    one_of("confirmation_method", &["automatic", "manual"]),
    object(
        "automatic_payment_methods",
        &[boolean("enabled"), string("allow_redirects", 10)],
    ),
    boolean("confirm"),
    one_of("purpose", &["customer_balance_top_up"]),
    string("payment_method", 255),
    PAYMENT_METHOD_DATA,
    PAYMENT_METHOD_OPTIONS,
    string("return_url", 2048),
    boolean("off_session"),
    string("customer_ip", 64),
    EXPAND,
];
pub const INTENT_UPDATE: &[Param] = intent_fields![
    integer("amount"),
    string("currency", 3),
    string("payment_method", 255),
    list("payment_method_types"),
    EXPAND,
];
pub const INTENT_CONFIRM: &[Param] = &[
    string("client_secret", 255),
    string("payment_method", 255),
    PAYMENT_METHOD_DATA,
    PAYMENT_METHOD_OPTIONS,
    string("return_url", 2048),
    boolean("off_session"),
    string("customer_ip", 64),
    string("receipt_email", 512),
    one_of("capture_method", CAPTURE_METHODS),
    EXPAND,
];
pub const INTENT_RETRIEVE: &[Param] = &[string("client_secret", 255), EXPAND];
pub const INTENT_CAPTURE: &[Param] = &[integer("amount_to_capture"), EXPAND];
pub const INTENT_CANCEL: &[Param] = &[
    one_of(
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    ),
    EXPAND,
];
pub const INTENT_LIST: &[Param] = crate::routes::params::list_params![
    expand;
    string("customer", 255),
];

pub const METHOD_CREATE: &[Param] = &[
    one_of("type", &["card", "alipay", "wechat_pay"]).required(),
    object("card", METHOD_CARD),
    object("alipay", &[]),
    object("wechat_pay", &[]),
    BILLING_DETAILS,
    METADATA,
];
pub const METHOD_UPDATE: &[Param] = &[
    BILLING_DETAILS,
    METADATA,
    object("card", &[integer("exp_month"), integer("exp_year")]),
];
pub const METHOD_ATTACH: &[Param] = &[string("customer", 255).required()];
pub const METHOD_LIST: &[Param] =
    crate::routes::params::list_params![string("customer", 255), string("type", 20),];
pub const CUSTOMER_METHOD_LIST: &[Param] = crate::routes::params::list_params![string("type", 20),];
