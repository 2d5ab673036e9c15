//! The sandbox journal's group commit, on one thread of its own.
//!
//! Calls decide and apply on their own (async) thread under the state's
//! short lock, leave their lines in `State::unwritten`, and wait for a
//! [`Durability`] answer. The syncer thread, woken by the state's condvar,
//! takes everything buffered and every call waiting, writes it in one
//! write and one `sync_data`, and answers them all. So a payment costs no
//! blocking-pool thread: before, every call in flight held one (waiting for
//! the leader's `sync_data`), and 64 connections kept ~60 threads alive,
//! each with its stack and its allocator heap.

use super::journal::Journal;
use super::{lost_to_panic, stopped, State};
use crate::connector::ConnectorError;
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;

/// Told once the decisions it waits for are on disk (or never will be).
pub(super) type Durability = oneshot::Sender<Result<(), ConnectorError>>;

/// The journal's writer thread; stopped and joined when dropped.
pub(super) struct Syncer {
    shared: Arc<Mutex<State>>,
    wake: Arc<Condvar>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    pub(super) fn start(
        journal: Journal,
        shared: Arc<Mutex<State>>,
        wake: Arc<Condvar>,
    ) -> std::io::Result<Syncer> {
        let (state, signal) = (shared.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("sandbox-journal".to_owned())
            .spawn(move || run(journal, &state, &signal))?;
        Ok(Syncer {
            shared,
            wake,
            thread: Some(thread),
        })
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.lock() {
            state.closing = true;
        }
        self.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits (without a thread of its own) until decision `seq` is on disk.
pub(super) async fn durable(
    shared: &Mutex<State>,
    wake: &Condvar,
    seq: u64,
) -> Result<(), ConnectorError> {
    let (sender, answered) = oneshot::channel();
    {
        let mut state = shared.lock().map_err(|_| lost_to_panic())?;
        if state.journal_failed {
            return Err(stopped());
        }
        if state.synced_seq >= seq {
            return Ok(());
        }
        state.waiting.push(sender);
    }
    wake.notify_one();
    answered.await.unwrap_or_else(|_| Err(stopped()))
}

/// One group commit per wake-up, until the acquirer is dropped with
/// nothing left to write.
fn run(mut journal: Journal, shared: &Mutex<State>, wake: &Condvar) {
    loop {
        let Some((lines, through_seq, waiting)) = next_group(shared, wake) else {
            return;
        };
        let written = journal.write_synced(&lines);
        let Ok(mut state) = shared.lock() else {
            return;
        };
        let answer = match written {
            Ok(()) => {
                state.synced_seq = through_seq;
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "sandbox journal write failed; the acquirer stops until recreated");
                state.journal_failed = true;
                Err(())
            }
        };
        drop(state);
        for waiter in waiting {
            let _ = waiter.send(answer.map_err(|()| stopped()));
        }
    }
}

/// Sleeps until there is something to write or a call waiting, then takes
/// the buffered lines, the last decision they hold and the calls waiting.
/// `None` once the acquirer is closing and nothing is left.
fn next_group(shared: &Mutex<State>, wake: &Condvar) -> Option<(Vec<u8>, u64, Vec<Durability>)> {
    let mut state = shared.lock().ok()?;
    while state.unwritten.is_empty() && state.waiting.is_empty() {
        if state.closing {
            return None;
        }
        state = wake.wait(state).ok()?;
    }
    if state.journal_failed {
        for waiter in std::mem::take(&mut state.waiting) {
            let _ = waiter.send(Err(stopped()));
        }
        state.unwritten.clear();
        return Some((Vec::new(), state.synced_seq, Vec::new()));
    }
    let lines = std::mem::take(&mut state.unwritten);
    let waiting = std::mem::take(&mut state.waiting);
    Some((lines, state.decided_seq, waiting))
}
