//! What a rule does with a packet that matches.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::matches::{CtDirection, PortRange};
use crate::ruleset::Hook;
use crate::xt::XtExtension;

/// The action of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Only count the packet and go on to the next rule.
    Continue,
    /// Let the packet through this chain's hook.
    Accept,
    /// Discard the packet silently.
    Drop,
    /// Return to the calling chain (or apply the policy in a base chain).
    Return,
    /// Run the named chain, then come back.
    Jump(String),
    /// Run the named chain instead of returning here.
    Goto(String),
    /// Discard the packet and tell the sender.
    Reject(RejectKind),
    /// Write a kernel log line and go on.
    Log {
        prefix: Option<String>,
        level: LogLevel,
        flags: LogFlags,
    },
    /// Send the packet to a netlink log group and go on.
    NfLog {
        group: u16,
        prefix: Option<String>,
        snaplen: Option<u32>,
        threshold: Option<u16>,
    },
    /// Change the packet mark and go on.
    SetMark(MarkSet),
    /// Change the connection mark and go on.
    SetConnMark(MarkSet),
    /// Copy the packet mark into the connection mark: `ct = (ct & ~ctmask) | (mark & nfmask)`.
    SaveMark { nfmask: u32, ctmask: u32 },
    /// Copy the connection mark into the packet mark: `mark = (mark & ~nfmask) | (ct & ctmask)`.
    RestoreMark { nfmask: u32, ctmask: u32 },
    /// Do not track this packet's connection.
    NoTrack,
    /// Track this packet's connection in conntrack zone `id` (`CT --zone`),
    /// in both directions or only `dir`: connections with the same
    /// addresses in different zones are apart.
    CtZone { id: u16, dir: Option<CtDirection> },
    /// Track this packet's connection in the conntrack zone its mark's low
    /// 16 bits name (`CT --zone mark`), in both directions or only `dir`.
    CtZoneFromMark { dir: Option<CtDirection> },
    /// Have conntrack helper `helper` (`ftp`, `sip`, ...) follow the new
    /// connection of layer-4 protocol `proto` this packet starts
    /// (`CT --helper`): it sees the control connection and expects the
    /// data connections it announces.
    CtHelper { helper: String, proto: u8 },
    /// Report only the events of [`CT_EVENTS`] whose bits `mask` holds for
    /// the new connection this packet starts (`CT --ctevents`), to
    /// conntrack's event listeners (conntrackd, `conntrack -E`).
    CtEvents { mask: u16 },
    /// Give the new connection of layer-4 protocol `proto` this packet
    /// starts the timeouts of the kernel's timeout policy `policy` (made
    /// with `nfct add timeout`), instead of the defaults (`CT --timeout`).
    CtTimeout { policy: String, proto: u8 },
    /// Two or more of the CT target's settings in one rule (`CT --zone 1
    /// --helper ftp`): each part is a [`Action::CtZone`],
    /// [`Action::CtZoneFromMark`], [`Action::CtHelper`],
    /// [`Action::CtEvents`] or [`Action::CtTimeout`], in the order
    /// iptables writes them (helper, timeout policy, events, zone).
    CtSeveral(Vec<Action>),
    /// Rewrite the destination address and/or port.
    Dnat(NatTarget),
    /// Rewrite the source address and/or port.
    Snat(NatTarget),
    /// Rewrite the source to the outgoing interface's address.
    Masquerade {
        ports: Option<PortRange>,
        random: bool,
        /// Choose ports fully at random (`--random-fully`).
        #[serde(default)]
        fully_random: bool,
    },
    /// Rewrite the destination to this host, optionally to other ports.
    Redirect {
        ports: Option<PortRange>,
        random: bool,
    },
    /// Lower the maximum segment size a TCP SYN announces, and go on.
    TcpMss(MssValue),
    /// Overwrite the TCP options of these kinds (ascending) with no-op
    /// options, and go on (TCPOPTSTRIP).
    TcpOptStrip(Vec<u8>),
    /// Count the packet and go on: iptables' CHECKSUM --checksum-fill,
    /// whose filling in of a checksum left to the network card nf_tables
    /// cannot do (the kernel ties xt_CHECKSUM to a table named mangle).
    ChecksumFill,
    /// Copy the packet's security mark to its connection, or the
    /// connection's back to the packet, and go on (CONNSECMARK).
    ConnSecMark(SecMarkCopy),
    /// Add the packet's addresses (or tuple) to one of the kernel's ipsets
    /// and/or delete them from one, and go on (`-j SET`); the kernel's
    /// xt_SET does it once the sets' indexes are known.
    IpSetUpdate(IpSetUpdate),
    /// Set the ECN bits of the IPv4 header and the ECE and CWR flags of
    /// the TCP header, and go on (ECN).
    Ecn(EcnChange),
    /// Have nf_tables report the packet's path from here on (`nft monitor
    /// trace`), and go on.
    Trace,
    /// Answer a new TCP connection's handshake with a SYN cookie and open
    /// the connection to the server only when the client completes it
    /// (anti SYN-flood); packets it does not handle go on.
    SynProxy(SynProxyOptions),
    /// Hand the packet to a local transparent socket without changing its
    /// addresses and accept it; drop it when no such socket takes it
    /// (TPROXY).
    Tproxy(TproxyTarget),
    /// Map the address on `side` into network `to`, keeping its host part
    /// (NETMAP).
    Netmap { to: IpNet, side: NatSide },
    /// Hand the packet to the userspace program reading queue `first` (or
    /// one of `first..=last`, by flow or, with `fanout`, by CPU), which
    /// decides its fate; with `bypass`, accept it when no program reads the
    /// queue (otherwise it is dropped).
    Queue {
        first: u16,
        last: u16,
        bypass: bool,
        fanout: bool,
    },
    /// Set the packet's traffic-control class (major in the high 16 bits,
    /// minor in the low), and go on.
    Classify(u32),
    /// Change an IPv4 packet's time to live (TTL), and go on.
    Ttl(TtlOp),
    /// Change an IPv6 packet's hop limit (HL), and go on.
    HopLimit(TtlOp),
    /// Set the Differentiated Services code point (0-63), keeping the ECN
    /// bits, and go on.
    Dscp(u8),
    /// Change the IPv4 TOS byte (IPv6 traffic class) to
    /// `(old & !mask) ^ value`, and go on.
    Tos { value: u8, mask: u8 },
    /// Run a target of the kernel's xtables module of that name (AUDIT,
    /// IDLETIMER), which records or times the packet and goes on.
    Xt(XtExtension),
}

