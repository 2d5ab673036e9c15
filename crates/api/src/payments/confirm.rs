//! Confirming a PaymentIntent: risk, then an authorization through the
//! connector between two commits (atomic phases), then the outcome.

use super::attempts::{Attempt, AttemptKind};
use super::methods::{ensure_customer_exists, from_test_id, new_card_method};
use super::outcome::{approved, authentication_required, blocked, declined, PaidWith, Resolution};
use super::records::{self, load};
use super::risk::{self, RiskInput};
use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::idempotency::Executed;
use crate::state::AppState;
use crate::wire::Params;
use portcullis_connectors::{AuthorizeRequest, CardData, ConnectorError, CvcCheck};
use portcullis_domain::cards::CardExpiry;
use portcullis_domain::metadata::Metadata;
use portcullis_domain::payment_intents::{IntentEvent, PaymentIntent, PaymentIntentStatus};
use portcullis_domain::payment_methods::{BillingDetails, PaymentMethod};
use portcullis_store::{Scope, WriteOp, WriteSet};

/// Where the payment method of a confirmation comes from.
pub enum MethodSource {
    /// `payment_method=pm_…` (or a `pm_card_*` test id).
    Existing(String),
    /// `payment_method_data[type]=card&payment_method_data[card][…]`.
    Inline(super::cards::CardInput, BillingDetails),
    /// `payment_method_data[type]=alipay|wechat_pay` (and its billing
    /// details): a wallet trade, paid with a new payment method.
    Wallet(super::wallets::Provider, BillingDetails),
    /// `payment_method_data[type]=customer_balance`: the customer's
    /// stored-value balance.
    CustomerBalance,
    /// `payment_method_data[card][encrypted]=<JWE>` (client-side
    /// encryption), opened by the vault's key when confirming.
    Encrypted(String, BillingDetails),
}

impl MethodSource {
    /// Inline card data or a JWE of it: a new payment method.
    pub fn is_inline(&self) -> bool {
        matches!(self, MethodSource::Inline(..) | MethodSource::Encrypted(..))
    }
}

/// `source`, with a JWE opened into the card it carries.
async fn opened(state: &AppState, source: &MethodSource) -> ApiResult<Option<MethodSource>> {
    match source {
        MethodSource::Encrypted(compact, billing) => {
            let card = crate::client_encryption::open_card(state, compact).await?;
            Ok(Some(MethodSource::Inline(card, billing.clone())))
        }
        _ => Ok(None),
    }
}

/// What a confirm request (or create with `confirm=true`) adds.
#[derive(Default)]
pub struct ConfirmInput {
    pub method: Option<MethodSource>,
    pub return_url: Option<String>,
    pub off_session: bool,
    /// The customer's IP address (`customer_ip`), for risk signals.
    pub customer_ip: Option<std::net::IpAddr>,
    /// `payment_method_options[alipay|wechat_pay][…]`.
    pub wallet_options: super::wallets::WalletOptions,
    /// The account holder whose session the confirmation carried (an app's
    /// `Account-Session`), for the new-device step-up of a balance payment.
    pub holder: Option<crate::customer_balance::step_up::HolderDevice>,
}

/// Reads `customer_ip`: an IPv4 or IPv6 address, the customer's, never
/// that of the merchant's server calling the API.
pub fn customer_ip_from(params: &mut Params) -> ApiResult<Option<std::net::IpAddr>> {
    match params.string("customer_ip", 64)? {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            ApiError::invalid(
                "parameter_invalid",
                "customer_ip must be an IPv4 or IPv6 address.",
                "customer_ip",
            )
        }),
    }
}

