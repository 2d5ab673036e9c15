//! The two orders a writer's batches keep while two of them are in flight
//! (`BATCHES_IN_FLIGHT_MAX`): batch k+1 applies its documents while
//! batch k holds the chain head and commits, but
//!
//! - **documents in batch order**: batch k+1 takes its write sets from the
//!   queue and applies them only once batch k's documents are final (no
//!   redo, no write set undone after a refused append can follow), so
//!   every row batch k+1 inserts has a higher `seq` than batch k's;
//! - **commits in batch order**: batch k+1 commits only once batch k's
//!   `COMMIT` has answered (or batch k has failed).
//!
//! Together: within one instance rows become visible in `seq` order, as
//! with one batch at a time, so a client polling a list with
//! `ending_before` misses nothing. A batch's turns are given up when it
//! finishes in any way, a panic included (a dropped sender wakes the
//! receiver), so a failed batch never holds the next one back.

use tokio::sync::oneshot;

/// One batch's places in both orders.
#[derive(Default)]
pub(crate) struct Turns {
    /// Told when this batch's documents are final.
    documents_final: Option<oneshot::Sender<()>>,
    /// Answers once the batch before this one has committed or failed.
    previous_committed: Option<oneshot::Receiver<()>>,
    /// Told when this batch has committed or failed.
    committed: Option<oneshot::Sender<()>>,
}

/// Hands out [`Turns`] to batches in the order they are taken.
#[derive(Default)]
pub(crate) struct TurnOrder {
    /// Answers once the last batch handed out has final documents.
    documents_free: Option<oneshot::Receiver<()>>,
    /// Answers once the last batch handed out has committed or failed.
    last_committed: Option<oneshot::Receiver<()>>,
}

impl TurnOrder {
    /// Waits until the last batch handed out has final documents: the next
    /// batch may then be taken from the queue and applied.
    pub(crate) async fn documents_free(&mut self) {
        if let Some(free) = &mut self.documents_free {
            // An error means the batch ended without saying so: free too.
            let _ = free.await;
            self.documents_free = None;
        }
    }

    /// The turns of the next batch, after the last one handed out.
    pub(crate) fn next(&mut self) -> Turns {
        let (documents_final, documents_free) = oneshot::channel();
        let (committed, last_committed) = oneshot::channel();
        self.documents_free = Some(documents_free);
        Turns {
            documents_final: Some(documents_final),
            previous_committed: self.last_committed.replace(last_committed),
            committed: Some(committed),
        }
    }
}

impl Turns {
    /// This batch's documents are final: the next batch may apply its own.
    pub(crate) fn documents_final(&mut self) {
        if let Some(sender) = self.documents_final.take() {
            let _ = sender.send(());
        }
    }

    /// Waits until the batch before this one has committed or failed.
    pub(crate) async fn previous_committed(&mut self) {
        if let Some(previous) = &mut self.previous_committed {
            let _ = previous.await;
            self.previous_committed = None;
        }
    }

    /// This batch's `COMMIT` has answered: the next batch may commit.
    pub(crate) fn committed(&mut self) {
        self.documents_final();
        if let Some(sender) = self.committed.take() {
            let _ = sender.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TurnOrder;
    use std::time::Duration;

    async fn finished<F: std::future::Future>(future: F) -> bool {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_batch_waits_for_the_documents_and_the_commit_of_the_one_before() {
        let mut order = TurnOrder::default();
        assert!(finished(order.documents_free()).await, "the first is free");
        let mut first = order.next();
        assert!(finished(first.previous_committed()).await);
        assert!(!finished(order.documents_free()).await);
        first.documents_final();
        assert!(finished(order.documents_free()).await);
        let mut second = order.next();
        assert!(!finished(second.previous_committed()).await);
        first.committed();
        assert!(finished(second.previous_committed()).await);
    }

    #[tokio::test]
    async fn a_batch_that_ends_without_a_word_frees_both_turns() {
        let mut order = TurnOrder::default();
        let first = order.next();
        let mut second = order.next();
        drop(first);
        assert!(finished(second.previous_committed()).await);
        drop(second);
        assert!(finished(order.documents_free()).await);
    }
}
