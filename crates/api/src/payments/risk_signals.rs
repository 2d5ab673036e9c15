//! Gathering one payment's risk signals from the request, the BIN and
//! rate tables, the IP database and the store's incremental counters.

use super::risk::{RiskInput, RiskPast};
use crate::error::ApiResult;
use crate::state::AppState;
use portcullis_domain::payment_intents::PaymentIntent;
use portcullis_domain::payment_methods::PaymentMethod;
use portcullis_risk::geo::{record_travel, Location, Sighting};
use portcullis_risk::score::amount_anomaly;
use portcullis_risk::signals::MICROS_PER_UNIT;
use portcullis_risk::{Signal, SignalValue as V, Signals};
use portcullis_store::{RiskCardsRead, RiskCounterQuery, RiskCounters, RiskSubjectKind, Scope};
use std::net::IpAddr;

const SECONDS_PER_HOUR: i64 = 3_600;
/// Hourly windows cover this hour's bucket and the one before (so at
/// least the last 60 minutes); daily ones the 24 before that too.
const HOURLY_BUCKETS_BACK: i64 = 1;
const DAILY_BUCKETS_BACK: i64 = 24;

/// What the assessment needs again to write its counters.
#[derive(Clone, Debug)]
pub struct Facts {
    pub scope: Scope,
    /// The card first, then customer, email and IP, where known.
    pub subjects: Vec<(RiskSubjectKind, String)>,
    /// The card's fingerprint (`None` for a wallet payment).
    pub card: Option<String>,
    pub usd_cents: Option<i64>,
    pub location: Option<Location>,
    pub now: i64,
}

impl Facts {
    pub fn hour(&self) -> i64 {
        self.now.div_euclid(SECONDS_PER_HOUR)
    }
}

pub async fn gather(
    state: &AppState,
    scope: &Scope,
    input: &RiskInput<'_>,
    past: RiskPast<'_>,
) -> ApiResult<(Signals, Facts)> {
    let now = state.now();
    let mut s = Signals::default();
    let usd_cents = amounts(state, input, &mut s);
    s.set(
        Signal::PaymentMethodType,
        V::text(input.payment_method_type),
    );
    if let Some(method) = input.method {
        card(state, input.intent, method, &mut s);
    }
    let billing_details = input.method.map(|m| &m.billing_details);
    let email = billing_details
        .and_then(|b| b.email.clone())
        .or_else(|| input.intent.receipt_email.clone())
        .map(|e| e.to_ascii_lowercase());
    s.set(
        Signal::Customer,
        V::text_or_unknown(input.intent.customer.as_deref()),
    );
    s.set(Signal::Email, V::text_or_unknown(email.as_deref()));
    let billing = billing_details
        .and_then(|b| b.address.as_ref())
        .and_then(|a| a.country.as_deref());
    s.set(
        Signal::BillingCountry,
        V::text_or_unknown(billing.map(str::to_ascii_uppercase).as_deref()),
    );
    s.set(Signal::IsOffSession, V::Bool(input.off_session));
    s.set(Signal::IsAuthenticated, V::Bool(input.authenticated));
    let location = place(state, input, &mut s);
    let card = input
        .method
        .and_then(|m| m.card.as_ref())
        .map(|card| card.fingerprint.clone());
    let customer = input.intent.customer.clone();
    let facts = Facts {
        scope: scope.clone(),
        subjects: subjects(card.clone(), customer, email, input.ip),
        card,
        usd_cents,
        location,
        now,
    };
    let previous = velocity(state, &facts, &mut s, past)
        .await?
        .map(|p| Sighting {
            location: Location {
                latitude_micro: p.latitude_micro,
                longitude_micro: p.longitude_micro,
            },
            at_s: p.seen_at,
        });
    record_travel(
        &mut s,
        previous,
        location.map(|location| Sighting {
            location,
            at_s: now,
        }),
    );
    Ok((s, facts))
}