/// Reads `payment_method`, `payment_method_data`, `return_url` and `off_session`.
pub fn confirm_input_from(params: &mut Params, now_s: i64) -> ApiResult<ConfirmInput> {
    let existing = params.string("payment_method", 255)?;
    let inline = match params.object("payment_method_data")? {
        Some(mut data) => {
            let kind = data.required_string("type", 20)?;
            if let Some((provider, auth_code)) = super::wallets::wallet_data(&kind, &mut data)? {
                let billing = super::methods::billing_details_from(&mut data)?;
                data.finish()?;
                let source = MethodSource::Wallet(provider, billing);
                let mut input = wallet_input_from(params, source, existing)?;
                input.wallet_options.auth_code = auth_code;
                input.wallet_options.aggregated = kind == "wallet_qr";
                return Ok(input);
            }
            if kind == crate::customer_balance::payments::METHOD_TYPE {
                super::methods::billing_details_from(&mut data)?;
                data.finish()?;
                return wallet_input_from(params, MethodSource::CustomerBalance, existing);
            }
            if kind != "card" {
                return Err(ApiError::invalid(
                    "parameter_invalid",
                    "payment_method_data[type] must be card, alipay, wechat_pay, wallet_code, wallet_qr or customer_balance.",
                    "payment_method_data[type]",
                ));
            }
            let mut card = data
                .object("card")?
                .ok_or_else(|| ApiError::missing_parameter("payment_method_data[card]"))?;
            let encrypted =
                card.string("encrypted", crate::client_encryption::ENCRYPTED_CHARS_MAX)?;
            let input = match encrypted {
                Some(_) => None,
                None => Some(super::cards::parse_card(&mut card, now_s)?),
            };
            card.finish()?;
            let billing = super::methods::billing_details_from(&mut data)?;
            data.finish()?;
            Some(match (input, encrypted) {
                (Some(input), _) => MethodSource::Inline(input, billing),
                (None, compact) => MethodSource::Encrypted(compact.unwrap_or_default(), billing),
            })
        }
        None => None,
    };
    let method = match (existing, inline) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "parameter_invalid",
                "Give either payment_method or payment_method_data, not both.",
                "payment_method_data",
            ))
        }
        (Some(id), None) => Some(MethodSource::Existing(id)),
        (None, inline) => inline,
    };
    Ok(ConfirmInput {
        method,
        return_url: params.string("return_url", 2048)?,
        off_session: params.boolean("off_session")?.unwrap_or(false),
        customer_ip: customer_ip_from(params)?,
        wallet_options: super::wallets::options_from(params)?,
        holder: None,
    })
}

/// The rest of a confirm paying with a wallet or the balance (`source`).
fn wallet_input_from(
    params: &mut Params,
    source: MethodSource,
    existing: Option<String>,
) -> ApiResult<ConfirmInput> {
    if existing.is_some() {
        return Err(ApiError::invalid(
            "parameter_invalid",
            "Give either payment_method or payment_method_data, not both.",
            "payment_method_data",
        ));
    }
    Ok(ConfirmInput {
        method: Some(source),
        return_url: params.string("return_url", 2048)?,
        off_session: params.boolean("off_session")?.unwrap_or(false),
        customer_ip: customer_ip_from(params)?,
        wallet_options: super::wallets::options_from(params)?,
        holder: None,
    })
}

/// The payment method a request names, and the writes that create it when
/// it is new (inline card data or a test id).
pub async fn resolve_method(
    state: &AppState,
    scope: &Scope,
    source: &MethodSource,
) -> ApiResult<(PaymentMethod, Vec<WriteOp>)> {
    if let Some(opened) = opened(state, source).await? {
        return Box::pin(resolve_method(state, scope, &opened)).await;
    }
    match source {
        MethodSource::Inline(input, billing) => {
            new_card_method(state, scope, input, billing.clone(), Metadata::default())
        }
        MethodSource::Wallet(provider, _) => Err(ApiError::invalid(
            "parameter_invalid",
            format!(
                "A {} payment has no card payment method.",
                provider.as_str()
            ),
            "payment_method_data[type]",
        )),
        MethodSource::CustomerBalance => Err(ApiError::invalid(
            "parameter_invalid",
            "A payment from the customer balance has no card payment method.",
            "payment_method_data[type]",
        )),
        MethodSource::Encrypted(..) => Err(ApiError::internal(&"an encrypted card left unopened")),
        MethodSource::Existing(id) => match from_test_id(state, scope, id)? {
            Some(created) => Ok(created),
            None => {
                let (_, method) = super::methods::load(state, scope, id, "payment_method").await?;
                Ok((method, vec![]))
            }
        },
    }
}

