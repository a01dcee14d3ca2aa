//! A jail's settings and fail2ban's ban-time arithmetic.

use std::time::Duration;

/// How long a ban lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanTime {
    /// For this long.
    For(Duration),
    /// For good (fail2ban's `bantime = -1`).
    Permanent,
}

/// `bantime.increment`: repeat offenders are banned for longer.
///
/// With `multipliers`, the n-th earlier ban multiplies the base time by the
/// n-th multiplier (the last one once they run out); otherwise the time
/// doubles with every earlier ban (fail2ban's default formula, `ban.Time *
/// (1 << min(ban.Count, 20)) * factor`), never below the base time. Then
/// `maxtime` caps it and `rndtime` adds up to that much at random.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    /// `bantime.factor`.
    pub factor: f64,
    /// `bantime.multipliers`.
    pub multipliers: Vec<u64>,
    /// `bantime.maxtime`.
    pub maxtime: Option<Duration>,
    /// `bantime.rndtime`.
    pub rndtime: Option<Duration>,
    /// `bantime.overalljails`: count earlier bans in every jail, not just this one.
    pub overalljails: bool,
}

impl Default for Increment {
    fn default() -> Self {
        Increment {
            factor: 1.0,
            multipliers: Vec::new(),
            maxtime: None,
            rndtime: None,
            overalljails: false,
        }
    }
}

impl Increment {
    /// The ban time after `earlier` earlier bans; `jitter` in [0, 1) scales `rndtime`.
    pub fn ban_time(&self, base: Duration, earlier: u32, jitter: f64) -> Duration {
        if earlier == 0 {
            return base;
        }
        let secs = base.as_secs_f64();
        let mut t = if self.multipliers.is_empty() {
            let doubling = f64::from(1u32 << earlier.min(20));
            (secs * doubling * self.factor).max(secs)
        } else {
            let i = (earlier as usize).min(self.multipliers.len() - 1);
            secs * self.factor * self.multipliers[i] as f64
        };
        if let Some(max) = self.maxtime {
            t = t.min(max.as_secs_f64());
        }
        if let Some(rnd) = self.rndtime {
            t += jitter.clamp(0.0, 1.0) * rnd.as_secs_f64();
        }
        Duration::from_secs_f64(t.max(0.0))
    }

    /// How many failures one failure of an address banned `earlier` times
    /// before counts for (fail2ban: 1, 2, 3, 5, 9, ...), so known offenders
    /// are banned sooner.
    pub fn failure_weight(earlier: u32) -> u32 {
        if earlier == 0 {
            1
        } else {
            (1u32 << earlier.min(20)) / 2 + 1
        }
    }
}

/// A jail's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct JailRules {
    /// The jail's name.
    pub name: String,
    /// Failures that trigger a ban.
    pub maxretry: u32,
    /// The window failures are counted in.
    pub findtime: Duration,
    /// How long a first ban lasts.
    pub bantime: BanTime,
    /// Longer bans for repeat offenders.
    pub increment: Option<Increment>,
    /// Count and ban IPv6 addresses by this prefix length (e.g. 64).
    pub v6_prefix: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_formula_doubles_and_caps() {
        let inc = Increment {
            maxtime: Some(Duration::from_secs(3000)),
            ..Increment::default()
        };
        let base = Duration::from_secs(600);
        assert_eq!(inc.ban_time(base, 0, 0.0), base);
        assert_eq!(inc.ban_time(base, 1, 0.0), Duration::from_secs(1200));
        assert_eq!(inc.ban_time(base, 2, 0.0), Duration::from_secs(2400));
        assert_eq!(inc.ban_time(base, 3, 0.0), Duration::from_secs(3000));
    }

    #[test]
    fn multipliers_run_out_on_the_last() {
        let inc = Increment {
            multipliers: vec![1, 5, 30],
            factor: 2.0,
            ..Increment::default()
        };
        let base = Duration::from_secs(60);
        assert_eq!(inc.ban_time(base, 1, 0.0), Duration::from_secs(600));
        assert_eq!(inc.ban_time(base, 2, 0.0), Duration::from_secs(3600));
        assert_eq!(inc.ban_time(base, 7, 0.0), Duration::from_secs(3600));
    }

    #[test]
    fn random_time_is_added_within_its_bound() {
        let inc = Increment {
            rndtime: Some(Duration::from_secs(100)),
            ..Increment::default()
        };
        let t = inc.ban_time(Duration::from_secs(10), 1, 0.5);
        assert_eq!(t, Duration::from_secs(70));
    }

    #[test]
    fn known_offenders_count_more() {
        let w: Vec<u32> = (0..5).map(Increment::failure_weight).collect();
        assert_eq!(w, [1, 2, 3, 5, 9]);
    }
}