/// The subjects counted for a payment: the card first, then customer,
/// email and IP, where known.
pub fn subjects(
    card: Option<String>,
    customer: Option<String>,
    email: Option<String>,
    ip: Option<IpAddr>,
) -> Vec<(RiskSubjectKind, String)> {
    [
        (RiskSubjectKind::Card, card),
        (RiskSubjectKind::Customer, customer),
        (RiskSubjectKind::Email, email),
        (RiskSubjectKind::Ip, ip.map(|ip| ip.to_string())),
    ]
    .into_iter()
    .filter_map(|(kind, value)| value.map(|value| (kind, value)))
    .collect()
}

/// The intent's amount in US cents by the rate table, if convertible.
pub fn usd_cents(state: &AppState, intent: &PaymentIntent) -> Option<i64> {
    let exponent = intent.currency.exponent();
    state
        .risk
        .rates
        .to_usd_cents(intent.amount.minor(), intent.currency.as_str(), exponent)
}

/// Sets the amount signals; returns the amount in US cents, if convertible.
fn amounts(state: &AppState, input: &RiskInput<'_>, s: &mut Signals) -> Option<i64> {
    let intent = input.intent;
    let exponent = intent.currency.exponent();
    let minor = intent.amount.minor();
    let micros_per_minor = MICROS_PER_UNIT / 10i64.pow(u32::from(exponent));
    s.set(
        Signal::Amount,
        V::Number(minor.saturating_mul(micros_per_minor)),
    );
    s.set(Signal::Currency, V::text(intent.currency.as_str()));
    let usd_cents = usd_cents(state, intent);
    if let Some(cents) = usd_cents {
        s.set(
            Signal::AmountInUsd,
            V::Number(cents.saturating_mul(MICROS_PER_UNIT / 100)),
        );
    }
    usd_cents
}

fn card(state: &AppState, intent: &PaymentIntent, method: &PaymentMethod, s: &mut Signals) {
    let Some(card) = &method.card else {
        return;
    };
    let row = state.risk.bin_info(intent.livemode, &card.bin);
    let country = row
        .and_then(|r| r.country.clone())
        .or_else(|| card.country.clone());
    let funding = row.map_or(card.funding.as_str(), |r| r.funding.as_str());
    s.set(Signal::CardBrand, V::text(card.brand.as_str()));
    s.set(Signal::CardBin, V::text(card.bin.clone()));
    s.set(Signal::CardCountry, V::text_or_unknown(country.as_deref()));
    s.set(Signal::CardFunding, V::text(funding));
    s.set(Signal::CardFingerprint, V::text(card.fingerprint.clone()));
}

/// Sets the IP signals; returns where the IP database places the IP.
fn place(state: &AppState, input: &RiskInput<'_>, s: &mut Signals) -> Option<Location> {
    let ip = input.ip?;
    s.set(Signal::IpAddress, V::text(ip.to_string()));
    let found = state.risk.geoip.as_ref()?.locate(ip);
    s.set(
        Signal::IpCountry,
        V::text_or_unknown(found.country.as_deref()),
    );
    found.location
}

/// The velocity signals of one kind of subject, in the order
/// total, authorized, declined (hourly, daily each), then cards.
fn velocity_signals(kind: RiskSubjectKind) -> ([Signal; 6], Option<[Signal; 2]>) {
    use Signal::*;
    match kind {
        RiskSubjectKind::Card => (
            [
                TotalCardHourly,
                TotalCardDaily,
                AuthorizedCardHourly,
                AuthorizedCardDaily,
                DeclinedCardHourly,
                DeclinedCardDaily,
            ],
            None,
        ),
        RiskSubjectKind::Customer => (
            [
                TotalCustomerHourly,
                TotalCustomerDaily,
                AuthorizedCustomerHourly,
                AuthorizedCustomerDaily,
                DeclinedCustomerHourly,
                DeclinedCustomerDaily,
            ],
            Some([CardsPerCustomerHourly, CardsPerCustomerDaily]),
        ),
        RiskSubjectKind::Email => (
            [
                TotalEmailHourly,
                TotalEmailDaily,
                AuthorizedEmailHourly,
                AuthorizedEmailDaily,
                DeclinedEmailHourly,
                DeclinedEmailDaily,
            ],
            Some([CardsPerEmailHourly, CardsPerEmailDaily]),
        ),
        RiskSubjectKind::Ip => (
            [
                TotalIpHourly,
                TotalIpDaily,
                AuthorizedIpHourly,
                AuthorizedIpDaily,
                DeclinedIpHourly,
                DeclinedIpDaily,
            ],
            Some([CardsPerIpHourly, CardsPerIpDaily]),
        ),
    }
}

