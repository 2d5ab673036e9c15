//! `portcullis risk-bench`: how long the risk check's pure part takes —
//! scoring a payment's signals and evaluating a merchant's rules — with
//! a rule set of a given size in which no rule fires (the worst case:
//! every rule is evaluated). A command, not a test: figures move with the
//! machine, so it reports the machine beside them.

use crate::cli::RiskBenchArgs;
use portcullis_risk::rules::Memberships;
use portcullis_risk::{score, Rule, RuleSet, Signal, SignalValue, Signals};
use std::time::Instant;

/// Most rules and iterations a run may ask for.
const RULES_MAX: usize = portcullis_risk::rules::RULES_MAX;
const ITERATIONS_MAX: usize = 10_000_000;

/// Rule shapes to cycle through; `{n}` makes each rule distinct.
const TEMPLATES: &[&str] = &[
    "block if :card_country: != :ip_country: and :amount_in_usd: > {n}000",
    "review if :authorized_charges_per_card_number_hourly: > {n}",
    "request_3ds if :risk_score: >= 9{n} and not :is_3d_secure_authenticated:",
    "block if :card_fingerprint: in @blocked_cards_{n}",
    "review if (:ip_country: = 'KP' or :ip_country: = 'IR') and :amount: > {n}",
    "block if :cards_per_ip_address_hourly: > 1{n} or :cards_per_customer_daily: > 2{n}",
    "review if :email: in @watched_emails_{n} and :card_funding: = 'prepaid'",
    "block if :impossible_travel: and :ip_distance_km: > {n}0000",
    "review if :amount_to_card_average: > 5{n} and :total_charges_per_email_daily: > {n}",
    "block if not (:card_brand: = 'visa' or :card_brand: = 'mastercard') and :amount_in_usd: > 9{n}000",
];

fn rule_set(count: usize) -> RuleSet {
    let rules = (0..count)
        .map(|i| {
            let text = TEMPLATES[i % TEMPLATES.len()].replace("{n}", &(i + 1).to_string());
            let rule = Rule::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            (format!("rule_bench_{i}"), std::sync::Arc::new(rule))
        })
        .collect();
    RuleSet::new(rules)
}

fn signals() -> Signals {
    let mut s = Signals::default();
    let text = |t: &str| SignalValue::text(t);
    for (signal, value) in [
        (Signal::Amount, SignalValue::count(42)),
        (Signal::AmountInUsd, SignalValue::count(42)),
        (Signal::CardCountry, text("US")),
        (Signal::IpCountry, text("US")),
        (Signal::CardBrand, text("visa")),
        (Signal::CardFunding, text("credit")),
        (Signal::CardFingerprint, text("fp_0123456789abcdef")),
        (Signal::Email, text("jenny@example.com")),
        (Signal::ImpossibleTravel, SignalValue::Bool(false)),
        (Signal::IpDistanceKm, SignalValue::count(12)),
        (Signal::IsAuthenticated, SignalValue::Bool(false)),
        (Signal::AuthorizedCardHourly, SignalValue::count(1)),
        (Signal::CardsPerIpHourly, SignalValue::count(1)),
        (Signal::CardsPerCustomerDaily, SignalValue::count(1)),
        (Signal::TotalEmailDaily, SignalValue::count(2)),
        (Signal::AmountToCardAverage, SignalValue::count(1)),
    ] {
        s.set(signal, value);
    }
    s
}

/// Prints the machine and the percentiles of `samples_ns` (sorted here);
/// answers the p99 in µs.
pub(crate) fn print_latencies(samples_ns: &mut [u64]) -> f64 {
    samples_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1_000.0;
    println!("machine: {}", machine());
    println!(
        "p50 {:.2} µs   p99 {:.2} µs   p99.9 {:.2} µs   max {:.2} µs",
        us(percentile(samples_ns, 500)),
        us(percentile(samples_ns, 990)),
        us(percentile(samples_ns, 999)),
        us(*samples_ns.last().unwrap_or(&0)),
    );
    us(percentile(samples_ns, 990))
}

fn percentile(sorted_ns: &[u64], per_mille: usize) -> u64 {
    let at = (sorted_ns.len() * per_mille / 1000).min(sorted_ns.len() - 1);
    sorted_ns[at]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("{cores} cores, {cpu}, {profile} build")
}

pub fn run(args: &RiskBenchArgs) -> anyhow::Result<()> {
    let rules_n = args.rules.clamp(1, RULES_MAX);
    let iterations = args.iterations.clamp(1_000, ITERATIONS_MAX);
    let rules = rule_set(rules_n);
    let base = signals();
    let lists = Memberships::default();
    let mut samples_ns = Vec::with_capacity(iterations);
    // Warm up caches and branch predictors before measuring.
    for _ in 0..iterations / 10 {
        std::hint::black_box(rules.evaluate(&base, &lists));
    }
    for _ in 0..iterations {
        let mut s = base.clone();
        let started = Instant::now();
        let scored = score::score(&s);
        score::record(&mut s, &scored);
        let decision = rules.evaluate(&s, &lists);
        samples_ns.push(started.elapsed().as_nanos() as u64);
        std::hint::black_box(decision);
    }
    println!("risk rule evaluation: {rules_n} rules (none firing, so every rule is evaluated), score + evaluate, {iterations} iterations");
    let p99_us = print_latencies(&mut samples_ns);
    let verdict = if p99_us < 200.0 { "within" } else { "OVER" };
    println!("target: p99 under 200 µs with 50 rules — {verdict}");
    Ok(())
}
