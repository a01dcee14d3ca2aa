//! One jail's decisions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use crate::ignore::{canonical, IgnoreList, IgnoreReason};
use crate::order::{BanOrder, Failure, Origin};
use crate::rules::{BanTime, Increment, JailRules};
use crate::window::Window;

/// What the engine made of one failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Counted; no ban yet.
    Counted {
        /// The weight of failures inside the window now.
        failures: u32,
    },
    /// Ban this.
    Ban(BanOrder),
    /// Never banned (the reason says why).
    Ignored(IgnoreReason),
    /// The address is banned already (a line read after its ban).
    AlreadyBanned,
    /// The failure is older than the window: not counted (so a restart
    /// that reads old lines bans nobody for them).
    Stale,
}

/// What the engine asks about bans it did not order itself: the store's
/// history, and the bans the kernel holds (restored at start, recorded
/// before a crash, made by hand).
pub trait BanLookup {
    /// How often `target` was banned before.
    fn earlier_bans(&mut self, target: IpNet) -> u32;
    /// When the ban `target` is under now ends (`Some(None)`: never);
    /// `None` when it is not banned.
    fn current_ban(&mut self, target: IpNet, now: SystemTime) -> Option<Option<SystemTime>>;
}

/// A history alone: earlier bans from the function, no ban held elsewhere
/// (`moat jail test`, tests).
impl<F: FnMut(IpNet) -> u32> BanLookup for F {
    fn earlier_bans(&mut self, target: IpNet) -> u32 {
        self(target)
    }

    fn current_ban(&mut self, _: IpNet, _: SystemTime) -> Option<Option<SystemTime>> {
        None
    }
}

/// One jail: its rules, its ignore list, the failures inside its window
/// and the bans it knows of.
#[derive(Debug)]
pub struct Jail {
    rules: JailRules,
    ignore: IgnoreList,
    windows: HashMap<IpNet, Window>,
    banned: HashMap<IpNet, Option<SystemTime>>,
    since_sweep: usize,
}

/// Failures between two sweeps of empty windows.
const SWEEP_EVERY: usize = 4096;

impl Jail {
    /// A jail with no failures counted.
    pub fn new(rules: JailRules, ignore: IgnoreList) -> Self {
        Jail {
            rules,
            ignore,
            windows: HashMap::new(),
            banned: HashMap::new(),
            since_sweep: 0,
        }
    }

    /// The jail's rules.
    pub fn rules(&self) -> &JailRules {
        &self.rules
    }

    /// The jail's ignore list (to refresh its names).
    pub fn ignore_mut(&mut self) -> &mut IgnoreList {
        &mut self.ignore
    }

    /// The ban target for an address: the address itself, or its IPv6 prefix.
    pub fn target(&self, addr: IpAddr) -> IpNet {
        self.target_of(IpNet::from(canonical(addr)))
    }

    /// The ban target for an address or network: an IPv6 one inside the
    /// jail's prefix length becomes its network of that length (what the
    /// kernel holds); anything else stays as it is (host bits cleared).
    pub fn target_of(&self, net: IpNet) -> IpNet {
        match (net, self.rules.v6_prefix) {
            (IpNet::V6(v6), Some(len)) if v6.prefix_len() >= len => {
                IpNet::new(IpAddr::V6(v6.addr()), len.min(128)).map_or(net, |n| n.trunc())
            }
            _ => net.trunc(),
        }
    }

