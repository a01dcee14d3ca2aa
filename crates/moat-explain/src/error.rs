//! What can be wrong with a packet description.

use std::net::IpAddr;

use thiserror::Error;

/// A packet description that cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// An arriving packet without a source address.
    #[error("a packet that arrives needs --src")]
    NoSource,
    /// Source and destination of different families.
    #[error("{0} and {1} are not of the same family")]
    MixedFamilies(IpAddr, IpAddr),
    /// Ports for a protocol without them.
    #[error("protocol {0} has no ports; use --proto tcp or udp with --sport/--dport")]
    PortsWithout(u8),
    /// An ICMP type for another protocol.
    #[error("--icmp-type needs --proto icmp (IPv4) or icmpv6 (IPv6), not protocol {0}")]
    IcmpWithout(u8),
    /// TCP flags for another protocol.
    #[error("TCP flags need --proto tcp, not protocol {0}")]
    FlagsWithout(u8),
    /// An unknown connection state.
    #[error("unknown state {0:?}: use new, established, related or invalid")]
    State(String),
    /// An unknown protocol.
    #[error("unknown protocol {0:?}: use tcp, udp, icmp, icmpv6 or a number 0-255")]
    Protocol(String),
    /// An ICMP type that cannot be read.
    #[error(
        "bad ICMP type {0:?}: use TYPE or TYPE/CODE (numbers), or echo-request, echo-reply, ..."
    )]
    IcmpType(String),
}
