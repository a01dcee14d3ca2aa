//! [`Store`]: what must survive a reboot — active bans with their end
//! time, how often each address was banned (for `bantime.increment`), and
//! log positions — in one embedded, crash-safe database file.
//!
//! **Why redb.** redb is a pure-Rust embedded key-value store with ACID
//! transactions: a commit is written copy-on-write with checksums and
//! made durable (fsync) before `commit` returns, so a crash at any moment
//! leaves either the old or the new state, never a torn one, and a
//! committed ban is never lost. SQLite through `rusqlite` with the bundled
//! library would do the same job with the same guarantees, but brings a C
//! library (and a C compiler in every build) and SQL for what are four
//! key-value tables; redb builds with the rest of moat and its tables are
//! typed Rust values.
//!
//! **Two processes.** The daemon and a `moat ban`/`moat unban` command
//! both write the store, and redb (in its default, exclusive mode) locks
//! the file for the process that has it open. A [`Store`] therefore holds
//! the database open only while it is in use: the first operation opens it,
//! and it is closed again once no operation has used it for
//! [`IDLE_CLOSE`] (a background thread waits for that). A burst of
//! operations — a ban storm — shares one open database (a durable commit
//! costs one fsync, a read microseconds), and the other process gets its
//! turn in the pauses: an open that finds the file locked waits with a
//! short backoff, up to [`LOCK_WAIT`], then fails with
//! [`BanError::StoreBusy`]. (Opening and closing for every operation would
//! cost three fsyncs, about 25 ms on a disk, even for a read.) A writer
//! that keeps the store busy without a pause of [`IDLE_CLOSE`] for
//! [`LOCK_WAIT`] keeps the other out: the daemon saves log positions at a
//! bounded rate, not per line. Within a process, operations take turns on
//! a mutex. redb's multi-writer mode (new in redb 4.5) would let both
//! processes keep the file open, but it is much younger than the
//! exclusive mode, which moat uses.
//!
//! **Tables.** `active_bans`: (jail, address) → (start, end or permanent,
//! count). `ban_history_by_jail`: (jail, address) → (times banned, last
//! ban). `ban_history`: address → (times banned in any jail, last ban) —
//! fail2ban's ban-count semantics for `bantime.increment`, per jail or over
//! all jails. `log_positions`: source key → opaque bytes. Addresses are
//! stored as text (`192.0.2.7/32`, `2001:db8::/64`); times as milliseconds
//! since the Unix epoch. Expired bans are purged lazily, by
//! [`Store::active_bans`].

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use crate::BanError;

/// File name of the store in moat's state directory.
pub const FILE_NAME: &str = "bans.redb";
/// moat's state directory unless `MOAT_STATE` names another.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/moat";
/// The environment variable naming moat's state directory.
pub const STATE_ENV: &str = "MOAT_STATE";
/// How long an operation waits for another process to close the store.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long the store stays open after its last operation.
pub const IDLE_CLOSE: Duration = Duration::from_millis(200);

/// (jail, address) → (start ms, end ms or permanent, count).
const ACTIVE: TableDefinition<(&str, &str), (u64, Option<u64>, u32)> =
    TableDefinition::new("active_bans");
/// (jail, address) → (times banned, last ban ms).
const HISTORY_BY_JAIL: TableDefinition<(&str, &str), (u32, u64)> =
    TableDefinition::new("ban_history_by_jail");
/// address → (times banned in any jail, last ban ms).
const HISTORY: TableDefinition<&str, (u32, u64)> = TableDefinition::new("ban_history");
/// source key → opaque position.
const POSITIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("log_positions");

/// A ban as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The jail that banned.
    pub jail: String,
    /// The banned address (a host), or IPv6 network for a jail that bans by prefix.
    pub addr: IpNet,
    /// When the ban began.
    pub start: SystemTime,
    /// When it ends; `None` for a permanent ban.
    pub end: Option<SystemTime>,
    /// How many times the address had been banned with this one (what
    /// `bantime.increment` computed the ban's length from).
    pub count: u32,
}