/// Confirms intent `id`. Phase one is committed here; the returned writes
/// are phase two, committed with the idempotent response.
pub async fn confirm(ctx: &Ctx<'_>, id: &str, input: &ConfirmInput) -> ApiResult<Executed> {
    let _lock = ctx.state.locks.lock(id).await;
    let (doc, intent) = load::<PaymentIntent>(ctx.state, ctx.scope, id, "intent").await?;
    confirm_loaded(ctx, Some(doc), intent, WriteSet::new(), input).await
}

/// Confirms `intent`, which is not stored yet: phase one inserts it together
/// with `created` (its creation event), so a create with `confirm=true`
/// commits twice, not three times. A refusal before phase one stores
/// nothing, so a refused create leaves no intent behind.
pub async fn confirm_new(
    ctx: &Ctx<'_>,
    intent: PaymentIntent,
    created: WriteSet,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    let id = intent.id.clone();
    let _lock = ctx.state.locks.lock(&id).await;
    confirm_loaded(ctx, None, intent, created, input).await
}

/// Confirms `intent`, stored as `doc` (or new, when `None`); `phase_one`
/// holds writes to commit with phase one. The caller holds the intent's lock.
async fn confirm_loaded(
    ctx: &Ctx<'_>,
    doc: Option<portcullis_store::Doc>,
    mut intent: PaymentIntent,
    mut phase_one: WriteSet,
    input: &ConfirmInput,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    crate::routing::payment::check_live(state, scope).await?;
    if intent.pending_attempt.is_some() {
        super::recovery::resolve_stale_or_refuse(state, scope, &intent, None).await?;
        return Err(ApiError::concurrent_change());
    }
    if !matches!(
        intent.status,
        PaymentIntentStatus::RequiresPaymentMethod
            | PaymentIntentStatus::RequiresConfirmation
            | PaymentIntentStatus::RequiresAction
    ) {
        return Err(super::unexpected_state(&intent, "confirmed"));
    }
    if crate::customer_balance::payments::pays_from_balance(&intent, input) {
        return crate::customer_balance::payments::pay(ctx, doc, intent, phase_one, input).await;
    }
    crate::customer_balance::payments::check_top_up(ctx, &intent).await?;
    let wallet_method = super::wallets::named_method(state, scope, &intent, input).await?;
    let provider = match &wallet_method {
        Some(method) => super::wallets::Provider::of_method(method),
        None => super::wallets::provider_of(&intent, input),
    };
    if let Some(provider) = provider {
        let paying = super::wallets::confirm::Paying {
            provider,
            method: wallet_method,
        };
        return super::wallets::confirm::confirm_wallet(ctx, doc, intent, phase_one, paying, input)
            .await;
    }
    let mut card_number = None;
    let opened_source = match &input.method {
        Some(source) => opened(state, source).await?,
        None => None,
    };
    let method = match opened_source.as_ref().or(input.method.as_ref()) {
        Some(source) => {
            let (method, writes) = resolve_method(state, scope, source).await?;
            if !writes.is_empty() {
                card_number = fresh_card_number(scope, source);
            }
            phase_one.ops.extend(writes);
            intent.payment_method = Some(method.id.clone());
            method
        }
        None => match intent.payment_method.clone() {
            Some(pm) => {
                super::methods::load(state, scope, &pm, "payment_method")
                    .await?
                    .1
            }
            None => return Err(missing_payment_method()),
        },
    };
    check_owner(state, scope, intent.customer.as_deref(), &method).await?;
    super::methods::card_of(&method)?;
    if let Some(url) = &input.return_url {
        intent.return_url = Some(url.clone());
    }
    intent
        .apply(IntentEvent::PaymentMethodGiven, "confirmed")
        .map_err(|_| super::unexpected_state(&intent, "confirmed"))?;
    if let Some(ip) = input.customer_ip {
        intent.customer_ip = Some(ip.to_string());
    }
    let risk_input = RiskInput {
        intent: &intent,
        method: Some(&method),
        payment_method_type: "card",
        ip: intent.customer_ip.as_deref().and_then(|ip| ip.parse().ok()),
        authenticated: false,
        off_session: input.off_session,
    };
    let assessment = risk::assess(state, scope, &risk_input).await?;
    phase_one
        .ops
        .extend(assessment.attempt_writes(&intent.id, false)?);
    if assessment.blocked_by().is_some() {
        let resolution = blocked(ctx, intent, PaidWith::Card(&method), &assessment)?;
        return finish_resolution(doc, resolution, phase_one, scope);
    }
    if assessment.action == portcullis_risk::Action::RequestThreeDs {
        let resolution = authentication_required(ctx, intent)?;
        return finish_resolution(doc, resolution, phase_one, scope);
    }
    let attempt = Attempt::new(
        AttemptKind::Authorize,
        &intent.id,
        None,
        intent.amount.minor(),
        state.now(),
    );
    let pending = Pending {
        doc,
        intent,
        attempt,
        phase_one,
        off_session: input.off_session,
        assessment,
        card_number,
    };
    authorize(ctx, &method, pending).await
}

