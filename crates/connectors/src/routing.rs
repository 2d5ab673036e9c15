//! [`Routed`]: the default connector, plus named connectors chosen per
//! merchant (the settings file's `[connectors.<name>]` with `merchants`).
//!
//! A routed connector's references are prefixed with `route:<name>:`, so
//! capture, void and refund reach the connector that authorized. Refund
//! status and cancellation (which name only our refund id) and `query`
//! (only our attempt id) ask the default connector first and the routed ones
//! after it when it does not know the id.

use crate::connector::{
    AttemptRecord, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, Connector, ConnectorError,
    RefundOutcome,
};
use std::sync::Arc;

/// One routed connector.
pub struct Route {
    pub name: String,
    pub connector: Arc<dyn Connector>,
    /// Merchant ids (`acct_…`) whose payments it takes.
    pub merchants: Vec<String>,
}

pub struct Routed {
    default: Arc<dyn Connector>,
    routes: Vec<Route>,
}

const PREFIX: &str = "route:";

impl Routed {
    pub fn new(default: Arc<dyn Connector>, routes: Vec<Route>) -> Routed {
        Routed { default, routes }
    }

    fn for_merchant(&self, merchant_id: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|route| route.merchants.iter().any(|m| m == merchant_id))
    }

    /// The connector a reference belongs to, and the reference it knows.
    fn for_reference<'a>(
        &'a self,
        reference: &'a str,
    ) -> Result<(&'a dyn Connector, &'a str), ConnectorError> {
        let Some(rest) = reference.strip_prefix(PREFIX) else {
            return Ok((self.default.as_ref(), reference));
        };
        let (name, inner) = rest
            .split_once(':')
            .ok_or_else(|| ConnectorError::UnknownReference(reference.to_owned()))?;
        let route = self
            .routes
            .iter()
            .find(|route| route.name == name)
            .ok_or_else(|| ConnectorError::UnknownReference(reference.to_owned()))?;
        Ok((route.connector.as_ref(), inner))
    }

    /// The default connector, then every route, in order.
    fn all(&self) -> impl Iterator<Item = &dyn Connector> {
        std::iter::once(self.default.as_ref())
            .chain(self.routes.iter().map(|r| r.connector.as_ref()))
    }
}

#[async_trait::async_trait]
impl Connector for Routed {
    fn name(&self) -> &'static str {
        self.default.name()
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
    ) -> Result<AuthorizeOutcome, ConnectorError> {
        let Some(route) = self.for_merchant(request.merchant_id) else {
            return self.default.authorize(request).await;
        };
        let outcome = route.connector.authorize(request).await?;
        Ok(outcome.map_reference(|reference| format!("{PREFIX}{}:{reference}", route.name)))
    }

    async fn capture(
        &self,
        reference: &str,
        amount_minor: i64,
    ) -> Result<CaptureOutcome, ConnectorError> {
        let (connector, inner) = self.for_reference(reference)?;
        connector.capture(inner, amount_minor).await
    }

    async fn void(&self, reference: &str) -> Result<(), ConnectorError> {
        let (connector, inner) = self.for_reference(reference)?;
        connector.void(inner).await
    }

    async fn refund(
        &self,
        reference: &str,
        refund_id: &str,
        amount_minor: i64,
    ) -> Result<RefundOutcome, ConnectorError> {
        let (connector, inner) = self.for_reference(reference)?;
        connector.refund(inner, refund_id, amount_minor).await
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundOutcome, ConnectorError> {
        let mut last = ConnectorError::UnknownReference(refund_id.to_owned());
        for connector in self.all() {
            match connector.refund_status(refund_id).await {
                Err(ConnectorError::UnknownReference(_)) => continue,
                Err(error) => last = error,
                answer => return answer,
            }
        }
        Err(last)
    }

    async fn cancel_refund(&self, refund_id: &str) -> Result<bool, ConnectorError> {
        match self.default.cancel_refund(refund_id).await {
            Err(ConnectorError::UnknownReference(_)) if !self.routes.is_empty() => Ok(false),
            answer => answer,
        }
    }

    async fn query(&self, attempt_id: &str) -> Result<Option<AttemptRecord>, ConnectorError> {
        for route in &self.routes {
            if let Some(mut record) = route.connector.query(attempt_id).await? {
                record.reference = format!("{PREFIX}{}:{}", route.name, record.reference);
                return Ok(Some(record));
            }
        }
        self.default.query(attempt_id).await
    }

    async fn recover_authorization(
        &self,
        attempt_id: &str,
    ) -> Result<Option<AttemptRecord>, ConnectorError> {
        for route in &self.routes {
            if let Some(mut record) = route.connector.recover_authorization(attempt_id).await? {
                record.reference = format!("{PREFIX}{}:{}", route.name, record.reference);
                return Ok(Some(record));
            }
        }
        self.default.recover_authorization(attempt_id).await
    }
}
