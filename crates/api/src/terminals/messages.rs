//! One message from a terminal, start to answer: decode, find the
//! terminal (03 if unknown, revoked, or DE 42 is not its card acceptor id),
//! check the MAC (63), read the fields (30 when malformed), carry it out,
//! and answer with DE 11, 37, 41 and 42 echoed and the answer MACed.
//! A message whose MTI and STAN cannot be read is not answered: the
//! connection is closed.

use super::completions::{self, CompletionRequest};
use super::payments::{self, Original, Purchase};
use super::refunds::{self, RefundRequest};
use super::registry::{self, Terminal};
use super::transactions::MessageKey;
use crate::payments::cards::CardInput;
use crate::state::AppState;
use portcullis_domain::cards::{CardExpiry, CardNumber};
use portcullis_domain::money::{Amount, Currency};
use portcullis_iso8583::fields::{self, mti, network, processing, response};
use portcullis_iso8583::{decode, encode, mac, MacKey, Message, Profile, Track2};

/// What to do after a message.
pub enum Reply {
    /// Send these bytes (unframed).
    Send(Vec<u8>),
    /// Send nothing now: the outcome is not known yet, and the terminal's
    /// timeout makes it reverse or repeat.
    Silent,
    /// Close the connection: the message was not readable as ISO 8583.
    Close,
}

/// Request fields echoed in every answer (never card data, PIN or MAC).
const ECHOED: &[u8] = &[
    fields::PROCESSING_CODE,
    fields::AMOUNT,
    fields::TRANSMISSION_DATE_TIME,
    fields::STAN,
    fields::LOCAL_TIME,
    fields::LOCAL_DATE,
    fields::RRN,
    fields::TERMINAL_ID,
    fields::CARD_ACCEPTOR_ID,
    fields::CURRENCY,
    fields::NETWORK_MANAGEMENT_CODE,
    fields::ORIGINAL_DATA,
];

/// Handles one unframed message.
pub async fn handle(state: &AppState, raw: &[u8], profile: Profile) -> Reply {
    let message = match decode(raw, profile) {
        Ok(message) => message,
        Err(err) => {
            let problem = err.to_string();
            return match err.partial {
                Some(partial) if readable(&partial) => {
                    tracing::info!(error = %problem, "a terminal message is malformed; answered 30");
                    Reply::Send(encode(&answer(&partial, response::FORMAT_ERROR), profile))
                }
                _ => Reply::Close,
            };
        }
    };
    if !readable(&message) {
        return Reply::Close;
    }
    let terminal = match authenticate(state, &message).await {
        Ok(terminal) => terminal,
        Err(code) => return Reply::Send(encode(&answer(&message, code), profile)),
    };
    let key = match terminal.mac_key(&state.vault) {
        Ok(key) => key,
        Err(err) => {
            tracing::error!(error = %err.message, "a terminal's MAC key cannot be opened");
            return Reply::Close;
        }
    };
    if mac::verify(raw, &message, profile, &key).is_err() {
        tracing::info!(terminal = %terminal.terminal_id, "a terminal message's MAC is wrong or missing; answered 63");
        return signed(&message, response::SECURITY_VIOLATION, None, profile, &key);
    }
    let outcome = carry_out(state, &terminal, &message).await;
    match outcome {
        Ok(Some((code, authorization))) => {
            signed(&message, code, authorization.as_deref(), profile, &key)
        }
        Ok(None) => Reply::Silent,
        Err(err) => {
            tracing::error!(error = %err.message, terminal = %terminal.terminal_id, "a terminal message failed; not answered");
            Reply::Silent
        }
    }
}

/// True when the MTI is a request's and the STAN is present.
fn readable(message: &Message) -> bool {
    message.mti().response().is_some() && message.text(fields::STAN).is_some()
}

