//! Failures of one address inside the jail's window.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// The failures of one address (or prefix) that are still inside `findtime`.
#[derive(Debug, Default)]
pub(crate) struct Window {
    failures: VecDeque<(SystemTime, u32)>,
}

impl Window {
    /// Adds a failure of weight `weight` at `time`, drops the ones that fell
    /// out of the window ending at `time`, and returns the weight inside.
    pub(crate) fn add(&mut self, time: SystemTime, weight: u32, findtime: Duration) -> u32 {
        let at = self
            .failures
            .iter()
            .rposition(|(t, _)| *t <= time)
            .map_or(0, |i| i + 1);
        self.failures.insert(at, (time, weight));
        let start = time.checked_sub(findtime).unwrap_or(SystemTime::UNIX_EPOCH);
        while self.failures.front().is_some_and(|(t, _)| *t < start) {
            self.failures.pop_front();
        }
        self.failures.iter().map(|(_, w)| *w).sum()
    }

    /// The newest failure's time.
    pub(crate) fn newest(&self) -> Option<SystemTime> {
        self.failures.back().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut w = Window::default();
        let find = Duration::from_secs(10);
        assert_eq!(w.add(at(100), 1, find), 1);
        assert_eq!(w.add(at(105), 1, find), 2);
        assert_eq!(w.add(at(112), 1, find), 2);
        assert_eq!(w.add(at(200), 3, find), 3);
        assert_eq!(w.newest(), Some(at(200)));
    }

    #[test]
    fn late_lines_are_placed_in_order() {
        let mut w = Window::default();
        let find = Duration::from_secs(10);
        w.add(at(120), 1, find);
        assert_eq!(w.add(at(115), 1, find), 2);
        assert_eq!(w.newest(), Some(at(120)));
    }
}
