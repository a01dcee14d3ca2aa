//! A backend's health from its checks: `fall` failures in a row take it
//! down, `rise` successes in a row bring it back (HAProxy's rule).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Whether a backend takes connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Passing its checks (or not checked).
    Up,
    /// Failing its checks.
    Down,
}

/// A backend's check history.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Its state now.
    pub state: State,
    /// Checks in a row that disagree with `state`.
    streak: u32,
    /// When the last check ended.
    pub last_check: Option<SystemTime>,
    /// Why the last check failed; `None` after a good one.
    pub reason: Option<String>,
    /// When `state` last changed.
    pub since: SystemTime,
    /// Checks run.
    pub checks: u64,
    /// Checks failed.
    pub failures: u64,
}

impl Health {
    /// A backend starting in `state`.
    pub fn new(state: State) -> Self {
        Health {
            state,
            streak: 0,
            last_check: None,
            reason: None,
            since: SystemTime::now(),
            checks: 0,
            failures: 0,
        }
    }

    /// Counts a check's result; the new state when it changed.
    pub fn record(&mut self, result: Result<(), String>, fall: u32, rise: u32) -> Option<State> {
        let now = SystemTime::now();
        self.checks += 1;
        self.last_check = Some(now);
        let good = result.is_ok();
        if !good {
            self.failures += 1;
        }
        self.reason = result.err();
        let agrees = good == (self.state == State::Up);
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.state == State::Up { fall } else { rise };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.since = now;
        self.state = if good { State::Up } else { State::Down };
        Some(self.state)
    }
}

/// A backend as the memory knows it: its service's name and its address.
type BackendId = (String, SocketAddr);

/// The backends' health as the last run of the balance job left it, kept
/// by the daemon across reloads: a backend that stays (same service name,
/// address and port) keeps its state and check history, so a reload never
/// takes a dead backend for a live one.
#[derive(Debug, Clone, Default)]
pub struct Memory(Arc<Mutex<BTreeMap<BackendId, Health>>>);

impl Memory {
    /// The remembered health of backend `addr` of service `service`.
    pub fn recall(&self, service: &str, addr: SocketAddr) -> Option<Health> {
        self.lock().get(&(service.to_string(), addr)).cloned()
    }

    /// Replaces what is remembered with `backends` (service name, address, health).
    pub fn keep(&self, backends: impl IntoIterator<Item = (String, SocketAddr, Health)>) {
        let mut held = self.lock();
        held.clear();
        held.extend(backends.into_iter().map(|(s, a, h)| ((s, a), h)));
    }

    /// Forgets everything: a job that took what it needs clears the memory,
    /// so one that ends without leaving its own (ended abruptly) leaves
    /// nothing stale behind.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<BackendId, Health>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_and_rise_need_checks_in_a_row() {
        let mut h = Health::new(State::Up);
        let bad = || Err("connect: refused".to_string());
        assert_eq!(h.record(bad(), 3, 2), None);
        assert_eq!(h.record(Ok(()), 3, 2), None);
        assert_eq!(h.record(bad(), 3, 2), None);
        assert_eq!(h.record(bad(), 3, 2), None);
        assert_eq!(h.record(bad(), 3, 2), Some(State::Down));
        assert_eq!(h.reason.as_deref(), Some("connect: refused"));
        assert_eq!(h.record(Ok(()), 3, 2), None);
        assert_eq!(h.record(bad(), 3, 2), None);
        assert_eq!(h.record(Ok(()), 3, 2), None);
        assert_eq!(h.record(Ok(()), 3, 2), Some(State::Up));
        assert_eq!(h.reason, None);
        assert_eq!((h.checks, h.failures), (9, 5));
    }

    #[test]
    fn memory_recalls_a_backend_by_service_and_address() {
        let memory = Memory::default();
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let other: SocketAddr = "10.0.0.1:81".parse().unwrap();
        memory.keep([("web".to_string(), addr, Health::new(State::Down))]);
        assert_eq!(
            memory.recall("web", addr).map(|h| h.state),
            Some(State::Down)
        );
        assert_eq!(memory.recall("api", addr), None);
        assert_eq!(memory.recall("web", other), None);
        memory.clear();
        assert_eq!(memory.recall("web", addr), None);
    }
}