/// The registered, unrevoked terminal that sent `message`, or the code that
/// refuses it.
async fn authenticate(state: &AppState, message: &Message) -> Result<Terminal, &'static str> {
    let Some(terminal_id) = message.text(fields::TERMINAL_ID) else {
        return Err(response::FORMAT_ERROR);
    };
    let found = match registry::find(&state.store, terminal_id).await {
        Ok(found) => found,
        Err(err) => {
            tracing::error!(error = %err.message, "terminals cannot be read");
            return Err(response::SYSTEM_MALFUNCTION);
        }
    };
    match found {
        Some((_, terminal))
            if terminal.revoked_at.is_none()
                && message.text(fields::CARD_ACCEPTOR_ID) == Some(&terminal.card_acceptor_id) =>
        {
            Ok(terminal)
        }
        _ => Err(response::INVALID_MERCHANT),
    }
}

type Outcome = crate::error::ApiResult<Option<(&'static str, Option<String>)>>;

/// Carries out an authenticated message; the answer's DE 39 and DE 38.
async fn carry_out(state: &AppState, terminal: &Terminal, message: &Message) -> Outcome {
    let kind = message.mti();
    if kind == mti::NETWORK_MANAGEMENT {
        let known = matches!(
            message.text(fields::NETWORK_MANAGEMENT_CODE),
            Some(network::SIGN_ON | network::SIGN_OFF | network::ECHO)
        );
        let code = if known {
            response::APPROVED
        } else {
            response::FORMAT_ERROR
        };
        return Ok(Some((code, None)));
    }
    if kind == mti::FINANCIAL && message.text(fields::PROCESSING_CODE) == Some(processing::REFUND) {
        let request = match refund_of(state, terminal, message) {
            Ok(request) => request,
            Err(code) => return Ok(Some((code, None))),
        };
        let answered = refunds::refund(state, terminal, request).await?;
        return Ok(answered.map(|a| (static_code(&a.response_code), a.authorization_code)));
    }
    if kind == mti::COMPLETION_ADVICE {
        let request = match completion_of(terminal, message) {
            Ok(request) => request,
            Err(code) => return Ok(Some((code, None))),
        };
        let answered = completions::complete(state, terminal, request).await?;
        return Ok(answered.map(|a| (static_code(&a.response_code), a.authorization_code)));
    }
    if kind == mti::AUTHORIZATION || kind == mti::FINANCIAL {
        let purchase = match purchase_of(state, terminal, message) {
            Ok(purchase) => purchase,
            Err(code) => return Ok(Some((code, None))),
        };
        let answered = payments::pay(state, terminal, purchase).await?;
        return Ok(answered.map(|a| (static_code(&a.response_code), a.authorization_code)));
    }
    if kind == mti::REVERSAL {
        let Some(original) = original_of(terminal, message) else {
            return Ok(Some((response::FORMAT_ERROR, None)));
        };
        let code = payments::reverse(state, terminal, original).await?;
        return Ok(code.map(|code| (code, None)));
    }
    Ok(Some((response::INVALID_TRANSACTION, None)))
}

/// The stored DE 39 as one of the codes the gateway answers.
fn static_code(code: &str) -> &'static str {
    const CODES: &[&str] = &[
        response::APPROVED,
        response::DO_NOT_HONOUR,
        response::INVALID_CARD_NUMBER,
        response::INVALID_TRANSACTION,
        response::INVALID_AMOUNT,
        response::NO_ORIGINAL,
        response::FORMAT_ERROR,
        response::LOST_CARD,
        response::STOLEN_CARD,
        response::INSUFFICIENT_FUNDS,
        response::EXPIRED_CARD,
        response::INCORRECT_PIN,
        response::NOT_PERMITTED_TO_CARDHOLDER,
        response::SUSPECTED_FRAUD,
        response::EXCEEDS_WITHDRAWAL_LIMIT,
        response::RESTRICTED_CARD,
        response::CVV2_FAILURE,
        response::AUTHENTICATION_REQUIRED,
        response::ISSUER_UNAVAILABLE,
        response::SYSTEM_MALFUNCTION,
    ];
    CODES
        .iter()
        .find(|known| **known == code)
        .copied()
        .unwrap_or(response::DO_NOT_HONOUR)
}

