//! `portcullis acquirer-sim settlement`: one day's settlement file from the
//! journal, as CSV: one line per captured or refunded transaction
//! (purchases and completions not reversed, and refunds) recorded that
//! day (UTC).

use super::journal::{Entry, Ledger, Standing};
use anyhow::Context;
use std::fmt::Write;

pub const HEADER: &str =
    "rrn,stan,terminal_id,card_acceptor_id,masked_pan,amount,currency,type,auth_code";

/// The journal's entries, read only (the simulator may be appending): a
/// last line without its newline is a write in progress and is left out; a
/// damaged whole line is an error.
fn read_entries(journal: &std::path::Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read(journal).with_context(|| format!("reading {}", journal.display()))?;
    let whole = match text.iter().rposition(|byte| *byte == b'\n') {
        Some(end) => &text[..=end],
        None => &text[..0],
    };
    whole
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_slice(line)
                .with_context(|| format!("{}: line {} is damaged", journal.display(), index + 1))
        })
        .collect()
}

/// The CSV for `date` (`YYYY-MM-DD`).
pub fn settlement_csv(journal: &std::path::Path, date: &str) -> anyhow::Result<String> {
    let entries = read_entries(journal)?;
    let mut ledger = Ledger::default();
    for entry in &entries {
        ledger.apply(entry);
    }
    let mut csv = format!("{HEADER}\n");
    for entry in &entries {
        let (rrn, stan, amount, kind, approval_rrn) = match entry {
            Entry::Approval {
                date: day,
                rrn,
                stan,
                amount,
                captured: true,
                ..
            } if day == date => (rrn, stan, *amount, "purchase", rrn),
            Entry::Completion {
                date: day,
                rrn,
                stan,
                amount,
                ..
            } if day == date => (rrn, stan, *amount, "completion", rrn),
            Entry::Refund {
                date: day,
                rrn,
                original_rrn,
                stan,
                amount,
                ..
            } if day == date => (rrn, stan, *amount, "refund", original_rrn),
            _ => continue,
        };
        let Some(approved) = ledger.approved.get(approval_rrn) else {
            continue;
        };
        if kind != "refund" && approved.standing == Standing::Reversed {
            continue;
        }
        let Entry::Approval {
            terminal_id,
            card_acceptor_id,
            masked_pan,
            currency,
            auth_code,
            ..
        } = &approved.approval
        else {
            continue;
        };
        writeln!(
            csv,
            "{rrn},{stan},{},{},{masked_pan},{amount},{currency},{kind},{auth_code}",
            csv_field(terminal_id),
            csv_field(card_acceptor_id)
        )?;
    }
    Ok(csv)
}

/// Quotes a field that holds a comma, quote or line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
