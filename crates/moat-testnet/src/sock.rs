//! Small socket helpers shared by the traffic modules.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Timeout used by the traffic helpers that do not take one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Turns `[::ffff:a.b.c.d]:p` into `a.b.c.d:p`; other addresses unchanged.
pub(crate) fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// The wildcard address of `addr`'s family, port 0.
pub(crate) fn any_of_family(addr: IpAddr) -> SocketAddr {
    match addr {
        IpAddr::V4(_) => SocketAddr::from(([0u8; 4], 0)),
        IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// Asks the kernel to report every ICMP error on `sock` (`IP_RECVERR` or
/// `IPV6_RECVERR`), not only the "hard" ones of connected sockets.
pub(crate) fn set_recverr(sock: &impl AsRawFd, v6: bool) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    let on: libc::c_int = 1;
    // SAFETY: `on` outlives the call and its size is passed along.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens an ICMP (or ICMPv6) "ping" datagram socket for `addr`'s family.
///
/// The kernel fills in the echo identifier and checksum and delivers only
/// this socket's replies; the namespace's `net.ipv4.ping_group_range` must
/// include the caller's group.
pub(crate) fn icmp_socket(v6: bool) -> io::Result<UdpSocket> {
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(proto))?;
    // A datagram socket: sendto/recvfrom/timeouts work as for UDP.
    Ok(UdpSocket::from(sock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_v4() {
        let mapped: SocketAddr = "[::ffff:10.99.1.2]:80".parse().unwrap();
        assert_eq!(normalize(mapped), "10.99.1.2:80".parse().unwrap());
        let v6: SocketAddr = "[fd99:1::2]:80".parse().unwrap();
        assert_eq!(normalize(v6), v6);
    }
}