/// The key of `message`: its terminal, STAN and DE 7.
fn key_of(terminal: &Terminal, message: &Message) -> Option<MessageKey> {
    Some(MessageKey {
        terminal_id: terminal.terminal_id.clone(),
        stan: message.text(fields::STAN)?.to_owned(),
        transmission: message.text(fields::TRANSMISSION_DATE_TIME)?.to_owned(),
    })
}

/// A 0100/0200 read, or the code that refuses it: 30 for a missing or
/// malformed field, 12 for a processing code other than a purchase, 13
/// for an amount out of range, 14 for a card number that fails its check
/// digit, 54 for an expired card.
fn purchase_of(
    state: &AppState,
    terminal: &Terminal,
    message: &Message,
) -> Result<Purchase, &'static str> {
    let key = key_of(terminal, message).ok_or(response::FORMAT_ERROR)?;
    match message.text(fields::PROCESSING_CODE) {
        Some(processing::PURCHASE) => {}
        Some(_) => return Err(response::INVALID_TRANSACTION),
        None => return Err(response::FORMAT_ERROR),
    }
    let (amount, currency) = amount_of(message)?;
    let card = card_of(state, message)?;
    Ok(Purchase {
        key,
        mti: message.mti().as_str().to_owned(),
        amount,
        currency,
        card,
    })
}

/// DE 4 and DE 49: 30 when missing or malformed, 13 for an amount out of
/// range.
fn amount_of(message: &Message) -> Result<(Amount, Currency), &'static str> {
    let amount_minor = message
        .text(fields::AMOUNT)
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or(response::FORMAT_ERROR)?;
    let amount = Amount::parse_minor(amount_minor).map_err(|_| response::INVALID_AMOUNT)?;
    let currency = message
        .text(fields::CURRENCY)
        .and_then(|text| text.parse::<u16>().ok())
        .and_then(Currency::from_numeric)
        .ok_or(response::FORMAT_ERROR)?;
    Ok((amount, currency))
}

/// A 0220 completion read, or the code that refuses it: 25 when DE 90 is
/// missing or names no 0100, 12 for a processing code other than 000000,
/// 30 for a missing or malformed field.
fn completion_of(
    terminal: &Terminal,
    message: &Message,
) -> Result<CompletionRequest, &'static str> {
    let key = key_of(terminal, message).ok_or(response::FORMAT_ERROR)?;
    match message.text(fields::PROCESSING_CODE) {
        Some(processing::PURCHASE) => {}
        Some(_) => return Err(response::INVALID_TRANSACTION),
        None => return Err(response::FORMAT_ERROR),
    }
    let (amount, currency) = amount_of(message)?;
    let original = original_named(terminal, message, "0100")?;
    Ok(CompletionRequest {
        key,
        original,
        amount,
        currency,
    })
}

/// The message DE 90 names (its MTI must be one of `mtis`): 25 when DE 90
/// is missing or names another MTI, 30 when it is malformed.
fn original_named(
    terminal: &Terminal,
    message: &Message,
    mtis: &str,
) -> Result<MessageKey, &'static str> {
    let data = message
        .text(fields::ORIGINAL_DATA)
        .ok_or(response::NO_ORIGINAL)?;
    let original = portcullis_connectors::iso8583::messages::OriginalData::parse(data)
        .ok_or(response::FORMAT_ERROR)?;
    if !mtis.split(',').any(|mti| mti == original.mti) {
        return Err(response::NO_ORIGINAL);
    }
    Ok(MessageKey {
        terminal_id: terminal.terminal_id.clone(),
        stan: original.stan,
        transmission: original.transmission,
    })
}

