//! A wallet connector account (Alipay, WeChat Pay) as a connector, for
//! what follows a wallet payment: refunds and their status. The payment
//! itself is a trade the customer pays at the provider
//! (`payments::wallets`), so authorize, capture, void and query are
//! refused here. A wallet charge's reference is
//! `ca:<ca_…>:<out_trade_no>`; our refund id (`re_…`) is the provider's
//! idempotency key (Alipay `out_request_no`, WeChat Pay `out_refund_no`),
//! so a refund whose answer was lost is asked again as the same refund.

use crate::wallet_connections::WalletConnection;
use portcullis_connectors::wallets::{RefundStatus, WalletCallError};
use portcullis_connectors::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};

/// Stripe's `failure_reason` for a refund the provider closed or could
/// not complete (WeChat Pay `CLOSED`, `ABNORMAL`).
const FAILED_AT_PROVIDER: &str = "unknown";

/// The refunds of one wallet trade, through its account's provider.
pub struct WalletConnector {
    connection: WalletConnection,
    /// Our id of the paid trade.
    out_trade_no: String,
    /// What the trade was paid, in fen (WeChat Pay's `amount.total`).
    total_fen: i64,
}

impl WalletConnector {
    pub fn new(connection: WalletConnection, out_trade_no: String, total_fen: i64) -> Self {
        WalletConnector {
            connection,
            out_trade_no,
            total_fen,
        }
    }
}

fn refused(what: &str) -> ConnectorError {
    ConnectorError::Refused(format!("a wallet payment has no {what} at the provider"))
}

/// A provider call's error in the connector's terms: only a refusal (or
/// a call never sent) means nothing happened.
fn connector_error(error: WalletCallError) -> ConnectorError {
    match error {
        WalletCallError::Timeout => ConnectorError::Timeout,
        WalletCallError::Transport(message) => ConnectorError::Unavailable(message),
        WalletCallError::Unverified(message) | WalletCallError::Malformed(message) => {
            ConnectorError::InvalidResponse(message)
        }
        WalletCallError::Refused { code, message } => {
            ConnectorError::Refused(format!("{code} {message}"))
        }
        WalletCallError::Invalid(message) => ConnectorError::Refused(message),
    }
}

/// The provider's refund as an outcome, checked against the amount asked.
fn outcome_of(status: &RefundStatus, amount_fen: i64) -> Result<RefundOutcome, ConnectorError> {
    if status.amount_fen != amount_fen {
        return Err(ConnectorError::InvalidResponse(format!(
            "the provider refunded {} fen, not {amount_fen}",
            status.amount_fen
        )));
    }
    Ok(if status.succeeded {
        RefundOutcome::Succeeded
    } else {
        RefundOutcome::Pending
    })
}

/// WeChat Pay reports a refund it closed or could not pay out as a
/// refusal with its status as the code.
fn failed_or_error(error: WalletCallError) -> Result<RefundOutcome, ConnectorError> {
    match &error {
        WalletCallError::Refused { code, .. } if code == "CLOSED" || code == "ABNORMAL" => {
            Ok(RefundOutcome::Failed {
                reason: FAILED_AT_PROVIDER.to_owned(),
            })
        }
        _ => Err(connector_error(error)),
    }
}

#[async_trait::async_trait]
impl Connector for WalletConnector {
    fn name(&self) -> &'static str {
        match self.connection {
            WalletConnection::Alipay(_) => "alipay",
            WalletConnection::WechatPay(_) => "wechat_pay",
        }
    }

    async fn authorize(
        &self,
        _request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        Err(refused("authorization"))
    }

    async fn capture(
        &self,
        _reference: &str,
        _amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        Err(refused("separate capture"))
    }

    async fn void(&self, _reference: &str) -> Result<(), ConnectorError> {
        Err(refused("void"))
    }

    async fn refund(
        &self,
        _reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let answer = match &self.connection {
            WalletConnection::Alipay(client) => {
                client
                    .refund(&self.out_trade_no, refund_id, amount_minor)
                    .await
            }
            WalletConnection::WechatPay(client) => {
                client
                    .refund(&self.out_trade_no, refund_id, amount_minor, self.total_fen)
                    .await
            }
        };
        match answer {
            Ok(status) => outcome_of(&status, amount_minor),
            Err(error) => failed_or_error(error),
        }
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let answer = match &self.connection {
            WalletConnection::Alipay(client) => {
                client.refund_query(&self.out_trade_no, refund_id).await
            }
            WalletConnection::WechatPay(client) => client.refund_query(refund_id).await,
        };
        match answer {
            Ok(Some(status)) if status.succeeded => Ok(RefundOutcome::Succeeded),
            Ok(Some(_)) => Ok(RefundOutcome::Pending),
            Ok(None) => Err(ConnectorError::UnknownReference(refund_id.to_owned())),
            Err(error) => failed_or_error(error),
        }
    }

    /// Neither provider can take back a refund once asked: it is on its
    /// way to the buyer, as a settled one would be.
    async fn cancel_refund(&self, _refund_id: &str) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    async fn query(&self, _attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        Err(refused("authorization attempt"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(amount_fen: i64, succeeded: bool) -> RefundStatus {
        RefundStatus {
            provider_refund_id: None,
            amount_fen,
            succeeded,
        }
    }

    #[test]
    fn a_refund_of_another_amount_is_not_taken_as_ours() {
        assert_eq!(
            outcome_of(&status(100, true), 100),
            Ok(RefundOutcome::Succeeded)
        );
        assert_eq!(
            outcome_of(&status(50, false), 50),
            Ok(RefundOutcome::Pending)
        );
        assert!(matches!(
            outcome_of(&status(99, true), 100),
            Err(ConnectorError::InvalidResponse(_))
        ));
    }

    #[test]
    fn only_a_refusal_says_nothing_happened() {
        let closed = WalletCallError::Refused {
            code: "CLOSED".into(),
            message: String::new(),
        };
        assert!(matches!(
            failed_or_error(closed),
            Ok(RefundOutcome::Failed { .. })
        ));
        let timeout = failed_or_error(WalletCallError::Timeout).unwrap_err();
        assert!(timeout.outcome_is_unknown());
        let unverified = failed_or_error(WalletCallError::Unverified("sig".into())).unwrap_err();
        assert!(unverified.outcome_is_unknown());
        let refused = failed_or_error(WalletCallError::Refused {
            code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL".into(),
            message: "too much".into(),
        })
        .unwrap_err();
        assert!(!refused.outcome_is_unknown());
    }
}
