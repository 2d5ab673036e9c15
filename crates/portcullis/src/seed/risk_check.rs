//! `portcullis seed --check-risk-counters`: after the last commit, the
//! store's risk counters of every subject the run counted are read back
//! (`Store::risk_history`, as the payment path reads them) and compared
//! with the seeder's [`RiskMemory`], which the builders assessed every
//! payment against instead of reading the store. Equal answers mean the
//! seeded risk outcomes are what the gateway would have decided on the
//! same history.

use anyhow::bail;
use portcullis_store::{
    RiskCardsRead, RiskCounterQuery, RiskMemory, RiskSubjectKind, Scope, Store,
};

/// Subjects read back per `risk_history` call.
const SUBJECTS_PER_READ: usize = 500;
const SECONDS_PER_HOUR: i64 = 3_600;

/// Compares every counted subject's counters at `at_s` (the windows the
/// payment path reads then, and one spanning the whole history); answers
/// how many subjects were compared.
pub async fn check(
    store: &Store,
    memory: &RiskMemory,
    scope: &Scope,
    at_s: i64,
) -> anyhow::Result<u64> {
    let mut subjects: Vec<(RiskSubjectKind, &str)> = memory.subjects().collect();
    subjects.sort_by_key(|(kind, subject)| (kind.as_str(), *subject));
    // A card the subjects saw, so that "this card seen already" is asked too.
    let card = subjects
        .iter()
        .find(|(kind, _)| *kind == RiskSubjectKind::Card)
        .map_or("", |(_, card)| *card);
    let hour = at_s.div_euclid(SECONDS_PER_HOUR);
    let windows = [(hour - 1, hour - 24), (1, 1)];
    for chunk in subjects.chunks(SUBJECTS_PER_READ) {
        for (hour_from, day_from) in windows {
            let queries: Vec<RiskCounterQuery> = chunk
                .iter()
                .map(|(kind, subject)| RiskCounterQuery {
                    scope: scope.clone(),
                    kind: *kind,
                    subject: (*subject).to_owned(),
                    hour_from,
                    day_from,
                    card: Some(card.to_owned()),
                    cards: RiskCardsRead::Counted,
                })
                .collect();
            let stored = store.risk_history(&queries, scope, card).await?;
            let kept = memory.history(&queries, scope, card);
            let differs = chunk
                .iter()
                .zip(stored.counters.iter().zip(&kept.counters))
                .find(|(_, (stored, kept))| stored != kept);
            if let Some(((kind, subject), (stored, kept))) = differs {
                bail!(
                    "risk counters of {} {subject} (hours from {hour_from}, days from \
                     {day_from}): the store holds {stored:?}, the seeder kept {kept:?}",
                    kind.as_str()
                );
            }
            if stored.sighting != kept.sighting {
                bail!("the sighting of card {card} differs from the seeder's");
            }
        }
    }
    Ok(subjects.len() as u64)
}
