//! The rate limit on lines written: a token bucket of one second's worth
//! of lines, counting what it leaves out so the log can say so.

use std::time::Instant;

/// At most `per_second` lines a second, with bursts of as many.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl RateLimit {
    /// A full bucket for `per_second` lines a second.
    pub fn new(per_second: u32) -> Self {
        RateLimit {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            last: Instant::now(),
            dropped: 0,
        }
    }

    /// Whether a line may be written at `now`; counts it as dropped if not.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.per_second);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// The lines dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_refills() {
        let start = Instant::now();
        let mut l = RateLimit::new(10);
        let passed = (0..25).filter(|_| l.allow(start)).count();
        assert_eq!(passed, 10);
        assert_eq!(l.take_dropped(), 15);
        assert_eq!(l.take_dropped(), 0);
        let later = start + Duration::from_millis(500);
        let passed = (0..10).filter(|_| l.allow(later)).count();
        assert_eq!(passed, 5, "half a second gives five lines");
    }
}
