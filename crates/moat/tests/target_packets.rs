//! Targets that rewrite packets and go on (TCPMSS, ...), with real traffic
//! through the client / gateway / server lab: what the server receives
//! shows the rewrite.

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{gateway_lab, iptables_all, moat_ok};
use moat_testnet::topology::{SERVER_V4, SERVER_V6};
use moat_testnet::Topology;

/// The MTU of the gateway's link to the server, below the lab's 1500.
const SMALL_MTU: &str = "1280";

/// Connects the client to `addr:port` on the server through the gateway and
/// returns the maximum segment size of the server's accepted socket: the
/// MSS the client's SYN announced as it reached the server (less the TCP
/// options each segment carries), as the server's own link allows 1500.
fn server_mss(lab: &Topology, addr: IpAddr, port: u16) -> u32 {
    let listener = lab
        .server
        .run(|| TcpListener::bind((addr, port)))
        .unwrap()
        .expect("listen on the server");
    let target = SocketAddr::new(addr, port);
    let _client = lab
        .client
        .run(|| TcpStream::connect_timeout(&target, Duration::from_secs(5)))
        .unwrap()
        .expect("the client connects through the gateway");
    let (conn, _) = listener.accept().expect("accept");
    socket2::SockRef::from(&conn).tcp_mss().expect("TCP_MAXSEG")
}

/// TCPMSS --clamp-mss-to-pmtu lowers the SYN's MSS to the gateway's small
/// outgoing MTU (1280 less 40 bytes of IPv4 or 60 of IPv6 and TCP headers);
/// --set-mss writes the given value.
#[test]
fn tcpmss_clamps_the_syn_to_the_outgoing_mtu() {
    let Some(lab) = gateway_lab() else { return };
    lab.gateway
        .ip(&["link", "set", "wan0", "mtu", SMALL_MTU])
        .unwrap();
    let v4 = IpAddr::from(SERVER_V4);
    let v6 = IpAddr::from(SERVER_V6);
    assert!(server_mss(&lab, v4, 8001) > 1400, "no clamping yet");
    assert!(server_mss(&lab, v6, 8001) > 1400, "no clamping yet");

    let clamp = "-t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu";
    iptables_all(&lab.gateway, "iptables", &[clamp]);
    iptables_all(&lab.gateway, "ip6tables", &[clamp]);
    let mss = server_mss(&lab, v4, 8002);
    assert!(mss <= 1240 && mss > 1200, "IPv4 MSS {mss}");
    let mss = server_mss(&lab, v6, 8002);
    assert!(mss <= 1220 && mss > 1180, "IPv6 MSS {mss}");
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "mangle", "-S", "FORWARD"]);
    assert!(
        listing.contains(
            "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"
        ),
        "{listing}"
    );

    let set = "-t mangle -I FORWARD -p tcp --syn -j TCPMSS --set-mss 1000";
    iptables_all(&lab.gateway, "iptables", &[set]);
    let mss = server_mss(&lab, v4, 8003);
    assert!(mss <= 1000 && mss > 960, "IPv4 MSS {mss}");
}