/// How TTL and HL change the time to live or hop limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtlOp {
    /// Set it to this value.
    Set(u8),
    /// Lower it by this much, stopping at 0.
    Dec(u8),
    /// Raise it by this much, stopping at 255.
    Inc(u8),
}

impl TtlOp {
    /// The value after the change, from `value`.
    pub fn apply(self, value: u8) -> u8 {
        match self {
            TtlOp::Set(n) => n,
            TtlOp::Dec(n) => value.saturating_sub(n),
            TtlOp::Inc(n) => value.saturating_add(n),
        }
    }
}

/// Which address of a packet a translation rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NatSide {
    /// The destination (PREROUTING and OUTPUT).
    Destination,
    /// The source (POSTROUTING and INPUT).
    Source,
}

impl Action {
    /// The CT target's settings the action holds: the parts of an
    /// [`Action::CtSeveral`], else the action itself.
    pub fn ct_settings(&self) -> &[Action] {
        match self {
            Action::CtSeveral(parts) => parts,
            one => std::slice::from_ref(one),
        }
    }

    /// Whether [`Action::place`] can change the action: whether it depends
    /// on the hooks that reach the rule's chain.
    pub fn depends_on_hooks(&self) -> bool {
        matches!(self, Action::Netmap { .. })
    }

    /// Settles what depends on the hooks that reach the rule's chain: NETMAP
    /// maps sources when every hook is POSTROUTING or INPUT, destinations
    /// otherwise (a chain reached from both kinds is refused by
    /// [`crate::validate_rule`]).
    pub fn place(&mut self, hooks: &[Hook]) {
        if let Action::Netmap { side, .. } = self {
            let sources = !hooks.is_empty()
                && hooks
                    .iter()
                    .all(|h| matches!(h, Hook::Postrouting | Hook::Input));
            *side = if sources {
                NatSide::Source
            } else {
                NatSide::Destination
            };
        }
    }
}

/// The maximum segment size TCPMSS writes into a SYN's MSS option. Like the
/// kernel's TCPMSS, it only ever lowers the option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MssValue {
    /// This many bytes.
    Fixed(u16),
    /// The outgoing route's MTU less the IP and TCP headers.
    PathMtu,
}

/// Which way CONNSECMARK copies a security mark. Like xt_CONNSECMARK, it
/// never overwrites a mark already set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecMarkCopy {
    /// From a marked packet to its connection when the connection has none (`--save`).
    Save,
    /// From a marked connection to its packet when the packet has none (`--restore`).
    Restore,
}

impl SecMarkCopy {
    /// The iptables option word without its dashes: `save` or `restore`.
    pub fn word(self) -> &'static str {
        match self {
            SecMarkCopy::Save => "save",
            SecMarkCopy::Restore => "restore",
        }
    }
}

/// How a rejected packet's sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectKind {
    /// A TCP reset.
    TcpReset,
    /// An ICMP destination-unreachable with this code (IPv4).
    Icmp(u8),
    /// An ICMPv6 destination-unreachable with this code.
    Icmpv6(u8),
}

