//! Portcullis connectors: the interface every acquirer implements, and the
//! built-in sandbox acquirer behind it.
//!
//! - [`connector`]: the [`Connector`] trait and its vocabulary (requests,
//!   outcomes, [`ConnectorError`] and which errors leave an outcome unknown).
//! - [`guard`]: [`Guarded`], which bounds every call in time and refuses
//!   answers that contradict the request (a connector answering garbage never
//!   yields "approved").
//! - [`remote`]: [`RemoteAcquirer`], a connector calling an acquirer in
//!   another process over HTTP/JSON (`portcullis sandbox-acquirer`).
//! - [`iso8583`]: [`Iso8583`], the connector over ISO 8583 to an acquirer
//!   host (persistent TCP session, automatic reversals), and the pieces
//!   `portcullis acquirer-sim` and the terminal listener share with it.
//! - [`processor`]: [`Processor`], the connector to an HTTP card processor
//!   of our published design (signed JSON, idempotency keys), the one
//!   `portcullis processor-sim` serves.
//! - [`routing`]: [`Routed`], the default connector plus connectors chosen
//!   per merchant.
//! - [`sandbox`]: [`SandboxAcquirer`], the test-card table of the API
//!   contract, with a journal that survives restarts.
//! - [`stripe`]: [`Stripe`], Stripe itself (or another gateway speaking
//!   its API, such as a second Portcullis) as an upstream institution.
//! - [`wallets`]: Alipay and WeChat Pay as HTTP clients (signed calls,
//!   verified answers, bounded in time) over `portcullis-wallets`.
//!
//! Invariants: this crate knows nothing of HTTP routing or SQL (it is an
//! HTTP *client* of remote acquirers, never a server); no type,
//! error message, log line or journal line here contains a card number or a
//! CVC (cards cross the interface only as the domain's secret types, whose
//! `Debug` shows at most the last four digits).

pub mod connector;
pub mod guard;
mod http_client;
pub mod iso8583;
pub mod processor;
pub mod remote;
pub mod routing;
pub mod sandbox;
pub mod stripe;
pub mod wallets;

pub use connector::{
    AttemptRecord, AttemptState, AuthorizeOutcome, AuthorizeRequest, CaptureOutcome, CardData,
    Connector, ConnectorError, CvcCheck, Decline, DeclineCode, DisputeNotice, RefundOutcome,
};
pub use guard::Guarded;
pub use iso8583::Iso8583;
pub use processor::Processor;
pub use remote::RemoteAcquirer;
pub use routing::{Route, Routed};
pub use sandbox::{network_decline, JournalError, SandboxAcquirer, SandboxOptions, UnlistedCards};
pub use stripe::Stripe;