/// An authorization ready to be sent: the intent as read, the attempt to
/// record, and what phase one must commit besides.
pub struct Pending {
    /// The intent as stored, or `None` for one phase one inserts.
    pub doc: Option<portcullis_store::Doc>,
    pub intent: PaymentIntent,
    pub attempt: Attempt,
    pub phase_one: WriteSet,
    pub off_session: bool,
    pub assessment: risk::Assessment,
    /// The card of a payment method this request creates (sealed into the
    /// vault by phase one), so it need not be read back and opened.
    pub card_number: Option<portcullis_domain::cards::CardNumber>,
}

/// The number of the card a new payment method of `source` seals: inline
/// card data, or a `pm_card_*` test id (test mode only).
fn fresh_card_number(
    scope: &Scope,
    source: &MethodSource,
) -> Option<portcullis_domain::cards::CardNumber> {
    match source {
        MethodSource::Inline(input, _) => Some(input.number.clone()),
        MethodSource::Encrypted(..) => None,
        MethodSource::Existing(id) => {
            portcullis_domain::sandbox_cards::test_payment_method_number(id)
                .filter(|_| !scope.livemode)
                .and_then(|number| portcullis_domain::cards::CardNumber::parse(number).ok())
        }
        MethodSource::Wallet(..) | MethodSource::CustomerBalance => None,
    }
}

fn missing_payment_method() -> ApiError {
    ApiError::invalid(
        "payment_intent_unexpected_state",
        "You cannot confirm this PaymentIntent because it's missing a payment method. Update the PaymentIntent with a payment method and then confirm it again.",
        "payment_method",
    )
}

/// For create with `confirm=true`: the refusals [`confirm`] would answer
/// that depend only on the request (no payment method, an unknown one,
/// another customer's), found before the new intent is stored, so that a
/// refused create leaves no intent behind that its client never heard of.
pub async fn check_confirmable(
    state: &AppState,
    scope: &Scope,
    input: &ConfirmInput,
    customer: Option<&str>,
) -> ApiResult<()> {
    match &input.method {
        None => Err(missing_payment_method()),
        // Inline card data was checked while parsing; nobody owns it yet.
        Some(
            MethodSource::Inline(..) | MethodSource::Wallet(..) | MethodSource::CustomerBalance,
        ) => Ok(()),
        // A JWE must open into a valid card before anything is stored.
        Some(MethodSource::Encrypted(compact, _)) => {
            crate::client_encryption::open_card(state, compact).await?;
            Ok(())
        }
        Some(source @ MethodSource::Existing(_)) => {
            // Nothing is written: a test id's fresh method is dropped here.
            let (method, _) = resolve_method(state, scope, source).await?;
            check_owner(state, scope, customer, &method).await
        }
    }
}

/// A payment method attached to a customer pays only for that customer's
/// intents: not for another customer's, and not for an intent with no
/// customer (which anyone holding a key, or any intent's client secret,
/// could otherwise charge a stranger's saved card through).
pub async fn check_owner(
    state: &AppState,
    scope: &Scope,
    customer: Option<&str>,
    method: &PaymentMethod,
) -> ApiResult<()> {
    if let Some(customer) = customer {
        ensure_customer_exists(state, scope, customer).await?;
    }
    match (method.customer.as_deref(), customer) {
        (Some(owner), Some(customer)) if owner != customer => Err(ApiError::invalid(
            "payment_method_unexpected_state",
            "The provided PaymentMethod belongs to another customer.",
            "payment_method",
        )),
        (Some(_), None) => Err(ApiError::invalid(
            "payment_method_unexpected_state",
            "The provided PaymentMethod belongs to a Customer. Include that Customer in the PaymentIntent's customer parameter to use it.",
            "payment_method",
        )),
        _ => Ok(()),
    }
}

