//! Starting the followers of a set of sources, their counters, and stopping them.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::emit::{Counters, Emitter};
use crate::files::{FileSpec, Files};
use crate::journal::Journal;
use crate::position::Kind;
use crate::watch::Registry;
use crate::{LogSourceError, Position, SourceSpec, SourceStats, Update};

/// The followers of a set of sources: one task for all files (one inotify instance), one task
/// per journal source (one journalctl each). Dropping it stops them, as does cancelling the
/// token given to [`Follower::spawn`].
#[derive(Debug)]
pub struct Follower {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    counters: Arc<[Counters]>,
}

impl Follower {
    /// Starts following `sources`, each from its saved position or, without one, from its end
    /// (files: every line completed after this returns is delivered; journal: entries from
    /// shortly after, once journalctl has started). Updates go to `tx`;
    /// a full channel holds reading back (nothing is dropped). Stops when `cancel` is cancelled,
    /// when the follower is dropped, or when `tx`'s receiver is gone. A position of the wrong
    /// kind for its source is ignored. Must be called within a tokio runtime with its I/O and
    /// time drivers enabled.
    pub fn spawn(
        sources: Vec<(SourceSpec, Option<Position>)>,
        tx: mpsc::Sender<Update>,
        cancel: &CancellationToken,
    ) -> Result<Follower, LogSourceError> {
        let cancel = cancel.child_token();
        let counters: Arc<[Counters]> = sources.iter().map(|_| Counters::default()).collect();
        let emitter = Emitter::new(tx, cancel.clone(), counters.clone());
        let mut files = Vec::new();
        let mut tasks = Vec::new();
        for (index, (spec, position)) in sources.into_iter().enumerate() {
            let position = position.map(|p| p.0);
            match spec {
                SourceSpec::File(path) => files.push(FileSpec {
                    index,
                    path,
                    position: match position {
                        Some(Kind::File(p)) => Some(p),
                        _ => None,
                    },
                }),
                SourceSpec::Journal { matches, directory } => {
                    let position = match position {
                        Some(Kind::Journal(p)) => Some(p),
                        _ => None,
                    };
                    let journal =
                        Journal::new(index, matches, directory, position, emitter.clone());
                    tasks.push(tokio::spawn(journal.run()));
                }
            }
        }
        if !files.is_empty() {
            let events = inotify::Inotify::init()
                .and_then(|inotify| inotify.into_event_stream(vec![0u8; 16 * 1024]))
                .map_err(LogSourceError::Inotify);
            let events = match events {
                Ok(events) => events,
                Err(e) => {
                    cancel.cancel();
                    return Err(e);
                }
            };
            let files = Files::new(files, Registry::new(events.watches()), emitter);
            tasks.push(tokio::spawn(files.run(events)));
        }
        Ok(Follower {
            cancel,
            tasks,
            counters,
        })
    }

    /// Counters per source (same order as the sources given to [`Follower::spawn`]).
    pub fn stats(&self) -> Vec<SourceStats> {
        self.counters.iter().map(Counters::snapshot).collect()
    }

    /// Stops following and waits until every task has ended (journalctl processes are killed).
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
