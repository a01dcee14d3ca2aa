//! Sending to the caller: batches and events over the channel, counters, and reporting each
//! problem once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Batch, SourceEvent, SourceStats, Update};

/// The caller stopped listening, or the follower is shutting down.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Counters of one source, shared with [`crate::Follower::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    lines: AtomicU64,
    bytes: AtomicU64,
    pub long_lines: AtomicU64,
    pub rotations: AtomicU64,
    pub truncations: AtomicU64,
}

impl Counters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> SourceStats {
        SourceStats {
            lines: self.lines.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            long_lines: self.long_lines.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            truncations: self.truncations.load(Ordering::Relaxed),
        }
    }
}

/// The sending side of a follower's tasks.
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    tx: mpsc::Sender<Update>,
    cancel: CancellationToken,
    counters: Arc<[Counters]>,
}

impl Emitter {
    /// An emitter sending on `tx` until `cancel`.
    pub(crate) fn new(
        tx: mpsc::Sender<Update>,
        cancel: CancellationToken,
        counters: Arc<[Counters]>,
    ) -> Emitter {
        Emitter {
            tx,
            cancel,
            counters,
        }
    }

    /// The counters of `source`.
    pub(crate) fn counters(&self, source: usize) -> &Counters {
        &self.counters[source]
    }

    /// The token that stops the follower.
    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Sends a batch (waiting while the channel is full) and counts its lines.
    pub(crate) async fn batch(&self, batch: Batch) -> Result<(), Stopped> {
        let counters = &self.counters[batch.source];
        let bytes: usize = batch.lines.iter().map(|l| l.text.len() + 1).sum();
        counters
            .lines
            .fetch_add(batch.lines.len() as u64, Ordering::Relaxed);
        counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.send(Update::Lines(batch)).await
    }

    /// Sends an event.
    pub(crate) async fn event(&self, event: SourceEvent) -> Result<(), Stopped> {
        self.send(Update::Event(event)).await
    }

    async fn send(&self, update: Update) -> Result<(), Stopped> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stopped),
            sent = self.tx.send(update) => sent.map_err(|_| Stopped),
        }
    }
}

/// What was last reported about a source, so each problem is reported once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum Latch {
    /// Nothing wrong (or nothing reported).
    #[default]
    Fine,
    /// Reported missing.
    Missing,
    /// Reported unreadable with this message.
    Failed(String),
}

impl Latch {
    /// Records that the source is missing; true if that is news.
    pub(crate) fn missing(&mut self) -> bool {
        std::mem::replace(self, Latch::Missing) != Latch::Missing
    }

    /// Records a failure; true if it differs from the last one reported.
    pub(crate) fn failed(&mut self, message: String) -> bool {
        let new = Latch::Failed(message);
        let news = *self != new;
        *self = new;
        news
    }

    /// Records that the source works; true if a problem had been reported.
    pub(crate) fn fine(&mut self) -> bool {
        std::mem::take(self) != Latch::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_reports_each_problem_once() {
        let mut latch = Latch::default();
        assert!(!latch.fine());
        assert!(latch.missing());
        assert!(!latch.missing());
        assert!(latch.failed("EACCES".into()));
        assert!(!latch.failed("EACCES".into()));
        assert!(latch.failed("EIO".into()));
        assert!(latch.fine());
        assert!(!latch.fine());
    }
}
