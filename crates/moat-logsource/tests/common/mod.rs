//! Shared helpers: start a follower, collect what it sends.

use std::time::Duration;

use moat_logsource::{Follower, LogLine, Position, SourceEvent, SourceSpec, Update};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long to wait for expected lines before failing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A running follower and what it sent so far.
pub struct Run {
    pub follower: Follower,
    pub rx: mpsc::Receiver<Update>,
    pub lines: Vec<LogLine>,
    pub events: Vec<SourceEvent>,
    pub position: Option<Position>,
}

impl Run {
    /// Follows `sources`.
    pub fn start(sources: Vec<(SourceSpec, Option<Position>)>) -> Run {
        let (tx, rx) = mpsc::channel(64);
        let follower = Follower::spawn(sources, tx, &CancellationToken::new()).unwrap();
        Run {
            follower,
            rx,
            lines: Vec::new(),
            events: Vec::new(),
            position: None,
        }
    }

    /// Receives one update (false on timeout).
    async fn receive(&mut self, wait: Duration) -> bool {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(Update::Lines(batch))) => {
                assert!(!batch.lines.is_empty());
                self.position = Some(batch.position);
                self.lines.extend(batch.lines);
                true
            }
            Ok(Some(Update::Event(event))) => {
                self.events.push(event);
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// Waits until `n` lines in all were received, and returns their texts.
    pub async fn texts(&mut self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.lines.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                self.receive(left).await,
                "only {} of {n} lines, the last: {:?}; events: {:?}",
                self.lines.len(),
                self.lines
                    .iter()
                    .rev()
                    .take(5)
                    .map(|l| &l.text)
                    .collect::<Vec<_>>(),
                self.events
            );
        }
        self.lines.iter().map(|l| l.text.clone()).collect()
    }

    /// Receives whatever comes for `wait`.
    pub async fn settle(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.receive(left).await {
                return;
            }
        }
    }

    /// Waits for an event matching `pred`.
    pub async fn event(&mut self, pred: impl Fn(&SourceEvent) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.events.iter().any(&pred) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                self.receive(left).await,
                "event not seen: {:?}",
                self.events
            );
        }
    }

    /// Stops the follower and returns the last position.
    pub async fn stop(self) -> Option<Position> {
        self.follower.shutdown().await;
        self.position
    }
}
