//! The store's writes, off the ban path.
//!
//! A ban is in the kernel (where it holds through a crash of the daemon)
//! before it is written to the store, so the store's fsync'd commit need
//! not hold up the next log line: one thread writes, in the order given,
//! grouping what queued up meanwhile into one commit. Positions are queued
//! behind the bans of their lines, so a saved position never runs ahead of
//! a ban; a ban that only the kernel holds after a crash is recorded at the
//! next start ([`Op::RecordOrphans`]). A failed write is logged and tried
//! again a second later, in order.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use moat_ban::{Ban, BanError, BanTable, Store};
use moat_daemon::{log, Level};

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// One write.
#[derive(Debug)]
enum Op {
    /// Record these bans.
    Bans(Vec<Ban>),
    /// Forget the bans covering this target (in one jail or all).
    Remove(Option<String>, IpNet),
    /// Save these log positions.
    Positions(Vec<(String, Vec<u8>)>),
    /// Record the bans only the kernel holds.
    RecordOrphans,
    /// Answer once everything queued before is written (or given up).
    Flush(Sender<()>),
}

/// The writer thread's handle; dropping it writes what is queued and ends
/// the thread.
#[derive(Debug)]
pub(crate) struct StoreWriter {
    tx: Option<Sender<Op>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    /// Starts the writer for `store`.
    pub(crate) fn spawn(store: Arc<Store>) -> StoreWriter {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("moat store".into())
            .spawn(move || write_loop(&store, &rx))
            .ok();
        StoreWriter {
            tx: Some(tx),
            thread,
        }
    }

    fn send(&self, op: Op) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(op);
        }
    }

    /// Queues bans.
    pub(crate) fn bans(&self, bans: Vec<Ban>) {
        self.send(Op::Bans(bans));
    }

    /// Queues the removal of the bans covering `target`.
    pub(crate) fn remove(&self, jail: Option<&str>, target: IpNet) {
        self.send(Op::Remove(jail.map(str::to_string), target));
    }

    /// Queues log positions.
    pub(crate) fn positions(&self, items: Vec<(String, Vec<u8>)>) {
        self.send(Op::Positions(items));
    }

    /// Queues the check for bans only the kernel holds.
    pub(crate) fn record_orphans(&self) {
        self.send(Op::RecordOrphans);
    }

    /// Waits until everything queued so far is written (or given up).
    pub(crate) fn flush(&self) {
        let (tx, rx) = channel();
        self.send(Op::Flush(tx));
        let _ = rx.recv();
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(store: &Store, rx: &Receiver<Op>) {
    let mut queue: VecDeque<Op> = VecDeque::new();
    let mut failing = false;
    loop {
        let wait = if failing {
            RETRY
        } else {
            Duration::from_secs(3600)
        };
        match rx.recv_timeout(wait) {
            Ok(op) => queue.push_back(op),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                failing = !drain(store, &mut queue);
                if failing {
                    log(
                        Level::Error,
                        "jails",
                        "store writes lost at stop; the kernel keeps the bans",
                    );
                }
                return;
            }
        }
        queue.extend(rx.try_iter());
        failing = !drain(store, &mut queue);
    }
}

/// Writes the queue in order, joining runs of bans and of positions into
/// one commit each. Returns false (leaving the rest queued) when a write
/// failed.
fn drain(store: &Store, queue: &mut VecDeque<Op>) -> bool {
    while let Some(op) = queue.pop_front() {
        let result = match op {
            Op::Bans(mut bans) => {
                while let Some(Op::Bans(more)) = queue.front_mut() {
                    bans.append(more);
                    queue.pop_front();
                }
                let r = store.record_bans(&bans);
                if r.is_err() {
                    queue.push_front(Op::Bans(bans));
                }
                r
            }
            Op::Positions(mut items) => {
                while let Some(Op::Positions(more)) = queue.front_mut() {
                    items.append(more);
                    queue.pop_front();
                }
                let r = store.set_positions(&items);
                if r.is_err() {
                    queue.push_front(Op::Positions(items));
                }
                r
            }
            Op::Remove(jail, target) => {
                let r = store.remove_ban(jail.as_deref(), target).map(|_| ());
                if r.is_err() {
                    queue.push_front(Op::Remove(jail, target));
                }
                r
            }
            Op::RecordOrphans => {
                match record_orphans(store, SystemTime::now()) {
                    Ok(0) => {}
                    Ok(n) => log(
                        Level::Notice,
                        "jails",
                        &format!("recorded {n} bans only the kernel held"),
                    ),
                    Err(e) => log(
                        Level::Warning,
                        "jails",
                        &format!("cannot compare the kernel's bans with the store: {e}"),
                    ),
                }
                Ok(())
            }
            Op::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(e) = result {
            log(
                Level::Error,
                "jails",
                &format!("cannot write the ban store (retrying): {e}"),
            );
            // Flushes wait for nothing that cannot be written now.
            queue.retain(|op| {
                if let Op::Flush(done) = op {
                    let _ = done.send(());
                    return false;
                }
                true
            });
            return false;
        }
    }
    true
}

/// Records the bans only the kernel holds (a daemon that died between its
/// two writes, or an element added with nft by hand). Reading a large set
/// back is slow, so it runs here, off the ban path.
fn record_orphans(store: &Store, now: SystemTime) -> Result<usize, BanError> {
    let known: HashSet<(String, IpNet)> = store
        .active_bans(now)?
        .into_iter()
        .map(|b| (b.jail, b.addr))
        .collect();
    let orphans: Vec<Ban> = BanTable::open()?
        .list()?
        .into_iter()
        .filter(|kb| !known.contains(&(kb.jail.clone(), kb.addr)))
        .map(|kb| Ban {
            jail: kb.jail,
            addr: kb.addr,
            start: now,
            end: kb.expires_in.map(|d| now + d),
            count: 1,
        })
        .collect();
    if !orphans.is_empty() {
        store.record_bans(&orphans)?;
    }
    Ok(orphans.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(addr: &str, secs: u64) -> Ban {
        let now = SystemTime::now();
        Ban {
            jail: "sshd".into(),
            addr: addr.parse().unwrap(),
            start: now,
            end: Some(now + Duration::from_secs(secs)),
            count: 1,
        }
    }

    #[test]
    fn writes_keep_their_order_and_reach_the_store() {
        let dir = std::env::temp_dir().join(format!("moat-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir.join("bans.redb")).unwrap());
        let writer = StoreWriter::spawn(Arc::clone(&store));
        writer.bans(vec![ban("203.0.113.1/32", 600)]);
        writer.bans(vec![ban("203.0.113.2/32", 600)]);
        writer.remove(None, "203.0.113.1/32".parse().unwrap());
        writer.positions(vec![("file:/var/log/auth.log".into(), b"p1".to_vec())]);
        writer.positions(vec![("file:/var/log/auth.log".into(), b"p2".to_vec())]);
        writer.flush();
        let active: Vec<String> = store
            .active_bans(SystemTime::now())
            .unwrap()
            .iter()
            .map(|b| b.addr.to_string())
            .collect();
        assert_eq!(active, ["203.0.113.2/32"]);
        assert_eq!(
            store.position("file:/var/log/auth.log").unwrap().as_deref(),
            Some(&b"p2"[..])
        );
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
