//! What `portcullis bench` prints: one line of text per phase, or with
//! `--json` one object that keeps the figures of the earlier reports at
//! its top level (the closed-loop payments phase against the baseline)
//! and lists every phase with its own figures in `phases`.

use super::load::{Measured, Phase, Target};
use crate::cli::BenchArgs;
use crate::harness::machine;
use serde_json::{json, Value};

/// One phase's settings and what it measured.
pub struct PhaseFigures {
    pub name: &'static str,
    pub instances: usize,
    pub connections: usize,
    pub rate: Option<f64>,
    pub duration_s: f64,
    /// `payments`, `echo` or `reads`.
    pub sends: &'static str,
    pub measured: Measured,
}

impl PhaseFigures {
    pub fn of(name: &'static str, phase: &Phase, measured: Measured) -> Self {
        Self {
            name,
            instances: phase.base_urls.len(),
            connections: phase.connections,
            rate: phase.rate,
            duration_s: phase.duration.as_secs_f64(),
            sends: match phase.target {
                Target::Payments => "payments",
                Target::Echo { .. } => "echo",
                Target::Reads { .. } => "reads",
            },
            measured,
        }
    }

    fn json(&self) -> Value {
        let m = &self.measured;
        let open_loop = |q: f64| m.open_loop_quantile_ms(q).map(|ms| round(ms, 3));
        json!({
            "name": self.name,
            "sends": self.sends,
            "instances": self.instances,
            "connections": self.connections,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "per_s": round(m.per_s(), 1),
            "ok": m.ok,
            "follow_up_requests": m.follow_ups,
            "errors": m.errors,
            "p50_ms": round(m.quantile_ms(0.5), 3),
            "p99_ms": round(m.quantile_ms(0.99), 3),
            "p999_ms": round(m.quantile_ms(0.999), 3),
            "max_ms": round(m.latency_us.max() as f64 / 1000.0, 3),
            "open_loop_p50_ms": open_loop(0.5),
            "open_loop_p99_ms": open_loop(0.99),
            "open_loop_p999_ms": open_loop(0.999),
        })
    }
}

pub struct Report<'a> {
    pub backend: &'a str,
    pub server_pids: &'a [u32],
    pub args: &'a BenchArgs,
    /// `baseline` first, then `payments_one_instance` (several instances),
    /// `payments`, `payments_open_loop` (with a rate).
    pub phases: &'a [PhaseFigures],
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
    /// What one payment writes (`--write-cost-payments`), counted.
    pub write_cost: Option<Value>,
    /// What `--seed-payments` wrote between the two payments phases.
    pub seeded: Option<&'a crate::seed::Seeded>,
    /// With `--terminals`: the ISO 8583 figures of the same run.
    pub terminals: Option<Value>,
}