    /// Counts one failure at `now`. `lookup` tells how often the target
    /// was banned before and whether a ban the engine did not order holds
    /// it now (asked once per failure window, when its first failure
    /// comes: the failures of a target banned then are not counted, and
    /// order no ban while that ban lasts); `jitter` in [0, 1) scales
    /// `bantime.rndtime`.
    pub fn failure(
        &mut self,
        failure: &Failure,
        now: SystemTime,
        mut lookup: impl BanLookup,
        jitter: f64,
    ) -> Verdict {
        if let Some(reason) = self.ignore.reason(failure.addr) {
            return Verdict::Ignored(reason);
        }
        let target = self.target(failure.addr);
        if let Some(reason) = self.prefix_reason(target) {
            return Verdict::Ignored(reason);
        }
        if self.is_banned(target, now) {
            return Verdict::AlreadyBanned;
        }
        let time = failure.time.min(now);
        if time + self.rules.findtime < now {
            return Verdict::Stale;
        }
        self.sweep(now);
        if !self.windows.contains_key(&target) && self.banned_elsewhere(target, now, &mut lookup) {
            return Verdict::AlreadyBanned;
        }
        // The store is asked on every failure only when earlier bans
        // weigh on the count (increments); else once, for the ban.
        let mut asked = None;
        let weight = match self.rules.increment {
            Some(_) => Increment::failure_weight(*asked.insert(lookup.earlier_bans(target))),
            None => 1,
        };
        let findtime = self.rules.findtime;
        let failures = self
            .windows
            .entry(target)
            .or_default()
            .add(time, weight, findtime);
        if failures < self.rules.maxretry {
            return Verdict::Counted { failures };
        }
        self.windows.remove(&target);
        let earlier = asked.unwrap_or_else(|| lookup.earlier_bans(target));
        let duration = self.duration(earlier, jitter);
        let order = BanOrder {
            jail: self.rules.name.clone(),
            target,
            duration,
            count: earlier + 1,
            origin: failure.origin.clone(),
        };
        self.note_ban(&order, now);
        Verdict::Ban(order)
    }

    /// Whether a ban the engine did not order holds `target` now; such a
    /// ban is remembered until it ends.
    fn banned_elsewhere(
        &mut self,
        target: IpNet,
        now: SystemTime,
        lookup: &mut impl BanLookup,
    ) -> bool {
        match lookup.current_ban(target, now) {
            Some(until) if until.is_none_or(|u| u > now) => {
                self.banned.insert(target, until);
                true
            }
            _ => false,
        }
    }

    /// A ban that did not come from this jail's failures (by hand, from
    /// another host, restored): checked against the ignore list and
    /// remembered. `duration` overrides the jail's ban time. The order
    /// names what the kernel will hold: for a jail that bans IPv6 by
    /// prefix, the network an address is in.
    pub fn order(
        &mut self,
        target: IpNet,
        duration: Option<BanTime>,
        earlier: u32,
        origin: Origin,
        now: SystemTime,
    ) -> Result<BanOrder, IgnoreReason> {
        let target = self.target_of(target);
        if let Some(reason) = self.ignore.reason_for_net(target) {
            return Err(reason);
        }
        let duration = match duration {
            Some(BanTime::For(d)) => Some(d),
            Some(BanTime::Permanent) => None,
            None => self.duration(earlier, 0.0),
        };
        let order = BanOrder {
            jail: self.rules.name.clone(),
            target,
            duration,
            count: earlier + 1,
            origin,
        };
        self.note_ban(&order, now);
        Ok(order)
    }

    /// Forgets a target's ban and failures (after an unban).
    pub fn forget(&mut self, target: IpNet) {
        self.banned.retain(|net, _| !target.contains(net));
        self.windows.retain(|net, _| !target.contains(net));
    }

    /// How many targets have failures inside the window.
    pub fn watched(&self) -> usize {
        self.windows.len()
    }

    fn duration(&self, earlier: u32, jitter: f64) -> Option<Duration> {
        match (self.rules.bantime, &self.rules.increment) {
            (BanTime::Permanent, _) => None,
            (BanTime::For(base), Some(inc)) => Some(inc.ban_time(base, earlier, jitter)),
            (BanTime::For(base), None) => Some(base),
        }
    }

    fn note_ban(&mut self, order: &BanOrder, now: SystemTime) {
        let until = order.duration.map(|d| now + d);
        self.banned.insert(order.target, until);
    }

    fn is_banned(&mut self, target: IpNet, now: SystemTime) -> bool {
        match self.banned.get(&target) {
            Some(None) => true,
            Some(Some(until)) if *until > now => true,
            Some(Some(_)) => {
                self.banned.remove(&target);
                false
            }
            None => false,
        }
    }

    fn prefix_reason(&self, target: IpNet) -> Option<IgnoreReason> {
        if target.prefix_len() == target.max_prefix_len() {
            return None;
        }
        self.ignore.reason_for_net(target)
    }

    fn sweep(&mut self, now: SystemTime) {
        self.since_sweep += 1;
        if self.since_sweep < SWEEP_EVERY {
            return;
        }
        self.since_sweep = 0;
        let findtime = self.rules.findtime;
        self.windows
            .retain(|_, w| w.newest().is_some_and(|t| t + findtime >= now));
        self.banned.retain(|_, until| until.is_none_or(|u| u > now));
    }
}

#[cfg(test)]
mod tests;