/// A 0200 refund (DE 3 200000) read, or the code that refuses it: 25 when
/// DE 90 is missing or names no 0100/0200 (a refund names what it
/// refunds), 30 for a missing or malformed field; the card as for a
/// purchase.
fn refund_of(
    state: &AppState,
    terminal: &Terminal,
    message: &Message,
) -> Result<RefundRequest, &'static str> {
    let key = key_of(terminal, message).ok_or(response::FORMAT_ERROR)?;
    let (amount, currency) = amount_of(message)?;
    let original = original_named(terminal, message, "0100,0200")?;
    let card = card_of(state, message)?;
    Ok(RefundRequest {
        key,
        original,
        amount,
        currency,
        card: card.number,
    })
}

/// The card from track 2 (DE 35), else DE 2 and DE 14. The PIN block (DE
/// 52) is not read: it is never stored or logged.
fn card_of(state: &AppState, message: &Message) -> Result<CardInput, &'static str> {
    let (number, year, month) = match message.get(fields::TRACK2) {
        Some(track) => {
            let track = Track2::parse(track).map_err(|_| response::FORMAT_ERROR)?;
            let (year, month) = track.expiry_year_month();
            let number =
                CardNumber::parse(track.pan()).map_err(|_| response::INVALID_CARD_NUMBER)?;
            (number, year, month)
        }
        None => {
            let pan = message.text(fields::PAN).ok_or(response::FORMAT_ERROR)?;
            let expiry = message
                .text(fields::EXPIRY)
                .filter(|text| text.len() == 4)
                .ok_or(response::FORMAT_ERROR)?;
            let year = expiry[..2].parse().map_err(|_| response::FORMAT_ERROR)?;
            let month = expiry[2..].parse().map_err(|_| response::FORMAT_ERROR)?;
            let number = CardNumber::parse(pan).map_err(|_| response::INVALID_CARD_NUMBER)?;
            (number, year, month)
        }
    };
    let (today_year, today_month) = portcullis_domain::year_month_of(state.now());
    let expiry = CardExpiry::parse(i64::from(month), i64::from(year), today_year, today_month)
        .map_err(|_| response::EXPIRED_CARD)?;
    Ok(CardInput {
        number,
        expiry,
        cvc: None,
    })
}

/// The original a 0400 names: by DE 90 (its MTI must be 0100 or 0200), else
/// by this message's STAN and date (DE 13, else the MMDD of DE 7).
fn original_of(terminal: &Terminal, message: &Message) -> Option<Original> {
    if let Some(data) = message.text(fields::ORIGINAL_DATA) {
        let parsed = portcullis_connectors::iso8583::messages::OriginalData::parse(data)?;
        if parsed.mti != "0100" && parsed.mti != "0200" {
            return None;
        }
        return Some(Original::Key(MessageKey {
            terminal_id: terminal.terminal_id.clone(),
            stan: parsed.stan,
            transmission: parsed.transmission,
        }));
    }
    let stan = message.text(fields::STAN)?;
    let date = message.text(fields::LOCAL_DATE).or_else(|| {
        message
            .text(fields::TRANSMISSION_DATE_TIME)
            .and_then(|t| t.get(..4))
    })?;
    Some(Original::Named(format!(
        "{}:{stan}:{date}",
        terminal.terminal_id
    )))
}

/// The answer to `request` with DE 39 `code`, unsigned.
fn answer(request: &Message, code: &str) -> Message {
    let request_mti = request.mti();
    let mut message = Message::new(request_mti.response().unwrap_or(request_mti));
    for field in ECHOED {
        if let Some(value) = request.get(*field) {
            // Each value was accepted by the same table when decoded.
            let _ = message.set(*field, value.to_vec());
        }
    }
    let _ = message.set_text(fields::RESPONSE_CODE, code);
    message
}

/// The answer, MACed under the terminal's key.
fn signed(
    request: &Message,
    code: &str,
    authorization: Option<&str>,
    profile: Profile,
    key: &MacKey,
) -> Reply {
    let mut message = answer(request, code);
    if let Some(authorization) = authorization {
        let _ = message.set_text(fields::AUTHORIZATION_CODE, authorization);
    }
    Reply::Send(mac::sign(&mut message, profile, key))
}
