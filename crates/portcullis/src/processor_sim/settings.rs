//! The simulator's live settings: approval rate, faults, latency. Set from
//! the command line, changed by `POST /_sim/settings` (a JSON object with
//! any of `approval_rate`, `faults`, `latency_ms`; the answer is the whole
//! settings now in force).

use super::faults::ProcessorFault;
use crate::cli::ProcessorSimArgs;
use crate::faults::Faults;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Percent (0–100) of unlisted approvable cards approved.
    pub approval_rate: u8,
    pub faults: Faults<ProcessorFault>,
    pub latency: Duration,
}

/// The wire form of the settings, both ways.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_rate: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

fn check_rate(rate: u8) -> anyhow::Result<u8> {
    anyhow::ensure!(rate <= 100, "the approval rate is a percentage, 0-100");
    Ok(rate)
}

/// Longest latency a change may ask for.
const LATENCY_MS_MAX: u64 = 60_000;

impl SimSettings {
    pub fn from_args(args: &ProcessorSimArgs) -> anyhow::Result<SimSettings> {
        anyhow::ensure!(
            args.latency_ms <= LATENCY_MS_MAX,
            "--latency-ms is at most {LATENCY_MS_MAX}"
        );
        Ok(SimSettings {
            approval_rate: check_rate(args.approval_rate)?,
            faults: Faults::parse(&args.faults)?,
            latency: Duration::from_millis(args.latency_ms),
        })
    }

    /// These settings with `change` applied; nothing changes on an error.
    pub fn changed(&self, change: &SettingsChange) -> anyhow::Result<SimSettings> {
        let mut next = self.clone();
        if let Some(rate) = change.approval_rate {
            next.approval_rate = check_rate(rate)?;
        }
        if let Some(specs) = &change.faults {
            next.faults = Faults::parse(specs)?;
        }
        if let Some(ms) = change.latency_ms {
            anyhow::ensure!(
                ms <= LATENCY_MS_MAX,
                "latency_ms is at most {LATENCY_MS_MAX}"
            );
            next.latency = Duration::from_millis(ms);
        }
        Ok(next)
    }

    pub fn to_wire(&self) -> SettingsChange {
        SettingsChange {
            approval_rate: Some(self.approval_rate),
            faults: Some(self.faults.specs()),
            latency_ms: Some(self.latency.as_millis() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_applies_what_it_names_and_refuses_nonsense_whole() {
        let base = SimSettings {
            approval_rate: 100,
            faults: Faults::default(),
            latency: Duration::ZERO,
        };
        let next = base
            .changed(&SettingsChange {
                approval_rate: Some(60),
                faults: Some(vec!["5xx:100".into()]),
                latency_ms: None,
            })
            .unwrap();
        assert_eq!(next.approval_rate, 60);
        assert_eq!(next.faults.roll(), Some(ProcessorFault::ServerError));
        assert!(base
            .changed(&SettingsChange {
                approval_rate: Some(101),
                ..Default::default()
            })
            .is_err());
        assert!(base
            .changed(&SettingsChange {
                faults: Some(vec!["boom:1".into()]),
                ..Default::default()
            })
            .is_err());
    }
}
