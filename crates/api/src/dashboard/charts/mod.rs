//! The charts page: payment volume per day with a 14-day forecast band and
//! anomalies ([`forecast`]), authorization rate, decline reasons, payments
//! blocked as fraud, latency p50/p99 per route ([`latency`]) and the
//! webhook backlog, drawn as SVG on the server ([`svg`]). Each chart's
//! numbers are also given as a table.
//!
//! The figures come from the merchant's charges of the last
//! [`HISTORY_DAYS`] days (test mode, at most [`CHARGES_READ_MAX`] of
//! them): volume is the succeeded charges' amounts in the currency most
//! charges use, summed as integers; the authorization rate is succeeded
//! over succeeded and failed.

pub mod forecast;
pub mod latency;
pub mod svg;

use super::layout::error_page;
use super::pages::{money, start, Start};
use super::users::Permission;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::ApiRequest;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_domain::money::Currency;
use portcullis_store::{
    CreatedRange, DeliveryFilter, DeliveryState, ListQuery, PageCursor, Scope, Table,
};
use serde_json::Value;
use std::collections::BTreeMap;

pub const HISTORY_DAYS: usize = 56;
pub const FORECAST_DAYS: usize = 14;
pub const CHARGES_READ_MAX: usize = 20_000;
const PAGE: usize = 100;
const DAY_S: i64 = 86_400;

/// What one day's charges add up to.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Day {
    pub volume_minor: i64,
    pub succeeded: u64,
    pub failed: u64,
    pub blocked: u64,
}

#[derive(Default, Debug)]
pub struct Figures {
    pub currency: Option<Currency>,
    pub days: Vec<Day>,
    pub declines: BTreeMap<String, u64>,
    pub truncated: bool,
}

