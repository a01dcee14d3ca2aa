//! Serialises moat's read-modify-write cycles within one network namespace.
//!
//! The lock is an abstract unix socket: abstract socket names live in the
//! network namespace, so moat in one namespace never waits for another, no
//! file is shared, and the kernel releases the lock when the holder dies.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::{Duration, Instant};

use crate::HostError;

const LOCK_NAME: &[u8] = b"moat-ruleset-lock";

/// Held while moat reads, changes and writes the ruleset.
pub struct RulesetLock {
    _socket: UnixListener,
}

impl RulesetLock {
    /// Waits up to `timeout` for the lock.
    pub fn acquire(timeout: Duration) -> Result<Self, HostError> {
        let addr =
            SocketAddr::from_abstract_name(LOCK_NAME).map_err(HostError::io("lock address"))?;
        let start = Instant::now();
        loop {
            match UnixListener::bind_addr(&addr) {
                Ok(socket) => return Ok(RulesetLock { _socket: socket }),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if start.elapsed() > timeout {
                        return Err(HostError::Refused(format!(
                            "another moat command has held the ruleset lock for {timeout:?}; try again"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(HostError::io("cannot take moat's ruleset lock")(e)),
            }
        }
    }
}
