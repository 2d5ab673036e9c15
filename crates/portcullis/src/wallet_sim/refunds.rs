//! Refunds held PROCESSING by a fault ([`super::faults`]) and how they
//! end: on the next refund query, or when the test (or the operator)
//! resolves them with `POST /sim/refunds/{out_refund_no}/resolve`. A WeChat
//! Pay refund that ends is then announced to its `notify_url`
//! (`REFUND.SUCCESS`, `REFUND.ABNORMAL` or `REFUND.CLOSED`), as WeChat Pay
//! does; Alipay sends no refund notification.

use super::book::{Provider, ResolveOn};
use super::notify::{self, Event, NotifyFault};
use super::SharedSim;

/// Resolves refund `out_refund_no` if a fault holds it PROCESSING; its
/// status after, or `None` when no held refund has that number.
pub fn resolve(sim: &SharedSim, out_refund_no: &str) -> Option<String> {
    resolve_when(sim, out_refund_no, None)
}

/// Resolves refund `out_refund_no` of `provider` when it waits for a query.
pub fn resolve_on_query(sim: &SharedSim, provider: Provider, out_refund_no: &str) {
    resolve_when(sim, out_refund_no, Some((provider, ResolveOn::Query)));
}

fn resolve_when(
    sim: &SharedSim,
    out_refund_no: &str,
    only: Option<(Provider, ResolveOn)>,
) -> Option<String> {
    let mut book = sim.book.lock();
    let mut trade = book.all().into_iter().find(|t| {
        t.refund(out_refund_no)
            .and_then(|r| r.processing.as_ref())
            .is_some_and(|held| only.is_none_or(|(p, on)| t.provider == p && held.on == on))
    })?;
    let refund = trade
        .refunds
        .iter_mut()
        .find(|r| r.out_refund_no == out_refund_no)?;
    refund.resolve();
    let resolved = refund.clone();
    if let Err(error) = book.put(trade.clone()) {
        tracing::error!(%error, "wallet-sim: could not record a resolved refund");
        return None;
    }
    drop(book);
    tracing::info!(out_refund_no, status = %resolved.status, "wallet-sim: refund resolved");
    if trade.provider == Provider::WechatPay && resolved.notify_url.is_some() {
        trade.notify_url = resolved.notify_url.clone();
        trade.refunds = vec![resolved.clone()];
        notify::dispatch(sim.clone(), trade, Event::Refunded, NotifyFault::None);
    }
    Some(resolved.status)
}
