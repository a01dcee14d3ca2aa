//! Conditions a rule can test a packet against.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A condition on a packet. Every variant with a `negate` field matches the
/// opposite when it is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Match {
    /// The layer-4 protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...).
    Protocol { proto: u8, negate: bool },
    /// The source address lies in `net`.
    SourceNet { net: IpNet, negate: bool },
    /// The destination address lies in `net`.
    DestNet { net: IpNet, negate: bool },
    /// The source address lies in the inclusive range `from..=to`.
    SourceRange {
        from: IpAddr,
        to: IpAddr,
        negate: bool,
    },
    /// The destination address lies in the inclusive range `from..=to`.
    DestRange {
        from: IpAddr,
        to: IpAddr,
        negate: bool,
    },
    /// The packet's address on `side`, masked with `mask` (a netmask that
    /// is not a prefix, `-s 10.0.0.0/255.0.255.0`), equals `addr`.
    AddrMask {
        side: SetSide,
        addr: IpAddr,
        mask: IpAddr,
        negate: bool,
    },
    /// The packet arrived on a matching interface.
    InInterface { iface: Iface, negate: bool },
    /// The packet leaves through a matching interface.
    OutInterface { iface: Iface, negate: bool },
    /// The packet is a second or later IPv4 fragment.
    Fragment { negate: bool },
    /// The source port of protocol `proto` is in one of `ports`.
    SourcePort {
        proto: u8,
        ports: Vec<PortRange>,
        negate: bool,
    },
    /// The destination port of protocol `proto` is in one of `ports`.
    DestPort {
        proto: u8,
        ports: Vec<PortRange>,
        negate: bool,
    },
    /// The source or the destination port of protocol `proto` is in one of `ports`.
    AnyPort {
        proto: u8,
        ports: Vec<PortRange>,
        negate: bool,
    },
    /// The TCP flags selected by `flags.mask` equal `flags.set`.
    TcpFlags { flags: TcpFlags, negate: bool },
    /// ICMP (IPv4) type and optional code; `kind` 255 means any type.
    Icmp {
        kind: u8,
        code: Option<u8>,
        negate: bool,
    },
    /// ICMPv6 type and optional code.
    Icmpv6 {
        kind: u8,
        code: Option<u8>,
        negate: bool,
    },
    /// The connection-tracking state is one of `states`.
    ConnState { states: ConnStates, negate: bool },
    /// The connection's status bits include any of `status` (EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8).
    ConnStatus { status: u32, negate: bool },
    /// The connection's layer-4 protocol.
    ConnProto { proto: u8, negate: bool },
    /// An address of the tracked connection lies in `net`.
    ConnAddr {
        which: ConntrackAddr,
        net: IpNet,
        negate: bool,
    },
    /// A port of the tracked connection is in `range`.
    ConnPort {
        which: ConntrackPort,
        range: PortRange,
        negate: bool,
    },
    /// The connection's remaining lifetime in seconds is in `min..=max`.
    ConnExpire { min: u32, max: u32, negate: bool },
    /// The packet travels in this direction of its connection.
    ConnDirection { dir: CtDirection },
    /// The source MAC address.
    SourceMac { mac: [u8; 6], negate: bool },
    /// `packet mark & mask == value`.
    Mark { value: u32, mask: u32, negate: bool },
    /// `connection mark & mask == value`.
    ConnMark { value: u32, mask: u32, negate: bool },
    /// The routing type of the source and/or destination address.
    AddrType {
        src: Option<(AddrTypes, bool)>,
        dst: Option<(AddrTypes, bool)>,
        limit_iface_in: bool,
        limit_iface_out: bool,
    },
    /// The link-layer packet type.
    PacketType { kind: PacketType, negate: bool },
    /// The IP packet length (header included) is in `min..=max`.
    Length { min: u16, max: u16, negate: bool },
    /// A global token bucket: matches while tokens remain (`over` inverts it).
    Limit { rate: Rate, burst: u32, over: bool },
    /// A token bucket per key (source address, ports, ...).
    HashLimit {
        name: String,
        rate: Rate,
        burst: u32,
        over: bool,
        key: LimitKey,
        expire_ms: u32,
        /// The rate and the burst count bytes instead of packets.
        #[serde(default)]
        bytes: bool,
        /// The most keys tracked at once; none: the kernel's default.
        #[serde(default)]
        max_keys: Option<u32>,
    },
    /// The number of tracked connections sharing a key with this packet.
    ConnLimit {
        count: u32,
        above: bool,
        prefix: u8,
        by_source: bool,
    },
    /// Membership of the packet's address in a list of recently seen addresses.
    Recent {
        name: String,
        action: RecentAction,
        seconds: Option<u32>,
        hitcount: Option<u32>,
        side: SetSide,
        negate: bool,
        /// `--rttl`: the packet's TTL must equal the one last seen.
        #[serde(default)]
        rttl: bool,
        /// `--reap`: forget entries older than `seconds` while checking.
        #[serde(default)]
        reap: bool,
        /// `--mask`: the address bits the list keeps (`None`: all of them).
        #[serde(default)]
        mask: Option<IpAddr>,
    },
    /// An address (or tuple) of the packet is an element of a named set:
    /// one of moat's block lists or, failing that, one of the kernel's
    /// ipsets (which alone take `options`).
    InSet {
        name: String,
        sides: Vec<SetSide>,
        negate: bool,
        #[serde(default)]
        options: SetMatchOptions,
    },
    /// Matches a share of packets.
    Statistic { mode: StatisticMode, negate: bool },
    /// The user id of the local socket that sent the packet is in
    /// `min..=max` (`-m owner --uid-owner`): only packets a local process
    /// sent (OUTPUT, POSTROUTING) have one. A packet without an owning
    /// socket held open by a process (a forwarded packet, a reset or ICMP
    /// error the kernel sends itself) matches neither form: nf_tables cannot
    /// test for its absence, where iptables' `!` form matches it.
    SocketUid { min: u32, max: u32, negate: bool },
    /// The group id of the local socket that sent the packet is in
    /// `min..=max` (`-m owner --gid-owner`); as [`Match::SocketUid`].
    SocketGid { min: u32, max: u32, negate: bool },
    /// The IPv4 TTL or the IPv6 hop limit compared with `value`
    /// (`-m ttl`, `-m hl`).
    HopLimit { cmp: Compare, value: u8 },
    /// `DS field & mask == value`: the IPv4 TOS byte or the IPv6 traffic
    /// class (`-m tos`; `-m dscp` tests the top six bits, mask 0xfc).
    DsField { value: u8, mask: u8, negate: bool },
    /// Matches while the packets that reached the rule, this one included,
    /// add up to at most `bytes` (`-m quota`); once over, never again
    /// (`negate`: from then on). The count belongs to the rule.
    Quota { bytes: u64, negate: bool },
    /// The traffic the packet's connection has carried so far, this packet
    /// included (`-m connbytes`): its `counter`, in direction `dir` (`None`:
    /// both added up), lies in `min..=max`. A packet without a tracked
    /// connection matches neither form.
    ConnBytes {
        counter: ConnCounter,
        dir: Option<CtDirection>,
        min: u64,
        max: u64,
        negate: bool,
    },
    /// The packet is handled by CPU number `cpu` (`-m cpu`).
    Cpu { cpu: u32, negate: bool },
    /// `group & mask == value` for the group of the interface the packet
    /// arrived on, or with `output` the one it leaves through
    /// (`-m devgroup`).
    DeviceGroup {
        output: bool,
        value: u32,
        mask: u32,
        negate: bool,
    },
    /// `realm & mask == value` for the routing realm of the packet's route
    /// (`-m realm`, IPv4).
    Realm { value: u32, mask: u32, negate: bool },
    /// The packet's source address routes back out through the interface
    /// it came in by (a reverse path filter, `-m rpfilter`): with `loose`
    /// through any interface, with `valid_mark` looked up with the packet's
    /// mark, with `accept_local` also when the source is one of this host's
    /// addresses (`--accept-local`); `negate` matches packets that fail
    /// (`--invert`).
    RpFilter {
        loose: bool,
        valid_mark: bool,
        #[serde(default)]
        accept_local: bool,
        negate: bool,
    },
    /// A note for people; matches every packet.
    Comment { text: String },
    /// A match the kernel's xtables module of that name decides (its
    /// arguments carry any inversion).
    Xt(crate::xt::XtExtension),
}

