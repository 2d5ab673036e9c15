//! The processor simulator's faults. `5xx` strikes before the request is
//! acted on (the processor refuses it at the door: nothing happened); the
//! others strike after it was acted on and journaled, so the caller may not
//! hear of an authorization that did happen (what `query` is for): `drop`
//! never answers (the connection stays open), `late` answers after
//! [`LATE`], `close` closes the connection instead of answering, `garbage`
//! answers unsigned bytes that are no JSON. Faults strike the money-moving
//! calls only (authorize, capture, refund); void, cancel and the status
//! queries are always answered, so a caller can always find out.

use crate::faults::FaultKind;
use std::time::Duration;

/// How late a `late` answer comes: longer than any caller's timeout.
pub const LATE: Duration = Duration::from_secs(10);
/// How long a `drop` keeps the caller waiting before giving up the socket.
pub const DROP_HOLD: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessorFault {
    Drop,
    Late,
    Close,
    Garbage,
    ServerError,
}

impl FaultKind for ProcessorFault {
    const KINDS: &'static [(&'static str, ProcessorFault)] = &[
        ("drop", ProcessorFault::Drop),
        ("late", ProcessorFault::Late),
        ("close", ProcessorFault::Close),
        ("garbage", ProcessorFault::Garbage),
        ("5xx", ProcessorFault::ServerError),
    ];
}