/// What the acquirer said of the CVC: its verdict on an approval, `fail`
/// on an `incorrect_cvc` decline, `unavailable` when it said nothing.
fn cvc_check_of(
    answer: &Result<portcullis_connectors::AuthorizeOutcome, ConnectorError>,
) -> CvcCheck {
    use portcullis_connectors::{AuthorizeOutcome, DeclineCode};
    match answer {
        Ok(AuthorizeOutcome::Approved { cvc_check, .. }) => *cvc_check,
        Ok(AuthorizeOutcome::Declined(decline)) if decline.code == DeclineCode::IncorrectCvc => {
            CvcCheck::Fail
        }
        _ => CvcCheck::Unavailable,
    }
}

/// `method` with its card's `cvc_check` as `check` says.
fn with_cvc_check(method: &PaymentMethod, check: CvcCheck) -> PaymentMethod {
    let mut checked = method.clone();
    if let Some(card) = checked.card.as_mut() {
        card.cvc_check = Some(check.as_str().to_owned());
    }
    checked
}

/// Writes `intent` as read at `doc`, or inserts it when it is new.
pub(crate) fn intent_write(
    scope: &Scope,
    doc: Option<&portcullis_store::Doc>,
    intent: &PaymentIntent,
) -> ApiResult<WriteOp> {
    match doc {
        Some(doc) => records::update(scope, doc, intent),
        None => records::insert(scope, intent),
    }
}

/// A document as this request just committed it: what phase two needs of
/// it is its version.
pub(super) fn as_written(id: &str, created: i64, version: i64) -> portcullis_store::Doc {
    portcullis_store::Doc {
        id: id.to_owned(),
        seq: 0,
        created,
        version,
        body: String::new(),
    }
}

/// Phase one's writes, the intent and the resolution's writes, answered
/// as the resolution says.
pub(crate) fn finish_resolution(
    doc: Option<portcullis_store::Doc>,
    resolution: Resolution,
    phase_one: WriteSet,
    scope: &Scope,
) -> ApiResult<Executed> {
    let mut writes = phase_one;
    writes.push(intent_write(scope, doc.as_ref(), &resolution.intent)?);
    writes.ops.extend(resolution.writes.ops);
    Ok(Executed {
        status: resolution.status,
        body: resolution.body,
        writes,
        external_effects: false,
        replan: None,
    })
}

/// The account whose authorization asked the cardholder to authenticate
/// (the intent's newest attempt), if it went to one.
async fn challenged_on(
    state: &AppState,
    scope: &Scope,
    intent_id: &str,
) -> ApiResult<Option<String>> {
    let newest = super::attempts::newest(state, scope, intent_id).await?;
    Ok(newest.and_then(|attempt| attempt.connector_account))
}

