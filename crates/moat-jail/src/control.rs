//! The daemon's control socket: how `moat ban`, `moat unban` and `moat
//! bans` reach a running daemon, so that a ban by hand takes the same path
//! as one from a log line and the daemon's counts stay true.
//!
//! An abstract unix socket (`@moat-jails`): abstract names belong to the
//! network namespace, like moat's tables, and vanish with the process. One
//! JSON request per connection, one JSON reply.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The socket's abstract name.
pub const SOCKET_NAME: &str = "moat-jails";

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Ban `target` in `jail`, for `seconds` (`None`: the jail's ban time;
    /// `permanent`: for good).
    Ban {
        /// The jail.
        jail: String,
        /// Address or network.
        target: String,
        /// How long, in seconds.
        seconds: Option<u64>,
        /// For good.
        permanent: bool,
    },
    /// Lift the bans of `target` (every jail, or `jail`), or every ban with `all`.
    Unban {
        /// Address or network; `None` with `all`.
        target: Option<String>,
        /// Only in this jail.
        jail: Option<String>,
        /// Every ban.
        all: bool,
    },
    /// The jails, their failure counts and their bans.
    Status,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Reply {
    /// Done; what was done, in words.
    Done {
        /// E.g. `banned 203.0.113.9 in sshd for 600 s`.
        message: String,
    },
    /// The jails' state.
    Status {
        /// One entry per jail.
        jails: Vec<JailStatus>,
    },
    /// Refused or failed.
    Error {
        /// Why.
        message: String,
    },
}

/// One jail's state, as `moat bans` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JailStatus {
    /// The jail's name.
    pub name: String,
    /// Addresses with failures inside the window now.
    pub watched: usize,
    /// Failures found since the daemon started.
    pub failures: u64,
    /// Bans ordered since the daemon started.
    pub bans: u64,
}

pub use moat_daemon::socket::ControlError;

/// Sends one request to the daemon of this network namespace.
pub fn ask(request: &Request) -> Result<Reply, ControlError> {
    moat_daemon::socket::ask(SOCKET_NAME, request, Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json() {
        let r = Request::Ban {
            jail: "sshd".into(),
            target: "2001:db8::/64".into(),
            seconds: Some(60),
            permanent: false,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""op":"ban""#), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
    }
}
