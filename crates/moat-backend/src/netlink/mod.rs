//! A native nf_tables driver over netlink, for what the `nft` program does
//! slowly: loading and replacing large interval sets.
//!
//! [`Transaction`] encodes nf_tables messages (tables, base chains, sets,
//! set elements, rules) into one netlink batch (`NFNL_MSG_BATCH_BEGIN` …
//! `NFNL_MSG_BATCH_END`), sent with a single `sendmsg`; the kernel applies
//! the batch as one transaction or, on any error, none of it
//! ([`NfSocket::commit`]). [`NfSocket`] also reads sets, rules (with their
//! counters) and set elements back, so the kernel stays the source of truth.
//!
//! Interval sets follow the kernel's rbtree encoding: a range `[a, b]` is a
//! start element `a` and an element `b + 1` flagged
//! `NFT_SET_ELEM_INTERVAL_END`; a range that reaches the top of the address
//! space has only its start. Element lists are split over as many
//! `NFT_MSG_NEWSETELEM` messages as the 16-bit attribute length needs, all
//! in the same batch; the socket's send buffer is raised to the batch size.
//!
//! Sets without intervals may carry per-element timeouts
//! ([`Transaction::add_timeout_set`], [`Transaction::add_elements`]); the
//! kernel removes an element when its timeout runs out, and lists it with
//! its timeout and the time it has left ([`NfSocket::elements`]).
//!
//! The socket ([`NfSocket`]: batches, dumps, single requests), the message
//! framing (`wire`), user data (`udata`) and the constants (`consts`) are
//! also the low-level layer of the [`driver`](crate::driver) for moat's
//! iptables tables. They build on `netlink-sys` and `netlink-packet-core`;
//! the nf_tables encoding follows the kernel's uapi header
//! `linux/netfilter/nf_tables.h`, checked against what
//! `nft --debug=netlink,mnl` sends.

mod batch;
pub(crate) mod consts;
mod cttimeout;
mod query;
mod reply;
mod socket;
mod types;
pub(crate) mod udata;
pub(crate) mod wire;

pub use batch::Transaction;
pub use cttimeout::TimeoutPolicy;
pub use socket::NfSocket;
pub use types::{
    elements_to_ranges, hook_number, is_plain_name, ElementInfo, Expr, ExprInfo, IntervalKey,
    NfProto, RejectWith, RuleInfo, SetInfo, SetSpec, Verdict,
};

/// Why a netlink exchange with nf_tables failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// A socket operation failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The system's error.
        error: std::io::Error,
    },
    /// The kernel refused a change or request; a refused transaction
    /// changed nothing.
    #[error("{}{}{}", what_prefix(.what), errno_text(*.errno), .detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The refused message, e.g. `add set inet moat_block cn.v4`.
        what: String,
        /// The kernel's error number.
        errno: i32,
        /// The kernel's extended-ack explanation, if it gave one.
        detail: Option<String>,
    },
    /// The ruleset changed while moat was reading it or between reading
    /// and committing; nothing was applied.
    #[error("the ruleset changed while moat was working on it; nothing was applied (try again)")]
    Changed,
    /// The batch does not fit the socket buffer.
    #[error("the change is too large to send ({bytes} bytes): {error}")]
    TooLarge {
        /// Size of the batch.
        bytes: usize,
        /// The system's error.
        error: std::io::Error,
    },
    /// No reply from the kernel in time.
    #[error("no reply from the kernel's nf_tables within the time limit")]
    Timeout,
    /// A reply could not be decoded.
    #[error("cannot decode the kernel's reply: {0}")]
    Malformed(String),
}

impl NetlinkError {
    /// The kernel's error number, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Refused { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

fn what_prefix(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    }
}

fn errno_text(errno: i32) -> String {
    let base = std::io::Error::from_raw_os_error(errno).to_string();
    let base = base.split(" (os error").next().unwrap_or(&base).to_string();
    match errno {
        libc::EPERM => format!("{base} (moat needs root or CAP_NET_ADMIN)"),
        libc::EBUSY => format!("{base} (it is in use)"),
        libc::ENOTEMPTY | libc::EEXIST => format!("{base} (overlapping or existing element)"),
        _ => base,
    }
}

#[cfg(test)]
mod kernel_tests;
