//! Where bans go: the [`BanSink`] seam, and the sink that puts them in
//! the kernel and the store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use moat_ban::{Ban, BanError, BanTable, JailScope, Store};

use crate::order::BanOrder;
use crate::writer::StoreWriter;

/// Where ban orders are carried out. The daemon's sink is the kernel and
/// the store ([`KernelSink`]); a sink that also shares bans with other
/// hosts wraps it.
pub trait BanSink: Send {
    /// Carries out `orders` (each one netlink message in the kernel).
    fn apply(&mut self, orders: &[BanOrder]) -> Result<(), BanError>;
    /// Lifts the bans covering `target` (every ban with `None`), in `jail`
    /// or every jail; returns how many were lifted.
    fn lift(&mut self, jail: Option<&str>, target: Option<IpNet>) -> Result<usize, BanError>;
    /// How often `target` was banned before (in `jail`, or in any jail).
    fn earlier_bans(&self, jail: Option<&str>, target: IpNet) -> u32;
}

/// Bans in the kernel's sets (which lift them when they end, and keep them
/// while the daemon is stopped) and in the store (which puts them back
/// after a reboot and counts them for increments).
#[derive(Debug)]
pub struct KernelSink {
    table: BanTable,
    store: Arc<Store>,
    writer: StoreWriter,
}

impl KernelSink {
    /// Opens the kernel table of this network namespace and the store,
    /// and makes sure the jails' sets and rules exist (no jails: the table
    /// is not made).
    pub fn open(store: Store, scopes: &[JailScope]) -> Result<Self, BanError> {
        let mut table = BanTable::open()?;
        if !scopes.is_empty() {
            table.ensure_jails(scopes)?;
        }
        let store = Arc::new(store);
        let writer = StoreWriter::spawn(Arc::clone(&store));
        Ok(KernelSink {
            table,
            store,
            writer,
        })
    }

    /// Puts the store's bans still due into the kernel, in one
    /// transaction with their remaining time (a ban the kernel holds
    /// already gets the store's time). Bans of jails the kernel does not
    /// have are left in the store. Returns how many were put back.
    pub fn restore(&mut self, now: SystemTime) -> Result<usize, BanError> {
        let jails: HashSet<String> = self.table.jails()?.into_iter().map(|s| s.name).collect();
        let due: Vec<(String, IpNet, Option<Duration>)> = self
            .store
            .active_bans(now)?
            .into_iter()
            .filter(|b| jails.contains(&b.jail))
            .filter_map(|b| b.remaining(now).map(|left| (b.jail, b.addr, left)))
            .collect();
        if !due.is_empty() {
            self.table.ban_many(&due)?;
        }
        Ok(due.len())
    }

    /// When jail `jail`'s ban of `target` in the kernel ends (`Some(None)`:
    /// never); `None` when the kernel holds none (or cannot be asked).
    pub fn current_ban(
        &mut self,
        jail: &str,
        target: IpNet,
        now: SystemTime,
    ) -> Option<Option<SystemTime>> {
        let left = self.table.time_left(jail, target).ok()??;
        Some(left.map(|d| now + d))
    }

    /// Takes the jails the kernel holds and `keep` does not name (jails a
    /// reload removed) out of the kernel with their sets and rules, so
    /// their bans are lifted, as fail2ban's stop of a jail lifts them. The
    /// store keeps the bans, and a jail that comes back gets those still
    /// due; bans only the kernel holds are recorded first. Returns the
    /// jails taken out.
    pub fn lift_removed_jails(&mut self, keep: &[&str]) -> Result<Vec<String>, BanError> {
        let held = self.table.jails()?;
        if held.iter().all(|j| keep.contains(&j.name.as_str())) {
            return Ok(Vec::new());
        }
        self.writer.record_orphans();
        self.writer.flush();
        self.table.prune_jails(keep)
    }

    /// Records, off the ban path, the bans only the kernel holds (a
    /// daemon that died between its two writes, or an element added with
    /// nft by hand).
    pub fn record_orphans(&self) {
        self.writer.record_orphans();
    }

    /// Saves log positions, behind the bans queued before them.
    pub fn save_positions(&self, items: Vec<(String, Vec<u8>)>) {
        self.writer.positions(items);
    }

    /// Waits until every queued write reached the store.
    pub fn flush(&self) {
        self.writer.flush();
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The kernel table.
    pub fn table(&mut self) -> &mut BanTable {
        &mut self.table
    }
}

impl BanSink for KernelSink {
    fn apply(&mut self, orders: &[BanOrder]) -> Result<(), BanError> {
        let now = SystemTime::now();
        let mut first_error = None;
        for order in orders {
            if let Err(e) = self.table.ban(&order.jail, order.target, order.duration) {
                first_error.get_or_insert(e);
            }
        }
        let bans: Vec<Ban> = orders
            .iter()
            .map(|o| Ban {
                jail: o.jail.clone(),
                addr: o.target,
                start: now,
                end: o.duration.map(|d| now + d),
                count: o.count,
            })
            .collect();
        self.writer.bans(bans);
        first_error.map_or(Ok(()), Err)
    }

    fn lift(&mut self, jail: Option<&str>, target: Option<IpNet>) -> Result<usize, BanError> {
        let targets: Vec<IpNet> = match target {
            Some(t) => vec![t],
            None => ["0.0.0.0/0", "::/0"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        };
        let mut lifted = 0;
        for t in targets {
            lifted += self.table.unban(jail, t)?;
            self.writer.remove(jail, t);
        }
        Ok(lifted)
    }

    fn earlier_bans(&self, jail: Option<&str>, target: IpNet) -> u32 {
        self.store.ban_count(jail, target).unwrap_or(0)
    }
}

/// The time left of a ban, for messages: `600 s`, or `for good`.
pub fn describe_time(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("for {} s", d.as_secs()),
        None => "for good".to_string(),
    }
}
