//! The risk check every payment passes before it reaches a connector.
//!
//! For now: the sandbox's risk test cards (by BIN and last four, since risk
//! never sees whole numbers) and the default rule that blocks the highest
//! risk level. The fraud and risk issue replaces this with signals, rules
//! and scores; the shape of [`Assessment`] is what the charge records.

use portcullis_domain::payment_methods::CardDetails;
use portcullis_domain::sandbox_cards::{sandbox_risk, SandboxRisk};

/// The default rule set's rule that blocks the riskiest payments.
pub const BLOCK_HIGHEST_RULE: &str = "block_if_risk_level_highest";
const ALWAYS_BLOCKED_RULE: &str = "block_if_card_always_blocked_in_sandbox";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// `normal`, `elevated` or `highest`.
    pub risk_level: &'static str,
    /// 0–100.
    pub risk_score: u8,
    /// The rule that blocks the payment, if one does.
    pub blocked_by: Option<&'static str>,
}

pub fn assess(card: &CardDetails, livemode: bool) -> Assessment {
    let sandbox = if livemode {
        None
    } else {
        sandbox_risk(&card.bin, &card.last4)
    };
    match sandbox {
        Some(SandboxRisk::AlwaysBlocked) => Assessment {
            risk_level: "highest",
            risk_score: 97,
            blocked_by: Some(ALWAYS_BLOCKED_RULE),
        },
        Some(SandboxRisk::Highest) => Assessment {
            risk_level: "highest",
            risk_score: 85,
            blocked_by: Some(BLOCK_HIGHEST_RULE),
        },
        Some(SandboxRisk::Elevated) => Assessment {
            risk_level: "elevated",
            risk_score: 65,
            blocked_by: None,
        },
        None => Assessment {
            risk_level: "normal",
            risk_score: 20,
            blocked_by: None,
        },
    }
}