impl Ban {
    /// The time left at `now`: `Some(None)` for a permanent ban, `None`
    /// once it has ended.
    pub fn remaining(&self, now: SystemTime) -> Option<Option<Duration>> {
        match self.end {
            None => Some(None),
            Some(end) => end
                .duration_since(now)
                .ok()
                .filter(|d| !d.is_zero())
                .map(Some),
        }
    }
}

/// How often an address was banned, and when last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanHistory {
    /// Times banned.
    pub count: u32,
    /// When the last of those bans began.
    pub last: SystemTime,
}

/// The ban store: one redb file (see the module documentation).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    held: Arc<Mutex<Held>>,
}

/// The open database, while it is in use.
#[derive(Debug)]
struct Held {
    /// Shared with the operations running on it, so that a read never
    /// waits for another thread's commit (redb reads beside a writer).
    db: Option<Arc<Database>>,
    last_use: Instant,
    /// Whether a thread is waiting to close the database when idle.
    closer: bool,
}

/// Closes the database once it has been idle for [`IDLE_CLOSE`]; ends
/// with the store.
fn close_when_idle(held: Weak<Mutex<Held>>) {
    loop {
        std::thread::sleep(IDLE_CLOSE);
        let Some(held) = held.upgrade() else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
        let in_use = held.db.as_ref().is_some_and(|db| Arc::strong_count(db) > 1);
        if held.last_use.elapsed() >= IDLE_CLOSE && !in_use {
            // Commits are durable already; a failed close only costs a
            // repair at the next open.
            if let Some(db) = held.db.take().and_then(|db| Arc::try_unwrap(db).ok()) {
                let _ = db.close();
            }
            held.closer = false;
            return;
        }
    }
}

fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The key text of an address or network.
fn addr_key(addr: IpNet) -> String {
    addr.trunc().to_string()
}

/// Whether two networks share an address (one contains the other).
fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Writes `bans` in transaction `txn`: each ban is (re)placed in the
/// active table, and counted once more in both histories.
fn write_bans(txn: &redb::WriteTransaction, bans: &[Ban]) -> Result<(), redb::Error> {
    let mut active = txn.open_table(ACTIVE)?;
    let mut by_jail = txn.open_table(HISTORY_BY_JAIL)?;
    let mut history = txn.open_table(HISTORY)?;
    for ban in bans {
        let addr = addr_key(ban.addr);
        let key = (ban.jail.as_str(), addr.as_str());
        let start = to_ms(ban.start);
        active.insert(key, (start, ban.end.map(to_ms), ban.count))?;
        let jail_count = by_jail.get(key)?.map_or(0, |g| g.value().0);
        by_jail.insert(key, (jail_count.saturating_add(1), start))?;
        let count = history.get(addr.as_str())?.map_or(0, |g| g.value().0);
        history.insert(addr.as_str(), (count.saturating_add(1), start))?;
    }
    Ok(())
}

impl Store {
    /// The store's default path: `bans.redb` in `$MOAT_STATE`, or in
    /// `/var/lib/moat` when that is unset or empty.
    pub fn default_path() -> PathBuf {
        let dir = std::env::var_os(STATE_ENV)
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
        dir.join(FILE_NAME)
    }

    /// Opens the store at [`Store::default_path`].
    pub fn open_default() -> Result<Self, BanError> {
        Store::open(&Store::default_path())
    }

