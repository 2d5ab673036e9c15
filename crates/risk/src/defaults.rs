//! The rule set every merchant starts with. Each default rule has a fixed
//! id; a merchant may update or disable it like any rule of its own.
//!
//! | id | rule |
//! |---|---|
//! | `rule_default_card_testing_ip` | `block if :cards_per_ip_address_hourly: > 5` |
//! | `rule_default_card_testing_customer` | `block if :cards_per_customer_hourly: > 5` |
//! | `rule_default_block_highest` | `block if :risk_level: = 'highest'` |
//!
//! The first two stop card testing: one IP address or one customer
//! trying more than five distinct cards within the hour is blocked from
//! the sixth card on. The third blocks what the score model calls the
//! highest risk.

pub const DEFAULT_RULES: &[(&str, &str, &str)] = &[
    (
        "rule_default_card_testing_ip",
        "block if :cards_per_ip_address_hourly: > 5",
        "Card testing: more than 5 distinct cards from one IP address within the hour.",
    ),
    (
        "rule_default_card_testing_customer",
        "block if :cards_per_customer_hourly: > 5",
        "Card testing: more than 5 distinct cards for one customer within the hour.",
    ),
    (
        "rule_default_block_highest",
        "block if :risk_level: = 'highest'",
        "Block payments with the highest risk level.",
    ),
];

/// The default rule's text and description, if `id` names one.
pub fn default_rule(id: &str) -> Option<(&'static str, &'static str)> {
    DEFAULT_RULES
        .iter()
        .find(|(rule_id, _, _)| *rule_id == id)
        .map(|(_, text, description)| (*text, *description))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_rules_parse() {
        for (_, text, _) in super::DEFAULT_RULES {
            crate::Rule::parse(text).unwrap();
        }
    }
}