/// Which traffic counter of a connection a match reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnCounter {
    /// Packets.
    Packets,
    /// Bytes.
    Bytes,
    /// Bytes per packet, rounded down (0 before any packet).
    AvgPacket,
}

/// How a header field is compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// Equal to it.
    Equal,
    /// Not equal to it.
    NotEqual,
    /// Below it.
    Less,
    /// Above it.
    Greater,
}

impl Compare {
    /// The operator: `==`, `!=`, `<` or `>`.
    pub fn symbol(self) -> &'static str {
        match self {
            Compare::Equal => "==",
            Compare::NotEqual => "!=",
            Compare::Less => "<",
            Compare::Greater => ">",
        }
    }
}

/// An interface name; with `wildcard` it matches every name starting with `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iface {
    /// The name or, with `wildcard`, its prefix.
    pub name: String,
    /// Whether `name` is a prefix.
    pub wildcard: bool,
}

/// An inclusive port range; a single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

/// `80`, or `8000-8100` for a range.
impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A TCP flag test: the flags in `mask` are examined and must equal `set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpFlags {
    /// The flags examined (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
    pub mask: u8,
    /// The flags among `mask` that must be set.
    pub set: u8,
}

/// A set of connection-tracking states, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnStates(pub u8);

impl ConnStates {
    /// The packet is not part of any known connection.
    pub const INVALID: u8 = 1;
    /// The packet starts a new connection.
    pub const NEW: u8 = 2;
    /// The packet belongs to a connection that has seen traffic both ways.
    pub const ESTABLISHED: u8 = 4;
    /// The packet starts a connection related to an existing one.
    pub const RELATED: u8 = 8;
    /// The packet is not tracked (raw table NOTRACK).
    pub const UNTRACKED: u8 = 16;
    /// The connection's source address was translated.
    pub const SNAT: u8 = 32;
    /// The connection's destination address was translated.
    pub const DNAT: u8 = 64;
    /// The states a packet itself is in, one at a time (not the NAT bits).
    pub const PACKET_STATES: u8 =
        Self::INVALID | Self::NEW | Self::ESTABLISHED | Self::RELATED | Self::UNTRACKED;

    /// Whether `bit` is in the set.
    pub fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Which address of a tracked connection a match examines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConntrackAddr {
    /// Source of the original direction.
    OrigSource,
    /// Destination of the original direction.
    OrigDest,
    /// Source of the reply direction.
    ReplySource,
    /// Destination of the reply direction.
    ReplyDest,
}

/// Which port of a tracked connection a match examines.
pub type ConntrackPort = ConntrackAddr;

/// A direction within a tracked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtDirection {
    /// The direction of the packet that opened the connection.
    Original,
    /// The other direction.
    Reply,
}

/// Address routing types, as bits (UNSPEC 1, UNICAST 2, LOCAL 4, BROADCAST 8,
/// ANYCAST 16, MULTICAST 32, BLACKHOLE 64, UNREACHABLE 128, PROHIBIT 256,
/// THROW 512, NAT 1024, XRESOLVE 2048).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrTypes(pub u16);

/// The link-layer packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PacketType {
    /// Addressed to this host.
    Unicast,
    /// Link-layer broadcast.
    Broadcast,
    /// Link-layer multicast.
    Multicast,
    /// Addressed to another host's link-layer address (seen in promiscuous
    /// mode or on a bridge).
    OtherHost,
}

/// A rate: `count` events per `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Events allowed per unit.
    pub count: u32,
    /// The time unit.
    pub unit: RateUnit,
}

