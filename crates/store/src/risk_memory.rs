//! One scope's risk state kept in memory by its only writer: the same
//! [`RiskWrite`]s the store applies, answering the same [`RiskHistory`]
//! reads (`Store::risk_history`) without a round trip.
//!
//! Only `portcullis seed` keeps one: it is the sole writer of the merchant
//! it seeds, so what it applied here is what the store holds once its
//! commits land, and its builders read the past from memory instead of
//! asking the store once per payment. The rules mirror the SQL of
//! `sql::risk` row for row: counter additions sum per (subject, metric,
//! bucket), a card is seen once per (subject, bucket), a sighting moves
//! only forward, and a read's windows select buckets exactly as its
//! `WHERE` and `CASE` clauses do (the contract test
//! `memory_answers_what_the_store_answers` checks both side by side).
//! Routing outcomes are not kept: no risk read asks for them.

use crate::model::{
    RiskCardsRead, RiskCounterQuery, RiskCounters, RiskHistory, RiskMetric, RiskSighting,
    RiskSubjectKind, RiskWindowCounts, RiskWrite, Scope, RISK_LIFETIME_BUCKET,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The risk state of one scope, as its only writer applied it.
#[derive(Debug)]
pub struct RiskMemory {
    scope: Scope,
    subjects: HashMap<(RiskSubjectKind, String), SubjectPast>,
    /// Card fingerprints, each kept once however many subjects saw it.
    cards: HashMap<Arc<str>, ()>,
    sightings: HashMap<String, RiskSighting>,
}

/// One subject's rows.
#[derive(Debug, Default)]
struct SubjectPast {
    /// `(bucket_hour, metric, count, amount_usd_cents)`, sorted by bucket
    /// and metric, one per pair (as the counter table's primary key).
    buckets: Vec<(i64, u8, i64, i64)>,
    /// `(bucket_hour, card)`, sorted, each pair once.
    cards: Vec<(i64, Arc<str>)>,
}

fn metric_index(metric: RiskMetric) -> u8 {
    match metric {
        RiskMetric::Total => 0,
        RiskMetric::Authorized => 1,
        RiskMetric::Declined => 2,
    }
}

impl RiskMemory {
    /// An empty past for `scope`.
    pub fn new(scope: Scope) -> RiskMemory {
        RiskMemory {
            scope,
            subjects: HashMap::new(),
            cards: HashMap::new(),
            sightings: HashMap::new(),
        }
    }

    /// The subjects counted so far, in no order.
    pub fn subjects(&self) -> impl Iterator<Item = (RiskSubjectKind, &str)> {
        self.subjects
            .keys()
            .map(|(kind, subject)| (*kind, subject.as_str()))
    }

    /// Applies one write as the store would. Panics on a write of another
    /// scope: this memory stands for one scope's rows only.
    pub fn apply(&mut self, write: &RiskWrite) {
        match write {
            RiskWrite::Count {
                scope,
                kind,
                subject,
                metric,
                bucket_hour,
                count,
                amount_usd_cents,
            } => {
                self.assert_scope(scope);
                let past = self.subject_mut(*kind, subject);
                let key = (*bucket_hour, metric_index(*metric));
                match past.buckets.binary_search_by_key(&key, |b| (b.0, b.1)) {
                    Ok(at) => {
                        past.buckets[at].2 += count;
                        past.buckets[at].3 += amount_usd_cents;
                    }
                    Err(at) => past
                        .buckets
                        .insert(at, (key.0, key.1, *count, *amount_usd_cents)),
                }
            }
            RiskWrite::CardSeen {
                scope,
                kind,
                subject,
                bucket_hour,
                card,
            } => {
                self.assert_scope(scope);
                let card = self.card(card);
                let past = self.subject_mut(*kind, subject);
                let key = (*bucket_hour, card);
                if let Err(at) = past.cards.binary_search(&key) {
                    past.cards.insert(at, key);
                }
            }
            RiskWrite::Sighting {
                scope,
                card,
                latitude_micro,
                longitude_micro,
                seen_at,
            } => {
                self.assert_scope(scope);
                let newer = RiskSighting {
                    latitude_micro: *latitude_micro,
                    longitude_micro: *longitude_micro,
                    seen_at: *seen_at,
                };
                let kept = self.sightings.entry(card.clone()).or_insert(newer);
                if kept.seen_at <= newer.seen_at {
                    *kept = newer;
                }
            }
            RiskWrite::RoutingOutcome { scope, .. } => self.assert_scope(scope),
        }
    }

    /// What `Store::risk_history` answers for the same reads.
    pub fn history(&self, queries: &[RiskCounterQuery], scope: &Scope, card: &str) -> RiskHistory {
        self.assert_scope(scope);
        RiskHistory {
            counters: queries.iter().map(|q| self.counters(q)).collect(),
            sighting: self.sightings.get(card).copied(),
        }
    }

    fn counters(&self, q: &RiskCounterQuery) -> RiskCounters {
        self.assert_scope(&q.scope);
        let mut out = RiskCounters::default();
        let Some(past) = self.subjects.get(&(q.kind, q.subject.clone())) else {
            return out;
        };
        let mut windows = [RiskWindowCounts::default(); 3];
        let (mut lifetime_count, mut lifetime_cents) = (0, 0);
        for &(hour, metric, count, cents) in past.counted_rows(q.day_from) {
            let window = &mut windows[usize::from(metric)];
            if hour >= q.hour_from {
                window.hourly += count;
            }
            if hour >= q.day_from {
                window.daily += count;
            }
            if hour == RISK_LIFETIME_BUCKET && metric == metric_index(RiskMetric::Authorized) {
                lifetime_count += count;
                lifetime_cents += cents;
            }
        }
        [out.total, out.authorized, out.declined] = windows;
        (out.history_count, out.history_usd_cents) = (lifetime_count, lifetime_cents);
        if q.cards == RiskCardsRead::Skipped {
            return out;
        }
        let card = q.card.as_deref().unwrap_or("");
        let from = past.cards.partition_point(|(hour, _)| *hour < q.day_from);
        let in_window = &past.cards[from..];
        let mut hourly: Vec<&str> = vec![];
        let mut daily: Vec<&str> = vec![];
        for (hour, seen) in in_window {
            if *hour >= q.hour_from {
                hourly.push(seen);
                out.card_seen_hourly |= &**seen == card;
            }
            daily.push(seen);
            out.card_seen_daily |= &**seen == card;
        }
        out.cards = RiskWindowCounts {
            hourly: distinct(hourly),
            daily: distinct(daily),
        };
        out
    }

    fn subject_mut(&mut self, kind: RiskSubjectKind, subject: &str) -> &mut SubjectPast {
        self.subjects.entry((kind, subject.to_owned())).or_default()
    }

    fn card(&mut self, card: &str) -> Arc<str> {
        if let Some((kept, ())) = self.cards.get_key_value(card) {
            return kept.clone();
        }
        let kept: Arc<str> = Arc::from(card);
        self.cards.insert(kept.clone(), ());
        kept
    }

    fn assert_scope(&self, scope: &Scope) {
        assert_eq!(scope, &self.scope, "a risk memory holds one scope's writes");
    }
}

impl SubjectPast {
    /// The rows a read with daily window from `day_from` selects: the
    /// lifetime bucket and every bucket from `day_from` on (as the SQL's
    /// `bucket_hour >= day_from OR bucket_hour = 0`).
    fn counted_rows(&self, day_from: i64) -> impl Iterator<Item = &(i64, u8, i64, i64)> {
        let from = self.buckets.partition_point(|b| b.0 < day_from);
        let lifetime = self.buckets[..from]
            .iter()
            .filter(|b| b.0 == RISK_LIFETIME_BUCKET);
        lifetime.chain(&self.buckets[from..])
    }
}

fn distinct(mut cards: Vec<&str>) -> i64 {
    cards.sort_unstable();
    cards.dedup();
    cards.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::ids::MerchantId;

    fn scope() -> Scope {
        Scope {
            merchant_id: MerchantId::parse("acct_memory").unwrap(),
            livemode: false,
        }
    }

    #[test]
    #[should_panic(expected = "one scope")]
    fn a_write_of_another_scope_is_refused() {
        let mut memory = RiskMemory::new(scope());
        let other = Scope {
            livemode: true,
            ..scope()
        };
        memory.apply(&RiskWrite::Sighting {
            scope: other,
            card: "fp".into(),
            latitude_micro: 0,
            longitude_micro: 0,
            seen_at: 1,
        });
    }

    #[test]
    fn every_metric_has_its_index() {
        let metrics = [
            RiskMetric::Total,
            RiskMetric::Authorized,
            RiskMetric::Declined,
        ];
        for (i, metric) in metrics.iter().enumerate() {
            assert_eq!(usize::from(metric_index(*metric)), i);
        }
    }
}
