//! The logger's counters, shared with the metrics job.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the packet logger has done since the daemon started.
#[derive(Debug, Default)]
pub struct LoggerStats {
    /// Lines written to the file.
    pub written: AtomicU64,
    /// Packets left out by the rate limit.
    pub rate_limited: AtomicU64,
    /// Packets the kernel could not hand over (gaps in its sequence numbers).
    pub lost: AtomicU64,
    /// Times the socket's buffer overran (ENOBUFS).
    pub overruns: AtomicU64,
    /// Lines that could not be written (disk full, ...).
    pub write_errors: AtomicU64,
}

/// A reading of [`LoggerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsReading {
    /// See [`LoggerStats::written`].
    pub written: u64,
    /// See [`LoggerStats::rate_limited`].
    pub rate_limited: u64,
    /// See [`LoggerStats::lost`].
    pub lost: u64,
    /// See [`LoggerStats::overruns`].
    pub overruns: u64,
    /// See [`LoggerStats::write_errors`].
    pub write_errors: u64,
}

impl LoggerStats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn read(&self) -> StatsReading {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsReading {
            written: get(&self.written),
            rate_limited: get(&self.rate_limited),
            lost: get(&self.lost),
            overruns: get(&self.overruns),
            write_errors: get(&self.write_errors),
        }
    }
}