/// Phase one, the connector call, and the outcome's writes (phase two).
pub async fn authorize(
    ctx: &Ctx<'_>,
    method: &PaymentMethod,
    pending: Pending,
) -> ApiResult<Executed> {
    let (state, scope) = (ctx.state, ctx.scope);
    let Pending {
        doc,
        mut intent,
        mut attempt,
        mut phase_one,
        off_session,
        assessment,
        card_number,
    } = pending;
    let event = if intent.status == PaymentIntentStatus::RequiresAction {
        IntentEvent::Authenticated
    } else {
        IntentEvent::AttemptSent
    };
    attempt.authenticated = event == IntentEvent::Authenticated;
    intent
        .apply(event, "confirmed")
        .map_err(|_| super::unexpected_state(&intent, "confirmed"))?;
    // Routed before phase one: a payment no account takes stores nothing.
    let pinned = match event {
        IntentEvent::Authenticated => challenged_on(state, scope, &intent.id).await?,
        _ => None,
    };
    let mut route =
        crate::routing::payment::route(state, scope, &intent, method, pinned.as_deref()).await?;
    attempt.connector_account = route.account.clone();
    attempt.routing = Some(route.explained(&attempt.id));
    intent.pending_attempt = Some(attempt.id.clone());
    intent.next_action = None;
    phase_one.push(intent_write(scope, doc.as_ref(), &intent)?);
    phase_one.push(attempt.insert(scope)?);
    // Opened before phase one, so a card this instance cannot open (its
    // keyring lacks the card's key) is refused with nothing written.
    let number = match card_number {
        Some(number) => number,
        None => super::cards::open(state, scope, method).await?,
    };
    match state.store.commit(phase_one).await {
        Ok(()) => {}
        // A new intent another request stored meanwhile: retry on fresh state.
        Err(portcullis_store::StoreError::Duplicate) if doc.is_none() => {
            return Err(ApiError::concurrent_change())
        }
        Err(err) => return Err(err.into()),
    }

    let card = super::methods::card_of(method)?;
    let expiry = CardExpiry::from_stored(card.exp_month, card.exp_year)
        .ok_or_else(|| ApiError::internal(&"stored card expiry is malformed"))?;
    let cvc = state.cvcs.take(&method.id);
    let request = AuthorizeRequest {
        attempt_id: &attempt.id,
        merchant_id: scope.merchant_id.as_str(),
        amount_minor: intent.amount.minor(),
        currency: intent.currency,
        card: CardData {
            number: &number,
            expiry,
            cvc: cvc.as_ref(),
        },
        capture: !intent.is_manual_capture(),
        authenticated: attempt.authenticated,
        off_session,
    };
    let first_version = doc.as_ref().map_or(1, |d| d.version + 1);
    // Failover may make further attempts (each committed before it is sent).
    let (attempt, answer, version) = super::failover::send(
        ctx,
        &mut route,
        &mut intent,
        first_version,
        attempt.clone(),
        request,
    )
    .await?;
    drop(number);
    // Phase two starts from the intent and attempt as phase one (or the
    // last failover hand-over) wrote them (no re-read: under the intent's
    // lock nobody else in this process changes them, and the versions named
    // below refuse any other change).
    let doc = as_written(&intent.id, intent.created, version);
    let attempt_doc = as_written(&attempt.id, attempt.created, 1);
    let authorized = match &answer {
        Ok(portcullis_connectors::AuthorizeOutcome::Approved { .. }) => Some(true),
        Ok(portcullis_connectors::AuthorizeOutcome::Declined(_)) => Some(false),
        _ => None,
    };
    // The charge shows the card as the acquirer just checked it.
    let checked = &with_cvc_check(method, cvc_check_of(&answer));
    let resolution = match answer {
        Ok(portcullis_connectors::AuthorizeOutcome::Approved {
            reference, dispute, ..
        }) => approved(
            ctx,
            intent,
            checked,
            &attempt,
            &reference,
            dispute,
            &assessment,
        )?,
        Ok(portcullis_connectors::AuthorizeOutcome::Declined(decline)) => {
            declined(ctx, intent, checked, &attempt, &decline, &assessment)?
        }
        Ok(portcullis_connectors::AuthorizeOutcome::AuthenticationRequired) => {
            authentication_required(ctx, intent)?
        }
        Err(err) => {
            tracing::warn!(error = %err, attempt = %attempt.id, "authorization outcome unknown; left for recovery");
            // The attempt stays pending; the recovery worker asks the
            // acquirer once the attempt is stale and settles it then.
            return Ok(Executed::ok(
                super::render::render_payment_intent(&intent),
                WriteSet::new(),
            )
            .after_connector_call());
        }
    };
    let mut writes = WriteSet::new();
    writes.push(records::update(scope, &doc, &resolution.intent)?);
    writes.push(attempt.resolve(scope, attempt_doc.version)?);
    writes.ops.extend(resolution.writes.ops);
    if let Some(authorized) = authorized {
        writes.ops.extend(assessment.outcome_writes(authorized));
    }
    let executed = Executed {
        status: resolution.status,
        body: resolution.body,
        writes,
        external_effects: true,
        replan: None,
    };
    super::follow_ups::with_follow_ups(ctx, &resolution.intent, executed).await
}
