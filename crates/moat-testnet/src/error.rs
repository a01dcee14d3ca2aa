//! The crate's error type.

use std::io;
use std::process::ExitStatus;

/// Everything that can go wrong while building namespaces or sending traffic.
///
/// Network outcomes that a test wants to assert on (refused, unreachable,
/// timed out) are *not* errors: they are variants of
/// [`TcpOutcome`](crate::TcpOutcome), [`UdpOutcome`](crate::UdpOutcome) and
/// [`PingOutcome`](crate::PingOutcome). An `Error` means the lab itself is
/// broken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program (normally `ip`) could not be started at all.
    #[error("could not start `{command}`: {source}")]
    Spawn {
        /// The command line that was attempted.
        command: String,
        /// Why it could not be started.
        #[source]
        source: io::Error,
    },
    /// A program ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line that failed.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to standard error, trimmed.
        stderr: String,
    },
    /// A thread could not join a network namespace with setns(2).
    #[error("cannot enter network namespace {name}: {source}")]
    Enter {
        /// Name of the namespace.
        name: String,
        /// The error from open(2) or setns(2).
        #[source]
        source: io::Error,
    },
    /// A namespace role contained characters that are not allowed.
    #[error("invalid namespace role {0:?}: use 1 to 32 ASCII letters, digits, '-' or '_'")]
    InvalidRole(String),
    /// Any other I/O failure, with a description of what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being attempted.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The topology was built but its links did not come up in time.
    #[error("topology not ready: {0}")]
    NotReady(String),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an [`io::Error`] with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
