//! A backend's health from its checks: `fall` failures in a row take it
//! down, `rise` successes in a row bring it back (HAProxy's rule).

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
}