/// The time unit of a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RateUnit {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

/// What a per-key rate limit keys its buckets on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitKey {
    /// Key on the source address, masked to this prefix length.
    pub src_prefix: Option<u8>,
    /// Key on the destination address, masked to this prefix length.
    pub dst_prefix: Option<u8>,
    /// Key on the source port.
    pub src_port: bool,
    /// Key on the destination port.
    pub dst_port: bool,
}

/// What a recently-seen-list match does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecentAction {
    /// Add the address to the list; always matches.
    Set,
    /// Match if the address is in the list.
    Check,
    /// Match if the address is in the list and refresh its time.
    Update,
    /// Match if the address is in the list and remove it.
    Remove,
}

/// What an ipset match does besides the lookup (`-m set` options); all
/// off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SetMatchOptions {
    /// `--return-nomatch`: an element marked `nomatch` matches.
    pub return_nomatch: bool,
    /// `! --update-counters`: the matching element's counters stay.
    pub skip_counter_update: bool,
    /// `! --update-subcounters`: the counters of the element within a
    /// list of sets stay.
    pub skip_subcounter_update: bool,
    /// `--packets-eq|lt|gt N` (`! --packets-eq`): a test of the element's
    /// packet counter.
    pub packets: Option<(SetCounterTest, u64)>,
    /// `--bytes-eq|lt|gt N` (`! --bytes-eq`): a test of its byte counter.
    pub bytes: Option<(SetCounterTest, u64)>,
}

