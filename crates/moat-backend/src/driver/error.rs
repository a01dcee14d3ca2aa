//! What can go wrong in the netlink driver, and how it reaches users.

use crate::netlink::NetlinkError;
use crate::BackendError;

/// A part of a change the netlink driver does not encode itself (the
/// [`Hybrid`](super::Hybrid) driver then hands the whole change to `nft`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {what}")]
pub struct Unsupported {
    /// Where: the table and chain, and the rule's place in it.
    pub place: String,
    /// What the driver cannot encode, e.g. `statement set`.
    pub what: String,
}

/// Why the netlink driver could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The change holds something this driver does not encode; nothing was sent.
    #[error("the netlink driver cannot encode {0}")]
    Unsupported(Unsupported),
    /// A rule could not be compiled; nothing was sent.
    #[error("{0}")]
    Compile(String),
    /// A socket operation failed.
    #[error("nf_tables netlink: {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The kernel refused a message; a refused transaction changed nothing.
    #[error("{what}: {}{}", errno_text(*.errno), .detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The refused operation, e.g. `table ip moat_filter, chain INPUT, rule 3: add rule`.
        what: String,
        /// The kernel's error number.
        errno: i32,
        /// The kernel's extended-ack explanation, if it gave one.
        detail: Option<String>,
    },
    /// The batch does not fit the socket's send buffer.
    #[error("nf_tables netlink: the change is too large to send ({bytes} bytes): {source}")]
    TooLarge {
        /// Size of the batch.
        bytes: usize,
        /// The system's error.
        source: std::io::Error,
    },
    /// No reply from the kernel in time.
    #[error("nf_tables netlink: no reply from the kernel within the time limit")]
    Timeout,
    /// A bounded read met a table with more rules than it reads.
    #[error("nf_tables netlink: the table holds more than {0} rules")]
    TooManyRules(usize),
    /// The ruleset kept changing while it was being read.
    #[error("nf_tables netlink: the ruleset kept changing while moat read it; try again")]
    Changed,
    /// A reply could not be decoded, or the table is not laid out as moat lays it out.
    #[error("{0}")]
    Malformed(String),
}

impl DriverError {
    /// The kernel's error number, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DriverError::Refused { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The error as the [`Backend`](crate::Backend) trait reports it, for a
    /// read (`reading`) or a change.
    pub(crate) fn into_backend(self, reading: bool) -> BackendError {
        match self {
            DriverError::Refused { .. } if !reading => BackendError::Refused(self.to_string()),
            DriverError::Unsupported(_) | DriverError::Compile(_) => {
                BackendError::Encode(self.to_string())
            }
            other if reading => BackendError::Listing(other.to_string()),
            other => BackendError::Encode(other.to_string()),
        }
    }
}

impl From<NetlinkError> for DriverError {
    fn from(error: NetlinkError) -> Self {
        match error {
            NetlinkError::Io { context, error } => DriverError::Io {
                context,
                source: error,
            },
            NetlinkError::Refused {
                what,
                errno,
                detail,
            } => DriverError::Refused {
                what,
                errno,
                detail,
            },
            NetlinkError::Changed => DriverError::Changed,
            NetlinkError::TooLarge { bytes, error } => DriverError::TooLarge {
                bytes,
                source: error,
            },
            NetlinkError::Timeout => DriverError::Timeout,
            NetlinkError::Malformed(what) => {
                DriverError::Malformed(format!("nf_tables netlink: {what}"))
            }
        }
    }
}

/// The system's text for `errno`, with a hint for the usual suspects.
fn errno_text(errno: i32) -> String {
    let base = std::io::Error::from_raw_os_error(errno).to_string();
    let base = base.split(" (os error").next().unwrap_or(&base).to_string();
    match errno {
        libc::EPERM => format!("{base} (moat needs root or CAP_NET_ADMIN)"),
        libc::ENOENT => format!(
            "{base} (it does not exist, or the kernel lacks a module it uses: an nf_tables expression or an xtables extension such as LED)"
        ),
        libc::EEXIST => format!("{base} (it exists already)"),
        libc::EBUSY => format!("{base} (it is in use)"),
        libc::ELOOP => format!("{base} (the jump makes a loop)"),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_operation_and_the_errno() {
        let e = DriverError::Refused {
            what: "table ip moat_filter, chain INPUT, rule 3: add rule".into(),
            errno: libc::ENOENT,
            detail: None,
        };
        assert_eq!(
            e.to_string(),
            "table ip moat_filter, chain INPUT, rule 3: add rule: No such file or directory (it does not exist, or the kernel lacks a module it uses: an nf_tables expression or an xtables extension such as LED)"
        );
        assert_eq!(e.errno(), Some(libc::ENOENT));
        assert!(matches!(e.into_backend(false), BackendError::Refused(_)));
    }
}
