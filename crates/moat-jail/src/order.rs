//! What enters the engine and what leaves it.

use std::net::IpAddr;
use std::time::SystemTime;

use ipnet::IpNet;

/// Where a failure or a ban came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Origin {
    /// A log line: the source's name and the line's number in it.
    Log {
        /// The log file or `journal`.
        source: String,
        /// 1-based line number (0 when the source has none).
        line: u64,
    },
    /// `moat ban` by hand.
    Manual,
    /// Another moat host, through a shared store.
    Replica {
        /// The host that banned first.
        peer: String,
    },
    /// Put back from the store at start.
    Restored,
}

/// One failure of one address, as a filter found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failing address.
    pub addr: IpAddr,
    /// When it failed (the log line's time, or when it was read).
    pub time: SystemTime,
    /// Where the failure was found.
    pub origin: Origin,
}

/// A ban the engine decided on, or one that enters from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BanOrder {
    /// The jail that bans.
    pub jail: String,
    /// The banned address, or IPv6 prefix.
    pub target: IpNet,
    /// How long; `None` bans for good.
    #[serde(with = "seconds")]
    pub duration: Option<std::time::Duration>,
    /// Which ban of this address this is (1 = first), for increments.
    pub count: u32,
    /// Why.
    pub origin: Origin,
}

mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}
