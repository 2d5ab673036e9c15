//! Card data at the edge: parsing `card[…]` parameters into domain values,
//! sealing the number in the vault, and opening it again for a connector.
//! The number in clear lives only in these functions' locals and in the
//! connector call; the CVC only in [`crate::payments::CvcCache`].

use crate::error::{ApiError, ApiResult, ErrorType};
use crate::state::AppState;
use crate::wire::Params;
use axum::http::StatusCode;
use portcullis_connectors::CvcCheck;
use portcullis_domain::cards::CardFunding;
use portcullis_domain::cards::{CardError, CardExpiry, CardNumber, Cvc};
use portcullis_domain::payment_methods::CardDetails;
use portcullis_store::{Scope, SqlValue, Table, WriteOp};
use serde_json::json;

/// A card as a request gives it.
pub struct CardInput {
    pub number: CardNumber,
    pub expiry: CardExpiry,
    pub cvc: Option<Cvc>,
}

/// 402 `card_error` naming `card[field]`, as Stripe answers bad card data.
pub fn card_error(err: CardError, prefix: &str) -> ApiError {
    let message = match err {
        CardError::InvalidNumber | CardError::IncorrectNumber => "Your card number is incorrect.",
        CardError::InvalidExpiryMonth => "Your card's expiration month is invalid.",
        CardError::InvalidExpiryYear => "Your card's expiration year is invalid.",
        CardError::InvalidCvc => "Your card's security code is invalid.",
    };
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        ErrorType::Card,
        Some(err.code()),
        message,
    )
    .with_param(format!("{prefix}[{}]", err.param()))
}

/// Reads `number`, `exp_month`, `exp_year` and `cvc` from a `card` hash.
pub fn parse_card(card: &mut Params, now_s: i64) -> ApiResult<CardInput> {
    let prefix = card.path().to_owned();
    let number_text = card.required_string("number", 30)?;
    let number = CardNumber::parse(&number_text).map_err(|e| card_error(e, &prefix))?;
    let month = card
        .integer("exp_month")?
        .ok_or_else(|| ApiError::missing_parameter(&card.name_of("exp_month")))?;
    let year = card
        .integer("exp_year")?
        .ok_or_else(|| ApiError::missing_parameter(&card.name_of("exp_year")))?;
    let (today_year, today_month) = portcullis_domain::year_month_of(now_s);
    let expiry = CardExpiry::parse(month, year, today_year, today_month)
        .map_err(|e| card_error(e, &prefix))?;
    let cvc = match card.string("cvc", 8)? {
        Some(text) => Some(Cvc::parse(&text, number.brand()).map_err(|e| card_error(e, &prefix))?),
        None => None,
    };
    Ok(CardInput {
        number,
        expiry,
        cvc,
    })
}

/// Seals `number` under `record_id` and returns the displayable details
/// and the write that stores the ciphertext.
pub fn seal(
    state: &AppState,
    scope: &Scope,
    record_id: &str,
    input: &CardInput,
    created: i64,
) -> ApiResult<(CardDetails, WriteOp)> {
    let sealed = state
        .vault
        .seal(record_id, &input.number)
        .map_err(|e| ApiError::internal(&e))?;
    let body = sealed_body(&sealed);
    let write = WriteOp::Insert {
        table: Table::VaultCards,
        scope: scope.clone(),
        id: record_id.to_owned(),
        created,
        columns: vec![("kek_id", SqlValue::Text(sealed.kek_id.clone()))],
        body,
    };
    Ok((details_of(state, scope, input), write))
}

/// What may be shown of the card `input`: brand, last four, BIN facts,
/// expiry and the merchant-keyed fingerprint.
pub fn details_of(state: &AppState, scope: &Scope, input: &CardInput) -> CardDetails {
    let bin = input.number.bin();
    let known = state.risk.bin_info(scope.livemode, &bin);
    CardDetails {
        brand: input.number.brand(),
        last4: input.number.last4(),
        funding: known.map_or(CardFunding::Unknown, |row| funding_of(&row.funding)),
        country: known.and_then(|row| row.country.clone()),
        bin,
        exp_month: input.expiry.month(),
        exp_year: input.expiry.year(),
        fingerprint: state
            .vault
            .fingerprint(scope.merchant_id.as_str(), &input.number),
        // Nobody has checked the CVC yet: the acquirer's answer shows on
        // the charge (`payment_method_details.card.checks`).
        cvc_check: Some(CvcCheck::Unavailable.as_str().to_owned()),
    }
}

/// A BIN table's funding text as the domain's funding.
fn funding_of(text: &str) -> CardFunding {
    match text {
        "credit" => CardFunding::Credit,
        "debit" => CardFunding::Debit,
        "prepaid" => CardFunding::Prepaid,
        _ => CardFunding::Unknown,
    }
}

/// The card number of `method`, for a connector call: a test card's from
/// the public table (test mode only), any other opened from the vault.
pub async fn open(
    state: &AppState,
    scope: &Scope,
    method: &portcullis_domain::payment_methods::PaymentMethod,
) -> ApiResult<CardNumber> {
    let test_number = method
        .test_card
        .as_deref()
        .filter(|_| !scope.livemode)
        .and_then(portcullis_domain::sandbox_cards::test_payment_method_number);
    match test_number {
        Some(number) => CardNumber::parse(number).map_err(|e| ApiError::internal(&e)),
        None => open_sealed(state, scope, &method.id).await,
    }
}

/// The card number sealed under `record_id`.
async fn open_sealed(state: &AppState, scope: &Scope, record_id: &str) -> ApiResult<CardNumber> {
    let doc = state
        .store
        .get(Table::VaultCards, scope, record_id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a payment method's vault record is missing"))?;
    let sealed = sealed_of(&doc.body)?;
    state
        .vault
        .open(record_id, &sealed)
        .map_err(|err| match err {
            portcullis_vault::VaultError::UnknownKek(kek_id) => keyring_lacks_key(&kek_id),
            other => ApiError::internal(&other),
        })
}

/// 503 for a card sealed under a key-encrypting key this instance's keyring
/// does not hold: every instance on one database must share one keyring.
fn keyring_lacks_key(kek_id: &str) -> ApiError {
    tracing::error!(
        kek_id,
        "a saved card is sealed under a key-encrypting key this instance's vault keyring lacks; \
         every instance on one database must use the same keyring (vault_keyring_file / PORTCULLIS_VAULT_KEYRING_FILE)"
    );
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorType::Api,
        None,
        "This server cannot open the saved card: its vault keyring lacks the key that sealed it \
         (the instances of this gateway do not share one keyring). Nothing was charged.",
    )
}

/// How a vault record's body stores a sealed card: hex ciphertexts only.
pub fn sealed_body(sealed: &portcullis_vault::SealedCard) -> String {
    json!({
        "kek_id": sealed.kek_id,
        "wrapped_dek": hex::encode(&sealed.wrapped_dek),
        "ciphertext": hex::encode(&sealed.ciphertext),
    })
    .to_string()
}

/// A vault record's body read back.
pub fn sealed_of(body: &str) -> ApiResult<portcullis_vault::SealedCard> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ApiError::internal(&e))?;
    let bytes = |field: &str| {
        hex::decode(value[field].as_str().unwrap_or_default()).map_err(|e| ApiError::internal(&e))
    };
    Ok(portcullis_vault::SealedCard {
        kek_id: value["kek_id"].as_str().unwrap_or_default().to_owned(),
        wrapped_dek: bytes("wrapped_dek")?,
        ciphertext: bytes("ciphertext")?,
    })
}
