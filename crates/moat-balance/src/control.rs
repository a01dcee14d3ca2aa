//! How `moat balance` and `moat status` read the daemon's view of the
//! backends: an abstract unix socket (`@moat-balance`, one per network
//! namespace, like moat's tables); one JSON request per connection, one
//! JSON reply line.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::State;

/// The socket's abstract name.
pub const SOCKET_NAME: &str = "moat-balance";

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Every service's backends and their health.
    Status,
}

/// One backend as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendStatus {
    /// `address:port`.
    pub addr: String,
    /// Its weight.
    pub weight: u32,
    /// Whether it is a backup.
    pub backup: bool,
    /// Whether it is draining (no new connections).
    pub drain: bool,
    /// Up or down by its checks (up when not checked).
    pub state: State,
    /// Whether new connections go to it now.
    pub in_rotation: bool,
    /// Its share of new connections now, in percent.
    pub share: f64,
    /// Seconds since its last check ended.
    pub last_check_secs_ago: Option<f64>,
    /// Why its last check failed.
    pub reason: Option<String>,
    /// Seconds in its current state.
    pub state_secs: f64,
    /// Checks run since the daemon started.
    pub checks: u64,
    /// Checks failed since the daemon started.
    pub failures: u64,
    /// New connections sent to it since the table was made.
    pub new_connections: u64,
}

/// One balanced service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// The public address and port, e.g. `192.0.2.1:80` or `*:80`.
    pub public: String,
    /// random, round-robin or hash.
    pub mode: String,
    /// The check, in words (`tcp every 1 s, down after 2, up after 2`).
    pub check: Option<String>,
    /// The backends, in the file's order.
    pub backends: Vec<BackendStatus>,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Reply {
    /// The services.
    Status {
        /// One entry per service.
        services: Vec<ServiceStatus>,
    },
}

pub use moat_daemon::socket::ControlError;

/// Sends one request to the daemon of this network namespace.
pub fn ask(request: &Request) -> Result<Reply, ControlError> {
    moat_daemon::socket::ask(SOCKET_NAME, request, Duration::from_secs(10))
}