impl Report<'_> {
    fn phase(&self, name: &str) -> Option<&Measured> {
        self.phases
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.measured)
    }

    fn value(&self) -> Value {
        let baseline = self.phase("baseline").expect("the baseline phase");
        let payments = self.phase("payments").expect("the payments phase");
        let ratio = payments.per_s() / baseline.per_s().max(f64::EPSILON);
        let scale_out = self
            .phase("payments_one_instance")
            .map(|one| round(payments.per_s() / one.per_s().max(f64::EPSILON), 3));
        let rss: Vec<Option<f64>> = self
            .server_pids
            .iter()
            .map(|pid| machine::rss_peak_mb(*pid).map(|mb| round(mb, 1)))
            .collect();
        let rss_peak_mb = rss.iter().flatten().copied().reduce(f64::max);
        let open_loop = self.phase("payments_open_loop");
        let seeded_ratio = self
            .phase("payments_seeded")
            .map(|seeded| round(seeded.per_s() / payments.per_s().max(f64::EPSILON), 3));
        let p99 = |name: &str| self.phase(name).map(|m| round(m.quantile_ms(0.99), 3));
        let mut value = json!({
            "backend": self.backend,
            "instances": self.args.instances,
            "connections": self.args.connections,
            "duration_s": self.args.duration_s,
            "warmup_s": self.args.warmup_s,
            "rate": self.args.rate,
            "payments_per_s": round(payments.per_s(), 1),
            "baseline_rps": round(baseline.per_s(), 1),
            "ratio": round(ratio, 4),
            "scale_out": scale_out,
            "p50_ms": round(payments.quantile_ms(0.5), 3),
            "p99_ms": round(payments.quantile_ms(0.99), 3),
            "p999_ms": round(payments.quantile_ms(0.999), 3),
            "max_ms": round(payments.latency_us.max() as f64 / 1000.0, 3),
            "open_loop_p99_ms": open_loop.and_then(|m| m.open_loop_quantile_ms(0.99)).map(|ms| round(ms, 3)),
            "open_loop_per_s": open_loop.map(|m| round(m.per_s(), 1)),
            "baseline_p50_ms": round(baseline.quantile_ms(0.5), 3),
            "baseline_p99_ms": round(baseline.quantile_ms(0.99), 3),
            "payments": payments.ok,
            "follow_up_requests": payments.follow_ups,
            "errors": self.phases.iter().map(|p| p.measured.errors).sum::<u64>(),
            "rss_peak_mb": rss_peak_mb,
            "rss_peak_mb_per_instance": rss,
            "phases": self.phases.iter().map(PhaseFigures::json).collect::<Vec<_>>(),
            "write_cost": self.write_cost,
            "seeded_payments": self.seeded.map(|s| s.payments),
            "seeded_customers": self.seeded.map(|s| s.customers),
            "seed_payments_per_s": self.seeded.map(|s| round(s.payments_per_s(), 1)),
            "seed_errors": self.seeded.map(|s| s.errors),
            "seeded_ratio": seeded_ratio,
            "list_p99_ms": p99("list_payment_intents"),
            "search_p99_ms": p99("search_customers"),
            "list_p99_ms_one_connection": p99("list_payment_intents_one_connection"),
            "search_p99_ms_one_connection": p99("search_customers_one_connection"),
            "load_avg_before": self.load_before,
            "load_avg_after": self.load_after,
            "cpus": machine::cpus(),
            "cpu_model": machine::cpu_model(),
            "build_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "load_generator": "same machine, same process as the report (hyper, one keep-alive connection per worker)",
        });
        if let Some(terminals) = &self.terminals {
            value["terminals"] = terminals.clone();
        }
        value
    }

    pub fn print(&self) {
        let value = self.value();
        if self.args.json {
            println!("{value}");
            return;
        }
        println!(
            "{} at {} connections, {} instance(s): {} payments/s, baseline {} requests/s, ratio {:.1} %",
            self.backend,
            self.args.connections,
            self.args.instances,
            value["payments_per_s"],
            value["baseline_rps"],
            value["ratio"].as_f64().unwrap_or_default() * 100.0
        );
        for phase in self.phases {
            let m = &phase.measured;
            let open_loop = m
                .open_loop_quantile_ms(0.99)
                .map(|ms| format!(", open-loop p99 {ms:.2} ms"))
                .unwrap_or_default();
            println!(
                "  {:<22} {} instance(s) {:>10.0}/s  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms{open_loop}  errors {}",
                phase.name,
                phase.instances,
                m.per_s(),
                m.quantile_ms(0.5),
                m.quantile_ms(0.99),
                m.quantile_ms(0.999),
                m.errors,
            );
        }
        if let Some(seeded) = self.seeded {
            println!(
                "  seeded {} payments and {} customers at {:.0}/s ({} errors); payments after seeding: {}× before; p99 list {} ms, search {} ms ({} and {} ms from one connection)",
                seeded.payments,
                seeded.customers,
                seeded.payments_per_s(),
                seeded.errors,
                value["seeded_ratio"],
                value["list_p99_ms"],
                value["search_p99_ms"],
                value["list_p99_ms_one_connection"],
                value["search_p99_ms_one_connection"],
            );
        }
        if let Some(write_cost) = &self.write_cost {
            println!("  write cost per payment: {write_cost}");
        }
        if let Some(scale_out) = value["scale_out"].as_f64() {
            println!("  scale-out: {scale_out:.2}× one instance");
        }
        if let Some(terminals) = &self.terminals {
            println!(
                "  ISO 8583: codec {} messages/s on one core; terminals {} authorizations/s over {} connections ({} of HTTP payments/s)",
                terminals["codec_messages_per_s_per_core"],
                terminals["authorizations_per_s"],
                terminals["connections"],
                terminals["ratio_to_http_payments"],
            );
        }
        println!(
            "server peak RSS {} MB; load {} → {}",
            value["rss_peak_mb"],
            load_text(self.load_before),
            load_text(self.load_after),
        );
    }
}

/// The 1, 5 and 15 minute load averages as "1.20 0.80 0.40", or "unknown".
fn load_text(load: Option<[f64; 3]>) -> String {
    match load {
        Some([one, five, fifteen]) => format!("{one:.2} {five:.2} {fifteen:.2}"),
        None => "unknown".to_owned(),
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
