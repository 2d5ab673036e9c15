//! The adapter between a payment and `portcullis-routing`: the merchant's
//! card connector accounts (in the caller's mode) and routing rules are
//! loaded, the payment's attributes gathered (USD by the rate table, funding
//! and country by the BIN table, as the risk check does), and the pure
//! decision asked for with a random roll.

use super::rules::stored_rules;
use crate::connector_accounts::StoredAccount;
use crate::error::ApiResult;
use crate::risk::docs;
use crate::state::AppState;
use portcullis_domain::cards::CardBrand;
use portcullis_domain::money::Currency;
use portcullis_routing::{Candidate, Decision, Payment, StoredRule};
use portcullis_store::{ListQuery, PageCursor, Scope, Table};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most connector accounts routing considers per merchant and mode.
pub const ACCOUNTS_MAX: usize = 100;

/// A merchant's routing inputs, as loaded for one decision.
pub struct RoutingInputs {
    pub rules: Vec<StoredRule>,
    /// The card connector accounts of the scope this build can pay through
    /// (not deleted).
    pub accounts: Vec<StoredAccount>,
}

/// The routing inputs of `scope`, from the cache while fresh.
pub async fn load(state: &AppState, scope: &Scope) -> ApiResult<Arc<RoutingInputs>> {
    state
        .routing_cache
        .get_or_read(scope, read(state, scope))
        .await
}

async fn read(state: &AppState, scope: &Scope) -> ApiResult<RoutingInputs> {
    let query = ListQuery {
        scope: scope.clone(),
        filters: vec![],
        one_of: vec![],
        created: Default::default(),
        cursor: PageCursor::Newest,
        limit: ACCOUNTS_MAX,
    };
    let page = state.store.list(Table::ConnectorAccounts, &query).await?;
    let accounts = page
        .docs
        .iter()
        .map(docs::decode::<StoredAccount>)
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .filter(|s| !s.account.deleted && s.account.kind.takes_cards())
        // Accounts this build cannot pay through are no candidates.
        .filter(super::connectors::usable)
        .collect();
    Ok(RoutingInputs {
        rules: stored_rules(state, scope).await?,
        accounts,
    })
}

/// What the caller knows of a payment (the rest is looked up).
pub struct PaymentFacts<'a> {
    pub amount_minor: i64,
    pub currency: Currency,
    pub card_brand: CardBrand,
    /// First six digits, for the BIN table.
    pub bin: Option<&'a str>,
    /// Funding and country given outright (the dry run), else the BIN's.
    pub card_funding: Option<String>,
    pub card_country: Option<String>,
    pub payment_method_type: String,
    pub customer: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The routing attributes of a payment in `livemode`.
pub fn payment_of(state: &AppState, livemode: bool, facts: PaymentFacts<'_>) -> Payment {
    let bin_row = facts.bin.and_then(|bin| state.risk.bin_info(livemode, bin));
    let amount_in_usd_cents = state.risk.rates.to_usd_cents(
        facts.amount_minor,
        facts.currency.as_str(),
        facts.currency.exponent(),
    );
    Payment {
        amount_minor: facts.amount_minor,
        currency: facts.currency,
        amount_in_usd_cents,
        card_brand: facts.card_brand,
        card_funding: facts
            .card_funding
            .or_else(|| bin_row.map(|r| r.funding.clone())),
        card_country: facts
            .card_country
            .or_else(|| bin_row.and_then(|r| r.country.clone())),
        payment_method_type: facts.payment_method_type,
        customer: facts.customer,
        metadata: facts.metadata,
    }
}

/// The candidates: each account with whether it may take `payment`. A
/// live payment is never served by the sandbox.
pub fn candidates(inputs: &RoutingInputs, payment: &Payment, livemode: bool) -> Vec<Candidate> {
    inputs
        .accounts
        .iter()
        .filter_map(|stored| {
            let account = &stored.account;
            let routing = account.routing.as_ref()?;
            let mode_ok = !livemode || account.kind.is_real_institution();
            Some(Candidate {
                id: account.id.clone(),
                priority: routing.priority,
                created: account.created,
                serves: mode_ok && routing.serves(payment.card_brand, payment.currency),
            })
        })
        .collect()
}

/// Decides for `payment` (a split draws its roll here).
pub fn decide(inputs: &RoutingInputs, payment: &Payment, livemode: bool) -> Decision {
    let roll = rand::thread_rng().gen_range(0..100u8);
    portcullis_routing::decide(
        &inputs.rules,
        &candidates(inputs, payment, livemode),
        payment,
        roll,
    )
}
