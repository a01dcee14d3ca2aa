//! What Linux reports when an ICMP error (or a local firewall) stops a packet.

use std::io;

/// Why a destination could not be reached, decoded from the socket's errno.
///
/// The kernel turns an ICMP destination-unreachable message into an errno on
/// the socket that sent the offending packet (`icmp_err_convert` in
/// `net/ipv4/icmp.c`, `icmpv6_err_convert` in `net/ipv6/icmp.c`). A TCP
/// socket in SYN-SENT aborts on any of them; the UDP and ping sockets of
/// this crate set `IP_RECVERR`/`IPV6_RECVERR` so they see every code too.
///
/// | ICMP (IPv4) unreachable code            | iptables `--reject-with`  | errno          |
/// |-----------------------------------------|---------------------------|----------------|
/// | 0 net unreachable                       | `icmp-net-unreachable`    | `ENETUNREACH`  |
/// | 1 host unreachable                      | `icmp-host-unreachable`   | `EHOSTUNREACH` |
/// | 2 protocol unreachable                  | `icmp-proto-unreachable`  | `ENOPROTOOPT`  |
/// | 3 port unreachable                      | `icmp-port-unreachable`   | `ECONNREFUSED` |
/// | 9 net administratively prohibited       | `icmp-net-prohibited`     | `ENETUNREACH`  |
/// | 10 host administratively prohibited     | `icmp-host-prohibited`    | `EHOSTUNREACH` |
/// | 13 communication administratively prohibited | `icmp-admin-prohibited` | `EHOSTUNREACH` |
///
/// | ICMPv6 unreachable code                 | ip6tables `--reject-with` | errno          |
/// |-----------------------------------------|---------------------------|----------------|
/// | 0 no route to destination               | `icmp6-no-route`          | `ENETUNREACH`  |
/// | 1 administratively prohibited           | `icmp6-adm-prohibited`    | `EACCES`       |
/// | 3 address unreachable                   | `icmp6-addr-unreachable`  | `EHOSTUNREACH` |
/// | 4 port unreachable                      | `icmp6-port-unreachable`  | `ECONNREFUSED` |
///
/// Consequences for tests: a TCP `REJECT` with the default
/// `icmp-port-unreachable` and one with `--reject-with tcp-reset` both show
/// up as [`TcpOutcome::Refused`](crate::TcpOutcome::Refused); IPv4
/// "prohibited" codes cannot be told apart from "unreachable" ones. A packet
/// dropped by the *sending* namespace's own output hook fails with `EPERM`
/// ([`Unreachable::LocalFilter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unreachable {
    /// `ENETUNREACH`: ICMP net unreachable / net prohibited, ICMPv6 no
    /// route, or no route in the sender's own routing table.
    Network,
    /// `EHOSTUNREACH`: ICMP host unreachable / host prohibited / admin
    /// prohibited, ICMPv6 address unreachable, or failed neighbour
    /// resolution.
    Host,
    /// `EACCES`: ICMPv6 administratively prohibited (also policy failure and
    /// reject route).
    Prohibited,
    /// `ENOPROTOOPT`: ICMP protocol unreachable.
    Protocol,
    /// `EPERM`: the sender's own netfilter output hook dropped the packet.
    LocalFilter,
    /// Any other errno the kernel derived from an ICMP error (for instance
    /// `EHOSTDOWN` or `ENONET` for rarely used codes).
    Other(i32),
}

impl Unreachable {
    /// Decodes an errno that signals an unreachable destination; `None` for
    /// errnos that mean something else (refused, timed out, local errors).
    pub fn from_errno(errno: i32) -> Option<Unreachable> {
        Some(match errno {
            libc::ENETUNREACH => Unreachable::Network,
            libc::EHOSTUNREACH => Unreachable::Host,
            libc::EACCES => Unreachable::Prohibited,
            libc::ENOPROTOOPT => Unreachable::Protocol,
            libc::EPERM => Unreachable::LocalFilter,
            libc::EHOSTDOWN | libc::ENONET | libc::EOPNOTSUPP => Unreachable::Other(errno),
            _ => return None,
        })
    }

    /// The errno this variant stands for.
    pub fn errno(self) -> i32 {
        match self {
            Unreachable::Network => libc::ENETUNREACH,
            Unreachable::Host => libc::EHOSTUNREACH,
            Unreachable::Prohibited => libc::EACCES,
            Unreachable::Protocol => libc::ENOPROTOOPT,
            Unreachable::LocalFilter => libc::EPERM,
            Unreachable::Other(errno) => errno,
        }
    }

    /// The [`io::ErrorKind`] the standard library assigns to this errno.
    pub fn kind(self) -> io::ErrorKind {
        io::Error::from_raw_os_error(self.errno()).kind()
    }
}

/// How a network operation failed, for the outcome enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `ECONNREFUSED`: TCP RST or ICMP port unreachable.
    Refused,
    /// No answer within the deadline.
    TimedOut,
    /// An ICMP error or local filter.
    Unreachable(Unreachable),
}

/// Classifies a socket error; `None` means it is not a network outcome but
/// a genuine error.
pub(crate) fn classify(err: &io::Error) -> Option<Failure> {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => return Some(Failure::TimedOut),
        io::ErrorKind::ConnectionRefused => return Some(Failure::Refused),
        _ => {}
    }
    err.raw_os_error()
        .and_then(Unreachable::from_errno)
        .map(Failure::Unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_round_trip() {
        for u in [
            Unreachable::Network,
            Unreachable::Host,
            Unreachable::Prohibited,
            Unreachable::Protocol,
            Unreachable::LocalFilter,
            Unreachable::Other(libc::EHOSTDOWN),
        ] {
            assert_eq!(Unreachable::from_errno(u.errno()), Some(u));
        }
        assert_eq!(Unreachable::from_errno(libc::ECONNREFUSED), None);
    }

    #[test]
    fn errors_are_classified() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert_eq!(classify(&e(libc::ECONNREFUSED)), Some(Failure::Refused));
        assert_eq!(classify(&e(libc::ETIMEDOUT)), Some(Failure::TimedOut));
        assert_eq!(classify(&e(libc::EAGAIN)), Some(Failure::TimedOut));
        assert_eq!(
            classify(&e(libc::EACCES)),
            Some(Failure::Unreachable(Unreachable::Prohibited))
        );
        assert_eq!(classify(&e(libc::EADDRINUSE)), None);
        assert_eq!(Unreachable::Host.kind(), e(libc::EHOSTUNREACH).kind());
    }
}