    /// Opens the store at `path` when it exists; `None` (and nothing
    /// created) when it does not: for readers, which have nothing to read.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, BanError> {
        if !path.exists() {
            return Ok(None);
        }
        Store::open(path).map(Some)
    }

    /// Opens (creating when missing) the store at `path`; a missing parent
    /// directory is created with mode 0700. The file is checked and its
    /// tables created; it stays open until idle (see [`IDLE_CLOSE`]).
    pub fn open(path: &Path) -> Result<Self, BanError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| BanError::StateDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
        }
        let store = Store {
            path: path.to_path_buf(),
            held: Arc::new(Mutex::new(Held {
                db: None,
                last_use: Instant::now(),
                closer: false,
            })),
        };
        store.write(|txn| {
            txn.open_table(ACTIVE)?;
            txn.open_table(HISTORY_BY_JAIL)?;
            txn.open_table(HISTORY)?;
            txn.open_table(POSITIONS)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: impl Into<redb::Error>) -> BanError {
        BanError::Store {
            path: self.path.clone(),
            source: Box::new(source.into()),
        }
    }

    /// Opens the database, waiting while another process has it open.
    fn open_db(&self) -> Result<Database, BanError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match Database::create(&self.path) {
                Ok(db) => return Ok(db),
                Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(BanError::StoreBusy {
                        path: self.path.clone(),
                        waited: started.elapsed(),
                    })
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// Runs `f` on the database, opening it when it is closed, and leaves
    /// it open for the next operation (see [`IDLE_CLOSE`]). After an error
    /// the database is closed, so the next operation opens it afresh.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, redb::Error>,
    ) -> Result<T, BanError> {
        let db = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            let db = match &held.db {
                Some(db) => Arc::clone(db),
                None => {
                    let db = Arc::new(self.open_db()?);
                    held.db = Some(Arc::clone(&db));
                    db
                }
            };
            held.last_use = Instant::now();
            if !held.closer {
                let weak = Arc::downgrade(&self.held);
                let spawned = std::thread::Builder::new()
                    .name("moat-ban store".into())
                    .spawn(move || close_when_idle(weak));
                held.closer = spawned.is_ok();
            }
            db
        };
        // The lock is not held while `f` runs: reads go on beside a commit.
        let out = f(&db).map_err(|e| self.error(e));
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.last_use = Instant::now();
        let failed = out.is_err();
        let unattended = !held.closer;
        if failed || unattended {
            // A failed operation reopens the file next time; without a
            // thread to close it later, it is closed now.
            if held.db.as_ref().is_some_and(|d| Arc::ptr_eq(d, &db)) {
                held.db = None;
            }
        }
        out
    }

    /// Runs `f` in a read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, BanError> {
        self.with_db(|db| f(&db.begin_read()?))
    }

    /// Runs `f` in a write transaction and commits it: durable (fsync'd)
    /// when this returns.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, BanError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            let out = f(&txn)?;
            txn.commit()?;
            Ok(out)
        })
    }

    /// Records a ban: it becomes (or replaces) the active ban of its jail
    /// and address, and counts once more in the address's history for the
    /// jail and over all jails. Durable when this returns.
    pub fn record_ban(&self, ban: &Ban) -> Result<(), BanError> {
        self.record_bans(std::slice::from_ref(ban))
    }

    /// Records several bans in one transaction (one fsync), as
    /// [`Store::record_ban`] does each.
    pub fn record_bans(&self, bans: &[Ban]) -> Result<(), BanError> {
        self.write(|txn| write_bans(txn, bans))
    }

    /// Removes the active bans that cover `addr` or a part of it, in jail
    /// `jail` or in every jail; returns how many. The history stays.
    pub fn remove_ban(&self, jail: Option<&str>, addr: IpNet) -> Result<usize, BanError> {
        self.write(|txn| {
            let mut active = txn.open_table(ACTIVE)?;
            let removed = active.extract_if(.., |(j, a), _| {
                jail.is_none_or(|jail| jail == j)
                    && a.parse::<IpNet>().is_ok_and(|a| overlaps(a, addr))
            })?;
            let mut count = 0;
            for entry in removed {
                entry?;
                count += 1;
            }
            Ok(count)
        })
    }

    /// The bans still due at `now` (permanent ones included), and removes
    /// those that have ended.
    pub fn active_bans(&self, now: SystemTime) -> Result<Vec<Ban>, BanError> {
        let now_ms = to_ms(now);
        let (due, ended) = self.read(|txn| {
            let active = txn.open_table(ACTIVE)?;
            let (mut due, mut ended) = (Vec::new(), 0usize);
            for entry in active.iter()? {
                let (k, v) = entry?;
                let ((jail, addr), (start, end, count)) = (k.value(), v.value());
                if end.is_some_and(|e| e <= now_ms) {
                    ended += 1;
                    continue;
                }
                let Ok(addr) = addr.parse::<IpNet>() else {
                    continue;
                };
                due.push(Ban {
                    jail: jail.to_string(),
                    addr,
                    start: from_ms(start),
                    end: end.map(from_ms),
                    count,
                });
            }
            Ok((due, ended))
        })?;
        if ended > 0 {
            self.write(|txn| {
                let mut active = txn.open_table(ACTIVE)?;
                active.retain(|_, (_, end, _)| end.is_none_or(|e| e > now_ms))?;
                Ok(())
            })?;
        }
        Ok(due)
    }

    /// How often `addr` (an address, or a network banned by prefix) was
    /// banned, and when last: by jail `jail`, or by any jail.
    pub fn ban_history(
        &self,
        jail: Option<&str>,
        addr: impl Into<IpNet>,
    ) -> Result<Option<BanHistory>, BanError> {
        let addr = addr_key(addr.into());
        let found = self.read(|txn| {
            Ok(match jail {
                Some(jail) => txn
                    .open_table(HISTORY_BY_JAIL)?
                    .get((jail, addr.as_str()))?
                    .map(|g| g.value()),
                None => txn
                    .open_table(HISTORY)?
                    .get(addr.as_str())?
                    .map(|g| g.value()),
            })
        })?;
        Ok(found.map(|(count, last)| BanHistory {
            count,
            last: from_ms(last),
        }))
    }

    /// How often `addr` was banned, by jail `jail` or by any jail (0: never).
    pub fn ban_count(&self, jail: Option<&str>, addr: impl Into<IpNet>) -> Result<u32, BanError> {
        Ok(self.ban_history(jail, addr)?.map_or(0, |h| h.count))
    }

    /// Forgets the history of addresses last banned before `before`
    /// (fail2ban's `dbpurgeage`); returns how many entries went.
    pub fn purge_history(&self, before: SystemTime) -> Result<usize, BanError> {
        let cutoff = to_ms(before);
        self.write(|txn| {
            let mut count = 0;
            for entry in txn
                .open_table(HISTORY_BY_JAIL)?
                .extract_if(.., |_, (_, last)| last < cutoff)?
            {
                entry?;
                count += 1;
            }
            for entry in txn
                .open_table(HISTORY)?
                .extract_if(.., |_, (_, last)| last < cutoff)?
            {
                entry?;
                count += 1;
            }
            Ok(count)
        })
    }

    /// The position saved for log source `key`.
    pub fn position(&self, key: &str) -> Result<Option<Vec<u8>>, BanError> {
        self.read(|txn| {
            Ok(txn
                .open_table(POSITIONS)?
                .get(key)?
                .map(|g| g.value().to_vec()))
        })
    }

    /// Saves log positions, all in one transaction: durable when this returns.
    pub fn set_positions(&self, items: &[(String, Vec<u8>)]) -> Result<(), BanError> {
        self.write(|txn| {
            let mut positions = txn.open_table(POSITIONS)?;
            for (key, value) in items {
                positions.insert(key.as_str(), value.as_slice())?;
            }
            Ok(())
        })
    }
}

