//! The Checkout Sessions of the hosted top-up page (`/account/top_up`):
//! a session for the signed-in customer whose PaymentIntent has
//! `purpose=customer_balance_top_up`, so the checkout page's card form
//! (client-side encryption, 3-D Secure), Alipay and WeChat Pay pay it as
//! any session, and the capture credits the wallet
//! (`customer_balance::payments`). The wallet's limits are checked here,
//! before the customer is sent to pay, and again when the intent is
//! confirmed.

use super::request::domain_error;
use crate::error::ApiResult;
use crate::payments::records;
use crate::payments::wallets::{account, Provider};
use crate::state::AppState;
use portcullis_domain::checkout::{
    CheckoutMethod, CheckoutRequest, CheckoutSession, LineItemRequest, Payer, WALLET_CURRENCY,
};
use portcullis_domain::ids::CustomerId;
use portcullis_domain::money::Currency;
use portcullis_domain::payment_intents::IntentPurpose;
use portcullis_store::{Scope, WriteSet};

/// What the top-up page asks for.
pub struct TopUp<'a> {
    pub customer: &'a CustomerId,
    pub amount_minor: i64,
    pub currency: Currency,
    /// The line item's name, in the page's language.
    pub label: &'a str,
    /// `en` or `zh-CN`.
    pub locale: &'a str,
}

/// Opens the top-up's session, or refuses it (a limit it would breach,
/// an amount out of range) before any money moves.
pub async fn open(
    state: &AppState,
    scope: &Scope,
    top_up: &TopUp<'_>,
) -> ApiResult<CheckoutSession> {
    let held =
        crate::customer_balance::held_minor(state, scope, top_up.customer, top_up.currency).await?;
    crate::customer_balance::check_credit(
        state,
        scope,
        top_up.customer,
        top_up.currency,
        held,
        top_up.amount_minor,
    )
    .await?;
    let base = state.base_url();
    let request = CheckoutRequest {
        line_items: vec![LineItemRequest {
            name: top_up.label.to_owned(),
            description: None,
            currency: top_up.currency,
            unit_amount_minor: top_up.amount_minor,
            quantity: 1,
        }],
        success_url: format!("{base}/account?done=topped_up"),
        cancel_url: Some(format!("{base}/account/top_up")),
        payer: Payer::Customer(top_up.customer.to_string()),
        client_reference_id: None,
        methods: methods(state, scope, top_up.currency).await,
        locale: Some(top_up.locale.to_owned()),
        expires_at: None,
        metadata: Default::default(),
    };
    let mut session =
        CheckoutSession::open(request, scope.livemode, state.now()).map_err(domain_error)?;
    session.purpose = Some(IntentPurpose::CustomerBalanceTopUp);
    let mut writes = WriteSet::new();
    writes.push(records::insert(scope, &session)?);
    state.store.commit(writes).await?;
    Ok(session)
}

/// Cards always; Alipay and WeChat Pay for CNY where the merchant has a
/// connector account of that wallet in this mode.
async fn methods(state: &AppState, scope: &Scope, currency: Currency) -> Vec<CheckoutMethod> {
    let mut methods = vec![CheckoutMethod::Card];
    if currency.as_str() != WALLET_CURRENCY {
        return methods;
    }
    for (provider, method) in [
        (Provider::Alipay, CheckoutMethod::Alipay),
        (Provider::WechatPay, CheckoutMethod::WechatPay),
    ] {
        if account::choose(state, scope, provider).await.is_ok() {
            methods.push(method);
        }
    }
    methods
}