/// Adds the charges (as stored) into per-day figures; `first_day` is the
/// Unix second the first day starts. Amounts in other currencies than the
/// most used one are left out of the volume.
pub fn tally(charges: &[Value], first_day: i64, days: usize) -> ApiResult<Figures> {
    let mut by_currency: BTreeMap<String, usize> = BTreeMap::new();
    for c in charges {
        *by_currency
            .entry(c["currency"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let main = by_currency
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c);
    let mut figures = Figures {
        currency: main.as_deref().and_then(|c| Currency::parse(c).ok()),
        days: vec![Day::default(); days],
        ..Figures::default()
    };
    for c in charges {
        let created = c["created"].as_i64().unwrap_or(0);
        let index = (created - first_day).div_euclid(DAY_S);
        let Some(day) = usize::try_from(index)
            .ok()
            .and_then(|i| figures.days.get_mut(i))
        else {
            continue;
        };
        let kind = c["outcome"]["kind"].as_str().unwrap_or_default();
        match c["status"].as_str() {
            Some("succeeded") => {
                day.succeeded += 1;
                if c["currency"].as_str() == main.as_deref() {
                    let amount = c["amount_minor"].as_i64().unwrap_or(0);
                    day.volume_minor = day
                        .volume_minor
                        .checked_add(amount)
                        .ok_or_else(|| ApiError::internal(&"daily volume overflows"))?;
                }
            }
            Some("failed") => {
                day.failed += 1;
                if kind == "blocked" {
                    day.blocked += 1;
                } else {
                    let reason = c["failure_code"]
                        .as_str()
                        .or(c["outcome"]["reason"].as_str())
                        .unwrap_or("unknown");
                    *figures.declines.entry(reason.to_owned()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    Ok(figures)
}

async fn read_charges(
    state: &AppState,
    scope: &Scope,
    since: i64,
) -> ApiResult<(Vec<Value>, bool)> {
    let mut charges = vec![];
    let mut cursor = PageCursor::Newest;
    loop {
        let page = state
            .store
            .list(
                Table::Charges,
                &ListQuery {
                    scope: scope.clone(),
                    filters: vec![],
                    one_of: vec![],
                    created: CreatedRange {
                        gte: Some(since),
                        ..CreatedRange::default()
                    },
                    cursor,
                    limit: PAGE,
                },
            )
            .await?;
        for doc in &page.docs {
            charges.push(serde_json::from_str(&doc.body).map_err(|e| ApiError::internal(&e))?);
        }
        match page.docs.last() {
            Some(last) if page.has_more && charges.len() < CHARGES_READ_MAX => {
                cursor = PageCursor::StartingAfter(last.id.clone());
            }
            _ => return Ok((charges, page.has_more)),
        }
    }
}

pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: String,
    pub table: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/charts.html")]
struct ChartsPage {
    l: super::layout::Layout,
    charts: Vec<Chart>,
    note: &'static str,
    anomalies: Vec<String>,
    truncated: bool,
}

fn day_label(day_start: i64) -> String {
    let (_, m, d) = portcullis_domain::civil_from_days(day_start.div_euclid(DAY_S));
    format!("{m:02}-{d:02}")
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut request: ApiRequest,
) -> Response {
    let s = match start(&state, &headers, &mut request, Permission::ViewPayments).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(err) = std::mem::take(&mut request.params).finish() {
        return error_page(&state, s.loc, &err);
    }
    match charts_page(&state, &s).await {
        Ok(page) => super::layout::page(&state, &page, s.lang_named.then_some(s.loc)),
        Err(err) => error_page(&state, s.loc, &err),
    }
}

async fn charts_page(state: &AppState, s: &Start) -> ApiResult<ChartsPage> {
    let t = super::texts::of(s.loc);
    let scope = s.signed.scope();
    let today = state.now().div_euclid(DAY_S) * DAY_S;
    let first_day = today - (HISTORY_DAYS as i64 - 1) * DAY_S;
    let (charges, truncated) = read_charges(state, &scope, first_day).await?;
    let figures = tally(&charges, first_day, HISTORY_DAYS)?;
    let labels: Vec<String> = (0..HISTORY_DAYS + FORECAST_DAYS)
        .map(|i| day_label(first_day + i as i64 * DAY_S))
        .collect();
    let history_labels = &labels[..HISTORY_DAYS];
    let (volume, anomalies) = volume_chart(&figures, &labels, s, t.chart_volume);
    let rate: Vec<Option<f64>> = figures
        .days
        .iter()
        .map(|d| {
            let tried = d.succeeded + d.failed;
            (tried > 0).then(|| 100.0 * d.succeeded as f64 / tried as f64)
        })
        .collect();
    let auth = svg::line_chart(&svg::LineChart {
        id: "chart-auth-rate",
        title: t.chart_auth_rate,
        description: "% succeeded of succeeded and failed charges",
        x_labels: history_labels,
        series: &[svg::Series {
            name: "%".into(),
            values: rate.clone(),
        }],
        band: None,
        anomalies: &[],
    });
    let mut declines: Vec<(String, f64)> = figures
        .declines
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    declines.sort_by(|a, b| b.1.total_cmp(&a.1));
    let blocked: Vec<Option<f64>> = figures
        .days
        .iter()
        .map(|d| Some(d.blocked as f64))
        .collect();
    let latency = latency::busiest(10);
    let mut latency_bars = vec![];
    for (route, p50, p99, _) in &latency {
        latency_bars.push((format!("{route} p50"), *p50 as f64 / 1000.0));
        latency_bars.push((format!("{route} p99"), *p99 as f64 / 1000.0));
    }
    let backlog = backlog(state, &scope).await?;
    let charts = vec![
        volume,
        Chart {
            id: "chart-auth-rate",
            title: t.chart_auth_rate,
            svg: auth,
            table: history_labels
                .iter()
                .zip(&rate)
                .filter_map(|(l, r)| r.map(|r| (l.clone(), format!("{r:.1} %"))))
                .collect(),
        },
        Chart {
            id: "chart-declines",
            title: t.chart_declines,
            svg: svg::bar_chart(
                "chart-declines",
                t.chart_declines,
                "Failed charges by decline code",
                &declines,
            ),
            table: declines
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v}")))
                .collect(),
        },
        Chart {
            id: "chart-blocked",
            title: t.chart_blocked,
            svg: svg::line_chart(&svg::LineChart {
                id: "chart-blocked",
                title: t.chart_blocked,
                description: "Charges blocked by risk rules or the risk score, per day",
                x_labels: history_labels,
                series: &[svg::Series {
                    name: "blocked".into(),
                    values: blocked,
                }],
                band: None,
                anomalies: &[],
            }),
            table: history_labels
                .iter()
                .zip(&figures.days)
                .filter(|(_, d)| d.blocked > 0)
                .map(|(l, d)| (l.clone(), d.blocked.to_string()))
                .collect(),
        },
        Chart {
            id: "chart-latency",
            title: t.chart_latency,
            svg: svg::bar_chart(
                "chart-latency",
                t.chart_latency,
                "p50 and p99 in milliseconds of the busiest routes since start",
                &latency_bars,
            ),
            table: latency_bars
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v:.1} ms")))
                .collect(),
        },
        Chart {
            id: "chart-backlog",
            title: t.chart_backlog,
            svg: svg::bar_chart(
                "chart-backlog",
                t.chart_backlog,
                "Deliveries waiting per webhook endpoint",
                &backlog,
            ),
            table: backlog
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v}")))
                .collect(),
        },
    ];
    Ok(ChartsPage {
        l: super::layout::Layout::signed(&s.signed, s.loc, t.charts, "/dashboard/charts"),
        charts,
        note: t.forecast_note,
        anomalies: anomalies.iter().map(|&i| labels[i].clone()).collect(),
        truncated,
    })
}

fn volume_chart(
    figures: &Figures,
    labels: &[String],
    s: &Start,
    title: &'static str,
) -> (Chart, Vec<usize>) {
    let scale = figures
        .currency
        .map_or(1.0, |c| 10f64.powi(i32::from(c.exponent())));
    let history: Vec<f64> = figures
        .days
        .iter()
        .map(|d| d.volume_minor as f64 / scale)
        .collect();
    let fit = forecast::holt_winters(&history, FORECAST_DAYS);
    let mut actual: Vec<Option<f64>> = history.iter().copied().map(Some).collect();
    actual.resize(HISTORY_DAYS + FORECAST_DAYS, None);
    let (mut mean, mut lower, mut upper) = (
        vec![None; HISTORY_DAYS],
        vec![None; HISTORY_DAYS],
        vec![None; HISTORY_DAYS],
    );
    let anomalies = fit
        .as_ref()
        .map(|f| f.anomalies.clone())
        .unwrap_or_default();
    if let Some(f) = &fit {
        // The forecast starts from the last day seen, so the lines join.
        mean[HISTORY_DAYS - 1] = history.last().copied();
        mean.extend(f.mean.iter().map(|v| Some(v.max(0.0))));
        lower.extend(f.lower.iter().map(|v| Some(v.max(0.0))));
        upper.extend(f.upper.iter().map(|v| Some(v.max(0.0))));
    }
    let code = figures.currency.map_or("", |c| c.as_str()).to_uppercase();
    let series = [
        svg::Series {
            name: format!("{code}"),
            values: actual,
        },
        svg::Series {
            name: "forecast".into(),
            values: mean,
        },
    ];
    let svg = svg::line_chart(&svg::LineChart {
        id: "chart-volume",
        title,
        description: "Succeeded charges' amounts per day (major units), the next 14 days forecast with a 95 % band, anomalies circled",
        x_labels: labels,
        series: &series,
        band: fit.is_some().then_some((lower.as_slice(), upper.as_slice())),
        anomalies: &anomalies,
    });
    let currency = figures.currency.map_or("usd", |c| c.as_str());
    let table = labels
        .iter()
        .zip(&figures.days)
        .filter(|(_, d)| d.volume_minor > 0)
        .map(|(l, d)| (l.clone(), money(d.volume_minor, currency, s.loc)))
        .collect();
    (
        Chart {
            id: "chart-volume",
            title,
            svg,
            table,
        },
        anomalies,
    )
}

/// Pending deliveries per endpoint (at most 100 counted per endpoint).
async fn backlog(state: &AppState, scope: &Scope) -> ApiResult<Vec<(String, f64)>> {
    let mut bars = vec![];
    for e in super::pages::list_json(state, Table::WebhookEndpoints, scope, vec![], 50).await? {
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        let filter = DeliveryFilter::Endpoint {
            endpoint_id: id.clone(),
            starting_after: None,
        };
        let page = state.store.list_deliveries(scope, &filter, 100).await?;
        let pending = page
            .deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .count();
        bars.push((id, pending as f64));
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn charges_add_up_per_day_in_the_main_currency() {
        let charge = |day: i64,
                      status: &str,
                      amount: i64,
                      currency: &str,
                      kind: &str,
                      code: Option<&str>| {
            json!({"created": 1_000 * DAY_S + day * DAY_S + 5, "status": status, "amount_minor": amount,
                   "currency": currency, "outcome": {"kind": kind}, "failure_code": code})
        };
        let charges = vec![
            charge(0, "succeeded", 1_000, "usd", "authorized", None),
            charge(0, "succeeded", 250, "usd", "authorized", None),
            charge(0, "succeeded", 9_999, "eur", "authorized", None),
            charge(
                1,
                "failed",
                500,
                "usd",
                "issuer_declined",
                Some("card_declined"),
            ),
            charge(1, "failed", 500, "usd", "blocked", None),
            charge(9, "succeeded", 1, "usd", "authorized", None),
        ];
        let f = tally(&charges, 1_000 * DAY_S, 3).unwrap();
        assert_eq!(f.currency.unwrap().as_str(), "usd");
        assert_eq!(
            f.days[0],
            Day {
                volume_minor: 1_250,
                succeeded: 3,
                failed: 0,
                blocked: 0
            }
        );
        assert_eq!(
            f.days[1],
            Day {
                volume_minor: 0,
                succeeded: 0,
                failed: 2,
                blocked: 1
            }
        );
        assert_eq!(f.declines.get("card_declined"), Some(&1));
        assert_eq!(f.declines.len(), 1);
    }
}
