//! The client — gateway — server lab.
//!
//! ```text
//!  client                    gateway                      server
//!  eth0 ------------------- lan0      wan0 -------------- eth0
//!  10.99.1.2/24        10.99.1.1/24   10.99.2.1/24        10.99.2.2/24 (+ .3, .4)
//!  fd99:1::2/64        fd99:1::1/64   fd99:2::1/64        fd99:2::2/64 (+ ::3, ::4)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::icmp::{ping_outcome, PingOutcome};
use crate::netns::{next_id, Netns};

/// Interface of the client, facing the gateway.
pub const CLIENT_IF: &str = "eth0";
/// Interface of the gateway facing the client (the "inside").
pub const GATEWAY_LAN_IF: &str = "lan0";
/// Interface of the gateway facing the server (the "outside").
pub const GATEWAY_WAN_IF: &str = "wan0";
/// Interface of the server, facing the gateway.
pub const SERVER_IF: &str = "eth0";

/// The client-side network, as a CIDR string.
pub const LAN_NET_V4: &str = "10.99.1.0/24";
/// The client-side IPv6 network, as a CIDR string.
pub const LAN_NET_V6: &str = "fd99:1::/64";
/// The server-side network, as a CIDR string.
pub const WAN_NET_V4: &str = "10.99.2.0/24";
/// The server-side IPv6 network, as a CIDR string.
pub const WAN_NET_V6: &str = "fd99:2::/64";

/// The client's address.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 2);
/// The client's IPv6 address.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd99, 1, 0, 0, 0, 0, 0, 2);
/// The gateway's address on [`GATEWAY_LAN_IF`]; the client's default route.
pub const GATEWAY_LAN_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
/// The gateway's IPv6 address on [`GATEWAY_LAN_IF`].
pub const GATEWAY_LAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd99, 1, 0, 0, 0, 0, 0, 1);
/// The gateway's address on [`GATEWAY_WAN_IF`]; the server's default route.
pub const GATEWAY_WAN_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 2, 1);
/// The gateway's IPv6 address on [`GATEWAY_WAN_IF`].
pub const GATEWAY_WAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd99, 2, 0, 0, 0, 0, 0, 1);
/// The server's main address.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 2, 2);
/// The server's main IPv6 address.
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd99, 2, 0, 0, 0, 0, 0, 2);
/// Further server addresses, so one namespace can stand in for several
/// servers (e.g. DNAT targets).
pub const SERVER_EXTRA_V4: [Ipv4Addr; 2] =
    [Ipv4Addr::new(10, 99, 2, 3), Ipv4Addr::new(10, 99, 2, 4)];
/// Further server IPv6 addresses.
pub const SERVER_EXTRA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd99, 2, 0, 0, 0, 0, 0, 3),
    Ipv6Addr::new(0xfd99, 2, 0, 0, 0, 0, 0, 4),
];

/// How long [`Topology::gateway`] waits for the links to carry traffic.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Choices for [`Topology::gateway_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopologyOptions {
    /// Give the server a default route via the gateway (the default). With
    /// `false` the server can only answer addresses of its own network, so
    /// client traffic works only when the gateway masquerades it.
    pub server_route_back: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            server_route_back: true,
        }
    }
}

/// Three namespaces — client, gateway, server — joined by veth pairs; see
/// the [module documentation](self) for the addressing and the constants
/// in this module for every address and interface name.
///
/// The gateway forwards IPv4 and IPv6 (nothing else does); IPv6 duplicate
/// address detection, reverse-path filtering and the per-namespace ICMP
/// error rate limits are off in all three, so results are deterministic. The
/// host's own interfaces, routes and firewall are never touched. Dropping
/// the topology deletes the namespaces (also on panic).
///
/// Construction takes well under a second and ends with pings from
/// client and server to the gateway (so neighbour caches for those are
/// warm). One limit cannot be lifted per namespace: ICMP errors the
/// gateway generates from its *routing table* (routes of type
/// `unreachable`/`prohibit`) are limited by the kernel to a burst of 5 per
/// source, then 1 per second. ICMP errors from firewall `REJECT` rules
/// are not held back in practice (on older kernels, where the ICMP budget
/// of 1000 per second with a burst of 50 is host-wide, that one remains).
#[derive(Debug)]
pub struct Topology {
    /// The client host (`moat-<pid>-<n>-client`).
    pub client: Netns,
    /// The router between them (`moat-<pid>-<n>-gateway`), where the
    /// firewall under test goes.
    pub gateway: Netns,
    /// The server host (`moat-<pid>-<n>-server`).
    pub server: Netns,
    /// How it was built.
    pub options: TopologyOptions,
}

impl Topology {
    /// Builds the lab with default options and waits until its links work.
    pub fn gateway() -> Result<Topology> {
        Topology::gateway_with(TopologyOptions::default())
    }