/// Reads each subject's counters and sets its velocity signals, counting
/// this attempt (and this card) in; answers where the card was last seen.
/// One read for all of it (`Store::risk_history`, or the same answer from
/// memory).
async fn velocity(
    state: &AppState,
    facts: &Facts,
    s: &mut Signals,
    past: RiskPast<'_>,
) -> ApiResult<Option<portcullis_store::RiskSighting>> {
    let hour = facts.hour();
    let queries: Vec<RiskCounterQuery> = facts
        .subjects
        .iter()
        .map(|(kind, subject)| RiskCounterQuery {
            scope: facts.scope.clone(),
            kind: *kind,
            subject: subject.clone(),
            hour_from: hour - HOURLY_BUCKETS_BACK,
            day_from: hour - DAILY_BUCKETS_BACK,
            card: facts.card.clone(),
            cards: cards_read(*kind, facts.card.is_some()),
        })
        .collect();
    // Without a card, the sighting read by an empty fingerprint finds none.
    let card = facts.card.as_deref().unwrap_or_default();
    let history = match past {
        RiskPast::Store => {
            state
                .store
                .risk_history(&queries, &facts.scope, card)
                .await?
        }
        RiskPast::Memory(memory) => memory.history(&queries, &facts.scope, card),
    };
    for ((kind, _), read) in facts.subjects.iter().zip(&history.counters) {
        set_velocity(s, *kind, read, facts.card.is_some());
        let usd_cents = facts.usd_cents.unwrap_or(0);
        let (average, ratio) =
            amount_anomaly(usd_cents, read.history_count, read.history_usd_cents);
        match kind {
            RiskSubjectKind::Card => {
                s.set(Signal::CardAverageAmountInUsd, average);
                s.set(Signal::AmountToCardAverage, ratio);
            }
            RiskSubjectKind::Customer => {
                s.set(Signal::CustomerAverageAmountInUsd, average);
                s.set(Signal::AmountToCustomerAverage, ratio);
            }
            _ => {}
        }
    }
    Ok(history.sighting)
}

/// Whether a subject's distinct cards are read: only where
/// [`set_velocity`] sets signals from them (a subject other than the card,
/// for a payment with a card).
fn cards_read(kind: RiskSubjectKind, has_card: bool) -> RiskCardsRead {
    match (velocity_signals(kind).1, has_card) {
        (Some(_), true) => RiskCardsRead::Counted,
        _ => RiskCardsRead::Skipped,
    }
}

/// Sets one subject's velocity signals; distinct cards only for a card.
fn set_velocity(s: &mut Signals, kind: RiskSubjectKind, read: &RiskCounters, has_card: bool) {
    let (counts, cards) = velocity_signals(kind);
    let values = [
        read.total.hourly + 1,
        read.total.daily + 1,
        read.authorized.hourly,
        read.authorized.daily,
        read.declined.hourly,
        read.declined.daily,
    ];
    for (signal, value) in counts.iter().zip(values) {
        s.set(*signal, V::count(value));
    }
    if let (Some([hourly, daily]), true) = (cards, has_card) {
        s.set(
            hourly,
            V::count(read.cards.hourly + i64::from(!read.card_seen_hourly)),
        );
        s.set(
            daily,
            V::count(read.cards.daily + i64::from(!read.card_seen_daily)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct cards are read exactly where `set_velocity` turns them into
    /// signals: for a customer, an email or an IP, when the payment has a
    /// card; never for the card itself.
    #[test]
    fn a_subjects_cards_are_read_only_where_a_signal_uses_them() {
        use RiskSubjectKind::*;
        for has_card in [true, false] {
            assert_eq!(cards_read(Card, has_card), RiskCardsRead::Skipped);
        }
        for kind in [Customer, Email, Ip] {
            assert_eq!(cards_read(kind, true), RiskCardsRead::Counted, "{kind:?}");
            assert_eq!(cards_read(kind, false), RiskCardsRead::Skipped, "{kind:?}");
        }
    }
}
