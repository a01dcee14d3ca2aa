//! The headers of a logged packet: addresses, protocol, ports, TCP flags,
//! ICMP type and code, length, TTL. The kernel copies only the start of
//! each packet, so a cut-off packet gives what its bytes hold.

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// What the network and transport headers of a packet say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Source address.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: Option<IpAddr>,
    /// The layer-4 protocol number.
    pub proto: Option<u8>,
    /// Length of the IP packet, headers included.
    pub len: Option<u32>,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: Option<u8>,
    /// Type of service (IPv4) or traffic class (IPv6).
    pub tos: Option<u8>,
    /// The IPv4 identification.
    pub id: Option<u16>,
    /// IPv4's don't-fragment bit.
    pub df: bool,
    /// Source port (TCP, UDP).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// TCP flag names set, in the kernel log's order.
    pub tcp_flags: Vec<&'static str>,
    /// TCP window.
    pub window: Option<u16>,
    /// ICMP or ICMPv6 type.
    pub icmp_type: Option<u8>,
    /// ICMP or ICMPv6 code.
    pub icmp_code: Option<u8>,
}

impl Headers {
    /// Reads the headers of `payload` (starting at the IP header).
    pub fn parse(payload: &[u8]) -> Headers {
        let mut h = Headers::default();
        let Ok(packet) = LaxSlicedPacket::from_ip(payload) else {
            return h;
        };
        match &packet.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let hdr = ip.header();
                h.src = Some(IpAddr::V4(hdr.source_addr()));
                h.dst = Some(IpAddr::V4(hdr.destination_addr()));
                h.proto = Some(ip.payload().ip_number.0);
                h.len = Some(u32::from(hdr.total_len()));
                h.ttl = Some(hdr.ttl());
                h.tos = Some((hdr.dcp().value() << 2) | hdr.ecn().value());
                h.id = Some(hdr.identification());
                h.df = hdr.dont_fragment();
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let hdr = ip.header();
                h.src = Some(IpAddr::V6(hdr.source_addr()));
                h.dst = Some(IpAddr::V6(hdr.destination_addr()));
                h.proto = Some(ip.payload().ip_number.0);
                h.len = Some(u32::from(hdr.payload_length()) + 40);
                h.ttl = Some(hdr.hop_limit());
                h.tos = Some(hdr.traffic_class());
            }
            _ => return h,
        }
        match &packet.transport {
            Some(TransportSlice::Tcp(tcp)) => {
                h.sport = Some(tcp.source_port());
                h.dport = Some(tcp.destination_port());
                h.window = Some(tcp.window_size());
                let flags = [
                    (tcp.cwr(), "CWR"),
                    (tcp.ece(), "ECE"),
                    (tcp.urg(), "URG"),
                    (tcp.ack(), "ACK"),
                    (tcp.psh(), "PSH"),
                    (tcp.rst(), "RST"),
                    (tcp.syn(), "SYN"),
                    (tcp.fin(), "FIN"),
                ];
                h.tcp_flags = flags.iter().filter(|(on, _)| *on).map(|f| f.1).collect();
            }
            Some(TransportSlice::Udp(udp)) => {
                h.sport = Some(udp.source_port());
                h.dport = Some(udp.destination_port());
            }
            Some(TransportSlice::Icmpv4(icmp)) => {
                h.icmp_type = Some(icmp.type_u8());
                h.icmp_code = Some(icmp.code_u8());
            }
            Some(TransportSlice::Icmpv6(icmp)) => {
                h.icmp_type = Some(icmp.type_u8());
                h.icmp_code = Some(icmp.code_u8());
            }
            _ => {}
        }
        h
    }
}

/// The protocol's name as the kernel log writes it (`TCP`, `ICMPv6`, or the number).
pub fn protocol_name(proto: u8) -> String {
    match proto {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        33 => "DCCP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        136 => "UDPLITE".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn a_tcp_syn_gives_addresses_ports_flags_and_ttl() {
        let builder = PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 61)
            .tcp(40000, 22, 1, 64240)
            .syn();
        let mut bytes = Vec::new();
        builder.write(&mut bytes, &[]).unwrap();
        let h = Headers::parse(&bytes);
        assert_eq!(h.src, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(h.dst, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(h.proto, Some(6));
        assert_eq!((h.sport, h.dport), (Some(40000), Some(22)));
        assert_eq!(h.tcp_flags, vec!["SYN"]);
        assert_eq!(h.ttl, Some(61));
        assert_eq!(h.len, Some(40));
        assert_eq!(h.window, Some(64240));
    }

    #[test]
    fn a_cut_udp_packet_still_gives_its_ports() {
        let builder = PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 9).udp(53, 5353);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, &[0u8; 400]).unwrap();
        let h = Headers::parse(&bytes[..60]);
        assert_eq!(h.proto, Some(17));
        assert_eq!((h.sport, h.dport), (Some(53), Some(5353)));
        assert_eq!(h.len, Some(40 + 8 + 400));
    }

    #[test]
    fn icmp_gives_type_and_code_and_garbage_gives_nothing() {
        let builder = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64).icmpv4_echo_request(1, 2);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, &[]).unwrap();
        let h = Headers::parse(&bytes);
        assert_eq!((h.icmp_type, h.icmp_code), (Some(8), Some(0)));
        assert_eq!(protocol_name(h.proto.unwrap()), "ICMP");
        assert_eq!(Headers::parse(&[0xff, 1, 2]), Headers::default());
    }
}