    /// Builds the lab with the given options and waits until its links
    /// work.
    pub fn gateway_with(options: TopologyOptions) -> Result<Topology> {
        let id = next_id();
        let topo = Topology {
            client: Netns::create(id, "client")?,
            gateway: Netns::create(id, "gateway")?,
            server: Netns::create(id, "server")?,
            options,
        };
        topo.client.sysctls(&host_sysctls(false))?;
        topo.gateway.sysctls(&host_sysctls(true))?;
        topo.server.sysctls(&host_sysctls(false))?;
        // Best effort: these only make error replies deterministic.
        for ns in topo.all() {
            for (key, value) in OPTIONAL_SYSCTLS {
                let _ = ns.sysctl(key, value);
            }
        }
        topo.gateway.ip_batch(&gateway_script(&topo))?;
        topo.client.ip_batch(&client_script())?;
        topo.server.ip_batch(&server_script(options))?;
        topo.wait_ready()?;
        Ok(topo)
    }

    /// The three namespaces: client, gateway, server.
    pub fn all(&self) -> [&Netns; 3] {
        [&self.client, &self.gateway, &self.server]
    }

    /// Waits until both links carry IPv4 and IPv6 (freshly enabled veths
    /// may drop the first packets for a moment).
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let checks: [(&Netns, IpAddr); 4] = [
            (&self.client, GATEWAY_LAN_V4.into()),
            (&self.client, GATEWAY_LAN_V6.into()),
            (&self.server, GATEWAY_WAN_V4.into()),
            (&self.server, GATEWAY_WAN_V6.into()),
        ];
        for (ns, addr) in checks {
            loop {
                let outcome = ping_outcome(ns, addr, Duration::from_millis(200))?;
                if outcome == PingOutcome::Reply {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::NotReady(format!(
                        "{} cannot ping {addr}: {outcome:?}",
                        ns.name()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }
}

/// Sysctls every host gets before its interfaces exist, so the interfaces
/// inherit them from `default`.
fn host_sysctls(forward: bool) -> [(&'static str, &'static str); 7] {
    let fwd = if forward { "1" } else { "0" };
    [
        ("net/ipv6/conf/all/accept_dad", "0"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        ("net/ipv4/ip_forward", fwd),
        ("net/ipv6/conf/all/forwarding", fwd),
        // Let any group open ICMP ping sockets (used by `ping`).
        ("net/ipv4/ping_group_range", "0 2147483647"),
        ("net/ipv4/conf/all/rp_filter", "0"),
        ("net/ipv4/conf/default/rp_filter", "0"),
    ]
}

/// Sysctls that make ICMP errors and replies deterministic; older kernels
/// may lack some.
const OPTIONAL_SYSCTLS: [(&str, &str); 4] = [
    ("net/ipv4/icmp_ratelimit", "0"),
    ("net/ipv6/icmp/ratelimit", "0"),
    // Per namespace only on newer kernels; elsewhere the write just fails.
    ("net/ipv4/icmp_msgs_per_sec", "100000"),
    ("net/ipv4/icmp_msgs_burst", "100000"),
];

fn gateway_script(topo: &Topology) -> String {
    format!(
        "link set lo up
link add {GATEWAY_LAN_IF} type veth peer name {CLIENT_IF} netns {client}
link add {GATEWAY_WAN_IF} type veth peer name {SERVER_IF} netns {server}
addr add {GATEWAY_LAN_V4}/24 dev {GATEWAY_LAN_IF}
addr add {GATEWAY_LAN_V6}/64 dev {GATEWAY_LAN_IF} nodad
addr add {GATEWAY_WAN_V4}/24 dev {GATEWAY_WAN_IF}
addr add {GATEWAY_WAN_V6}/64 dev {GATEWAY_WAN_IF} nodad
link set {GATEWAY_LAN_IF} up
link set {GATEWAY_WAN_IF} up
",
        client = topo.client.name(),
        server = topo.server.name(),
    )
}

fn client_script() -> String {
    format!(
        "link set lo up
addr add {CLIENT_V4}/24 dev {CLIENT_IF}
addr add {CLIENT_V6}/64 dev {CLIENT_IF} nodad
link set {CLIENT_IF} up
route add default via {GATEWAY_LAN_V4}
route add default via {GATEWAY_LAN_V6}
"
    )
}

fn server_script(options: TopologyOptions) -> String {
    let mut script = format!(
        "link set lo up
addr add {SERVER_V4}/24 dev {SERVER_IF}
addr add {SERVER_V6}/64 dev {SERVER_IF} nodad
"
    );
    for v4 in SERVER_EXTRA_V4 {
        script += &format!("addr add {v4}/24 dev {SERVER_IF}\n");
    }
    for v6 in SERVER_EXTRA_V6 {
        script += &format!("addr add {v6}/64 dev {SERVER_IF} nodad\n");
    }
    script += &format!("link set {SERVER_IF} up\n");
    if options.server_route_back {
        script += &format!(
            "route add default via {GATEWAY_WAN_V4}\nroute add default via {GATEWAY_WAN_V6}\n"
        );
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_script_honours_route_back() {
        let with = server_script(TopologyOptions::default());
        assert!(with.contains("route add default via 10.99.2.1"));
        assert!(with.contains("route add default via fd99:2::1"));
        assert!(with.contains("addr add 10.99.2.4/24 dev eth0"));
        assert!(with.contains("addr add fd99:2::3/64 dev eth0 nodad"));
        let without = server_script(TopologyOptions {
            server_route_back: false,
        });
        assert!(!without.contains("route"));
    }

    #[test]
    fn client_routes_via_gateway() {
        let s = client_script();
        assert!(s.contains("route add default via 10.99.1.1"));
        assert!(s.contains("route add default via fd99:1::1"));
    }
}
