//! Throwaway hosts in Linux network namespaces, and real traffic between
//! them, for moat's tests and the `moat demo` command.
//!
//! [`Topology::gateway`] builds a client, a gateway and a server (see the
//! [`topology`] module for addresses and interface names); the firewall
//! under test is loaded into the gateway, and the traffic helpers show what
//! gets through:
//!
//! - TCP: [`TcpServer`], [`tcp_connect`] → [`TcpOutcome`],
//!   [`tcp_connect_many`] → [`ConnectSummary`];
//! - UDP: [`UdpEcho`], [`udp_exchange`] → [`UdpOutcome`], [`udp_burst`];
//! - ICMP echo: [`ping`], [`ping_outcome`] → [`PingOutcome`], [`ping_burst`];
//! - NFQUEUE: a reader that accepts a queue's packets ([`QueueReader`]);
//! - SSH: a real OpenSSH server logging as syslog would ([`Sshd`]) and
//!   failed password logins against it ([`ssh_password_login`]);
//! - Docker and podman: a real dockerd ([`Dockerd`]) and podman with
//!   netavark ([`Podman`]) calling the iptables a test chooses, and
//!   firewalld with its iptables back-end ([`Firewalld`]).
//!
//! Every helper has a bounded timeout (1 s unless given), so a test never
//! hangs. ICMP errors are decoded into [`Unreachable`], whose docs list what
//! Linux reports for each `--reject-with` type. Namespaces are named
//! `moat-<pid>-<n>-<role>`, deleted on drop, and [`cleanup_stale`] removes
//! those of dead processes. Requires root and iproute2's `ip`; tests start
//! with [`require_root_or_skip`].
//!
//! ```no_run
//! use moat_testnet::{tcp_connect, topology, TcpOutcome, TcpServer, Topology};
//!
//! # fn main() -> Result<(), moat_testnet::Error> {
//! if !moat_testnet::require_root_or_skip() {
//!     return Ok(());
//! }
//! let lab = Topology::gateway()?;
//! let server = TcpServer::start(&lab.server, topology::SERVER_V4, 8080)?;
//! lab.gateway.exec_ok(&["nft", "-f", "/path/to/rules.nft"])?;
//! let outcome = tcp_connect(&lab.client, topology::SERVER_V4, 8080)?;
//! assert_eq!(
//!     outcome,
//!     TcpOutcome::Connected { banner: "10.99.2.2:8080".into() }
//! );
//! assert_eq!(server.last_peer().map(|p| p.ip()), Some(topology::CLIENT_V4.into()));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod cleanup;
mod dockerd;
mod error;
mod firewalld;
mod holder;
mod icmp;
mod image;
mod netns;
mod nfqueue;
mod podman;
mod skip;
mod sock;
mod sshd;
mod tcp;
pub mod topology;
mod udp;
mod unreachable;

pub use cleanup::cleanup_stale;
pub use dockerd::{Dockerd, DOCKERD};
pub use error::{Error, Result};
pub use firewalld::{Firewalld, FIREWALLD};
pub use icmp::{ping, ping_burst, ping_outcome, ping_sized, PingOutcome};
pub use image::busybox_image;
pub use netns::{Netns, NAME_PREFIX, NETNS_RUN_DIR};
pub use nfqueue::QueueReader;
pub use podman::{Podman, PODMAN};
pub use skip::{lab_unavailable, on_ci, require_programs_or_skip, require_root_or_skip};
pub use sock::DEFAULT_TIMEOUT;
pub use sshd::{ssh_password_login, SshOutcome, Sshd, SSHD};
pub use tcp::{
    tcp_connect, tcp_connect_many, tcp_connect_many_timeout, tcp_connect_timeout, ConnectSummary,
    TcpOutcome, TcpServer,
};
pub use topology::{Topology, TopologyOptions};
pub use udp::{udp_burst, udp_exchange, udp_exchange_timeout, UdpEcho, UdpOutcome};
pub use unreachable::Unreachable;
