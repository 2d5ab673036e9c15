//! `portcullis routing-bench`: how long the routing decision's pure part
//! takes — the candidates' order and the merchant's rules read oldest first
//! — with a rule set of a given size in which no rule matches until the
//! last (the worst case: every condition is evaluated), over a given number
//! of accounts. A command, not a test: figures move with the machine, so it
//! reports the machine beside them. The two store reads the payment path
//! adds (the accounts and the rules) are not part of it.

use crate::cli::RoutingBenchArgs;
use crate::risk_bench::print_latencies;
use portcullis_domain::cards::CardBrand;
use portcullis_domain::money::Currency;
use portcullis_routing::{decide, Candidate, Payment, RoutingRule, StoredRule};
use std::time::Instant;

/// Most rules, accounts and iterations a run may ask for.
const RULES_MAX: usize = 100;
const ACCOUNTS_MAX: usize = 100;
const ITERATIONS_MAX: usize = 10_000_000;

/// Rule shapes that do not match the bench's payment; `{a}`/`{b}` are
/// accounts, `{n}` makes each rule distinct.
const TEMPLATES: &[&str] = &[
    "route to {a} if :card_brand: = 'amex' and :amount_in_usd: > {n}000",
    "split {a} 70, {b} 30 if :currency: = 'eur' or :currency: = 'gbp'",
    "route to {b} if :metadata.tier: = 'gold{n}' and not :card_country: = 'US'",
    "split {a} 50, {b} 50 if (:card_funding: = 'prepaid' or :amount: > {n}0000) and :customer: = 'cus_{n}'",
    "prefer {b}, {a} if :payment_method_type: = 'wallet{n}'",
];

fn accounts(count: usize) -> Vec<Candidate> {
    (0..count)
        .map(|i| Candidate {
            id: format!("ca_bench{i:04}"),
            priority: (i % 7) as u16,
            created: i as i64,
            serves: i % 5 != 4,
        })
        .collect()
}

fn rules(count: usize, accounts: &[Candidate]) -> Vec<StoredRule> {
    (0..count)
        .map(|i| {
            let a = &accounts[i % accounts.len()].id;
            let b = &accounts[(i + 1) % accounts.len()].id;
            let text = if i + 1 == count {
                format!("split {a} 70, {b} 30 if :currency: = 'usd'")
            } else {
                TEMPLATES[i % TEMPLATES.len()]
                    .replace("{a}", a)
                    .replace("{b}", b)
                    .replace("{n}", &(i + 1).to_string())
            };
            let rule = RoutingRule::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            StoredRule {
                id: format!("rr_bench{i}"),
                rule,
            }
        })
        .collect()
}

fn payment() -> anyhow::Result<Payment> {
    Ok(Payment {
        amount_minor: 4_200,
        currency: Currency::parse("usd")?,
        amount_in_usd_cents: Some(4_200),
        card_brand: CardBrand::Visa,
        card_funding: Some("credit".to_owned()),
        card_country: Some("US".to_owned()),
        payment_method_type: "card".to_owned(),
        customer: Some("cus_bench".to_owned()),
        metadata: [("tier".to_owned(), "silver".to_owned())].into(),
    })
}

pub fn run(args: &RoutingBenchArgs) -> anyhow::Result<()> {
    let accounts_n = args.accounts.clamp(2, ACCOUNTS_MAX);
    let rules_n = args.rules.clamp(1, RULES_MAX);
    let iterations = args.iterations.clamp(1_000, ITERATIONS_MAX);
    let accounts = accounts(accounts_n);
    let rules = rules(rules_n, &accounts);
    let payment = payment()?;
    let mut samples_ns = Vec::with_capacity(iterations);
    for i in 0..iterations / 10 {
        std::hint::black_box(decide(&rules, &accounts, &payment, (i % 100) as u8));
    }
    for i in 0..iterations {
        let started = Instant::now();
        let decision = decide(&rules, &accounts, &payment, (i % 100) as u8);
        samples_ns.push(started.elapsed().as_nanos() as u64);
        std::hint::black_box(decision);
    }
    println!("routing decision: {rules_n} rules (only the last matches, so every condition is evaluated), {accounts_n} accounts, {iterations} iterations");
    let p99_us = print_latencies(&mut samples_ns);
    let verdict = if p99_us <= 50.0 { "within" } else { "OVER" };
    println!("target: p99 at most 50 µs — {verdict} (the store reads of accounts and rules are not included)");
    Ok(())
}
