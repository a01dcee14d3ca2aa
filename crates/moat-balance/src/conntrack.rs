//! Forgetting a dead backend's connections: the kernel's conntrack entries
//! of connections translated to it are deleted (with the `conntrack`
//! tool, over ctnetlink), so UDP flows and half-open TCP connections are
//! translated afresh, to a live backend, by their next packet. Only
//! connections translated *to* that backend are touched: established flows
//! to healthy backends never move.

use std::net::SocketAddr;
use std::process::Command;

use moat_config::model::Proto;

use crate::BalanceError;

/// Deletes the conntrack entries of `proto` connections translated to
/// `backend`; how many were deleted.
pub fn forget(backend: SocketAddr, proto: Proto) -> Result<u64, BalanceError> {
    let family = if backend.is_ipv4() { "ipv4" } else { "ipv6" };
    let out = Command::new("conntrack")
        .args(["-D", "-f", family, "-p", proto.name()])
        .args(["--dst-nat", &backend.ip().to_string()])
        .args(["--reply-port-src", &backend.port().to_string()])
        .output()
        .map_err(|e| {
            BalanceError::Conntrack(format!(
                "cannot run conntrack: {e} (install the conntrack package)"
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stderr);
    match deleted_count(&text) {
        Some(n) => Ok(n),
        None => Err(BalanceError::Conntrack(text.trim().to_string())),
    }
}

/// The count in conntrack's `N flow entries have been deleted.`
fn deleted_count(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find(|l| l.contains("flow entries have been deleted"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_count() {
        let text = "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n";
        assert_eq!(deleted_count(text), Some(3));
        assert_eq!(deleted_count("conntrack v1.4.7: Operation failed"), None);
    }
}