/// How an ipset element's counter is compared with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCounterTest {
    /// `-eq`.
    Equal,
    /// `! ...-eq`.
    NotEqual,
    /// `-lt`.
    Less,
    /// `-gt`.
    Greater,
}

impl SetCounterTest {
    /// The option suffix iptables writes (`eq`, `lt`, `gt`) and whether it
    /// is negated.
    pub fn word(self) -> (&'static str, bool) {
        match self {
            SetCounterTest::Equal => ("eq", false),
            SetCounterTest::NotEqual => ("eq", true),
            SetCounterTest::Less => ("lt", false),
            SetCounterTest::Greater => ("gt", false),
        }
    }
}

impl SetMatchOptions {
    /// The options as iptables writes them after `--match-set NAME DIRS`
    /// (` --return-nomatch ! --update-counters --packets-gt 5`), or, with
    /// `listing`, as `-L` shows them (` return-nomatch ! update-counters
    /// packets-gt 5`).
    pub fn text(&self, listing: bool) -> String {
        let dash = if listing { "" } else { "--" };
        let mut out = String::new();
        if self.return_nomatch {
            out += &format!(" {dash}return-nomatch");
        }
        if self.skip_counter_update {
            out += &format!(" ! {dash}update-counters");
        }
        if self.skip_subcounter_update {
            out += &format!(" ! {dash}update-subcounters");
        }
        for (what, test) in [("packets", self.packets), ("bytes", self.bytes)] {
            if let Some((test, n)) = test {
                let (word, negated) = test.word();
                let bang = if negated { "! " } else { "" };
                out += &format!(" {bang}{dash}{what}-{word} {n}");
            }
        }
        out
    }
}

/// Which address (or port) of the packet a set lookup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetSide {
    /// The source.
    Source,
    /// The destination.
    Destination,
}

impl SetSide {
    /// `source` for the source side, `destination` for the other.
    pub fn pick<T>(self, source: T, destination: T) -> T {
        match self {
            SetSide::Source => source,
            SetSide::Destination => destination,
        }
    }
}

/// How a statistic match picks packets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum StatisticMode {
    /// Each packet independently, with this probability (0.0 to 1.0).
    Random { probability: f64 },
    /// One packet in `every`, the one whose counter equals `packet`.
    Nth { every: u32, packet: u32 },
}