/// Syslog severity of a log line (0 emerg to 7 debug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevel(pub u8);

/// Extra information a log line carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFlags {
    /// TCP sequence numbers.
    pub tcp_sequence: bool,
    /// TCP options.
    pub tcp_options: bool,
    /// IP options.
    pub ip_options: bool,
    /// The owning socket's user id.
    pub uid: bool,
    /// The decoded MAC header.
    pub macdecode: bool,
}

/// A mark change: `new = (old & !mask) ^ value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkSet {
    /// Bits to flip after clearing.
    pub value: u32,
    /// Bits to clear first.
    pub mask: u32,
}

/// Whether a NAT port translation applies after protocol `proto`: the
/// protocols with ports (tcp, udp, dccp, sctp, udplite) and ICMP, whose
/// query id the kernel translates as a port.
pub fn nat_translates_ports(proto: u8) -> bool {
    matches!(proto, 1 | 6 | 17 | 33 | 132 | 136)
}

/// Where address translation sends a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatTarget {
    /// The inclusive address range to choose from (None keeps the address).
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// The port range to choose from (None keeps the port).
    pub ports: Option<PortRange>,
    /// Shift ports instead (iptables' `PORTS/BASE`): a packet's port P
    /// becomes `ports.first + (P - BASE) % (size of ports)`, so a range of
    /// ports maps onto another one by one.
    #[serde(default)]
    pub port_base: Option<u16>,
    /// Randomise the port choice.
    pub random: bool,
    /// Choose ports fully at random, for every connection
    /// (`--random-fully`).
    #[serde(default)]
    pub fully_random: bool,
    /// Give a client the same address on every connection.
    pub persistent: bool,
}

/// What the ECN target sets; `None` leaves that part alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EcnChange {
    /// The IPv4 header's ECN codepoint (0-3).
    pub ip_ect: Option<u8>,
    /// The TCP ECE flag.
    pub ece: Option<bool>,
    /// The TCP CWR flag.
    pub cwr: Option<bool>,
}

impl EcnChange {
    /// Whether it changes TCP flags (and so needs TCP packets).
    pub fn touches_tcp(&self) -> bool {
        self.ece.is_some() || self.cwr.is_some()
    }
}

/// Where TPROXY hands a packet: the socket of an established connection
/// of the packet, else a transparent listener on `addr:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TproxyTarget {
    /// The listener's address; unspecified for the address of the
    /// interface the packet came in on.
    pub addr: IpAddr,
    /// The listener's port; 0 for the packet's destination port.
    pub port: u16,
    /// The packet's mark becomes `(mark & !mask) ^ value` when a socket
    /// takes it.
    pub mark: u32,
    /// The mark bits replaced.
    pub mask: u32,
}

/// The TCP options a SYN proxy announces to clients: they must match the
/// server's, as the proxy answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SynProxyOptions {
    /// The maximum segment size.
    pub mss: Option<u16>,
    /// The window scale.
    pub wscale: Option<u8>,
    /// Selective acknowledgements.
    pub sack_perm: bool,
    /// Timestamps.
    pub timestamp: bool,
}

/// Conntrack's event kinds by bit, as iptables' `CT --ctevents` names them.
pub const CT_EVENTS: [&str; 10] = [
    "new",
    "related",
    "destroy",
    "reply",
    "assured",
    "protoinfo",
    "helper",
    "mark",
    "natseqinfo",
    "secmark",
];

/// The names of the events in `mask`, in bit order, joined by commas.
pub fn ct_event_names(mask: u16) -> String {
    CT_EVENTS
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// What `-j SET` does: the sets by name with the packet's fields to use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpSetUpdate {
    /// `--add-set NAME src,dst...`.
    pub add: Option<(String, Vec<crate::SetSide>)>,
    /// `--del-set NAME src,dst...`.
    pub del: Option<(String, Vec<crate::SetSide>)>,
    /// `--exist`: an element already there gets the timeout again.
    pub exist: bool,
    /// `--timeout N`: the added element's timeout in seconds.
    pub timeout: Option<u32>,
}

impl IpSetUpdate {
    /// The options as iptables writes them after `-j SET` (or, with
    /// `listing`, as `-L` shows them).
    pub fn text(&self, listing: bool) -> String {
        let dash = if listing { "" } else { "--" };
        let mut out = String::new();
        for (what, set) in [("add-set", &self.add), ("del-set", &self.del)] {
            if let Some((name, sides)) = set {
                let dirs: Vec<&str> = sides.iter().map(|s| s.pick("src", "dst")).collect();
                out += &format!(" {dash}{what} {name} {}", dirs.join(","));
            }
        }
        if self.exist {
            out += &format!(" {dash}exist");
        }
        if let Some(t) = self.timeout {
            out += &format!(" {dash}timeout {t}");
        }
        out
    }
}
