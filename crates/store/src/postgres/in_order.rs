//! Joins futures so that each is first polled only after every earlier one
//! has been, and every poll round visits them in index order.
//!
//! tokio-postgres sends a request when its future is first polled and the
//! server runs requests in the order they were sent, so this order of first
//! polls *is* the order of a pipeline's statements. It is kept here by
//! construction, not by a property of a general-purpose combinator
//! (`join_all` keeps it only below a size private to `futures-util`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls every future of `futures` in index order until all are done, and
/// answers their outputs in the same order.
pub(crate) async fn join_in_order<F: Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| poll_round(cx, &mut pending, &mut outputs)).await
}

/// One round: polls, in index order, each future not yet done.
fn poll_round<F: Future>(
    cx: &mut Context<'_>,
    pending: &mut [Pin<Box<F>>],
    outputs: &mut Vec<Option<F::Output>>,
) -> Poll<Vec<F::Output>> {
    let mut all_done = true;
    for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
        if output.is_some() {
            continue;
        }
        match future.as_mut().poll(cx) {
            Poll::Ready(value) => *output = Some(value),
            Poll::Pending => all_done = false,
        }
    }
    if !all_done {
        return Poll::Pending;
    }
    Poll::Ready(std::mem::take(outputs).into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::join_in_order;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Far more futures than any combinator's small-size threshold, each
    /// finishing at its own time (the last first): every one is started in
    /// index order, and the outputs come back in index order.
    #[tokio::test]
    async fn first_polls_and_outputs_follow_index_order() {
        const COUNT: usize = 200;
        let started = Arc::new(Mutex::new(vec![]));
        let futures = (0..COUNT).map(|index| {
            let started = Arc::clone(&started);
            async move {
                started.lock().unwrap().push(index);
                let delay = (COUNT - index) as u64 % 7;
                tokio::time::sleep(Duration::from_millis(delay)).await;
                index * 10
            }
        });
        let outputs = join_in_order(futures).await;
        assert_eq!(*started.lock().unwrap(), (0..COUNT).collect::<Vec<_>>());
        assert_eq!(outputs, (0..COUNT).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn no_futures_answer_at_once() {
        let outputs = join_in_order(Vec::<std::future::Ready<u8>>::new()).await;
        assert!(outputs.is_empty());
    }
}