impl Drop for Store {
    /// Closes the database at once, so another process can open it.
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = held.db.take().and_then(|db| Arc::try_unwrap(db).ok()) {
            let _ = db.close();
        }
    }
}

/// Test-only: opens the database directly, waiting while it is locked.
#[cfg(test)]
fn open_direct(path: &Path) -> Database {
    let started = Instant::now();
    loop {
        match Database::create(path) {
            Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other.expect("open"),
        }
    }
}

/// Test-only access for the crash tests' child processes.
#[cfg(test)]
pub(crate) fn commit_then_crash(path: &Path, committed: &Ban, uncommitted: &Ban) -> ! {
    let db = open_direct(path);
    let txn = db.begin_write().expect("begin");
    write_bans(&txn, std::slice::from_ref(committed)).expect("write");
    txn.commit().expect("commit");
    let txn = db.begin_write().expect("begin");
    write_bans(&txn, std::slice::from_ref(uncommitted)).expect("write");
    // Killed with the database open and a write transaction in flight.
    std::process::abort()
}

/// Test-only: holds the database open for `hold`, after creating `ready`.
#[cfg(test)]
pub(crate) fn hold_open(path: &Path, ready: &Path, hold: Duration) {
    let db = open_direct(path);
    std::fs::write(ready, b"open").expect("ready file");
    std::thread::sleep(hold);
    drop(db);
}

#[cfg(test)]
mod tests;
