//! What the netlink driver sends and reads: families, interval keys, rule
//! expressions, and the sets and rules read back from the kernel.

use moat_model::Hook;

use super::consts::*;

/// An nf_tables table family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NfProto {
    /// `inet`: IPv4 and IPv6 in one table.
    Inet,
    /// `ip`: IPv4 only.
    Ip,
    /// `ip6`: IPv6 only.
    Ip6,
}

impl NfProto {
    /// The kernel's number for the family (NFPROTO_*).
    pub fn number(self) -> u8 {
        match self {
            NfProto::Inet => 1,
            NfProto::Ip => 2,
            NfProto::Ip6 => 10,
        }
    }

    /// The word `nft` uses for the family.
    pub fn word(self) -> &'static str {
        match self {
            NfProto::Inet => "inet",
            NfProto::Ip => "ip",
            NfProto::Ip6 => "ip6",
        }
    }
}

/// The kernel's number for a netfilter hook (NF_INET_*).
pub fn hook_number(hook: Hook) -> u32 {
    match hook {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Input => NF_INET_LOCAL_IN,
        Hook::Forward => NF_INET_FORWARD,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    }
}

/// An address type usable as the key of an interval set: `u32` for IPv4,
/// `u128` for IPv6, in host order (sent big-endian); also `u16` for ports
/// (`inet_service`). The same keys serve sets without intervals.
pub trait IntervalKey: Copy + Ord + std::fmt::Debug + Send + Sync + 'static {
    /// Key length in bytes.
    const LEN: usize;
    /// The highest key (the top of the address space).
    const MAX: Self;
    /// The nft datatype number recorded with the set (`ipv4_addr`, `ipv6_addr`).
    const NFT_TYPE: u32;
    /// The nft name of the datatype.
    const NFT_TYPE_NAME: &'static str;
    /// The key's bytes in network order.
    fn write_be(self, out: &mut [u8]);
    /// The key from `LEN` bytes in network order.
    fn read_be(bytes: &[u8]) -> Option<Self>;
    /// The next key, unless this is the highest.
    fn succ(self) -> Option<Self>;
    /// The previous key, unless this is zero.
    fn pred(self) -> Option<Self>;
}

impl IntervalKey for u32 {
    const LEN: usize = 4;
    const MAX: Self = u32::MAX;
    const NFT_TYPE: u32 = TYPE_IPADDR;
    const NFT_TYPE_NAME: &'static str = "ipv4_addr";
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn read_be(bytes: &[u8]) -> Option<Self> {
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl IntervalKey for u128 {
    const LEN: usize = 16;
    const MAX: Self = u128::MAX;
    const NFT_TYPE: u32 = TYPE_IP6ADDR;
    const NFT_TYPE_NAME: &'static str = "ipv6_addr";
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn read_be(bytes: &[u8]) -> Option<Self> {
        Some(u128::from_be_bytes(bytes.try_into().ok()?))
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

impl IntervalKey for u16 {
    const LEN: usize = 2;
    const MAX: Self = u16::MAX;
    const NFT_TYPE: u32 = TYPE_INET_SERVICE;
    const NFT_TYPE_NAME: &'static str = "inet_service";
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn read_be(bytes: &[u8]) -> Option<Self> {
        Some(u16::from_be_bytes(bytes.try_into().ok()?))
    }
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn pred(self) -> Option<Self> {
        self.checked_sub(1)
    }
}

/// A rule's final verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accept the packet (in this base chain only).
    Accept,
    /// Drop the packet; final.
    Drop,
    /// Return from this chain.
    Return,
}

impl Verdict {
    fn code(self) -> i32 {
        match self {
            Verdict::Accept => NF_ACCEPT,
            Verdict::Drop => NF_DROP,
            Verdict::Return => NFT_RETURN,
        }
    }
}

/// One expression of a rule. Every expression works on register 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr<'a> {
    /// Loads the packet's protocol family (`meta nfproto`) into register 1.
    LoadNfproto,
    /// Goes on only if register 1 equals these bytes.
    CmpEq(Vec<u8>),
    /// Loads `len` bytes of the network header at `offset` into register 1.
    LoadNetworkHeader {
        /// Byte offset in the network header.
        offset: u32,
        /// Bytes to load.
        len: u32,
    },
    /// Loads the packet's transport protocol (`meta l4proto`) into register 1.
    LoadL4proto,
    /// Loads `len` bytes of the transport header at `offset` into register 1
    /// (offset 2, length 2: the destination port of TCP, UDP and SCTP).
    LoadTransportHeader {
        /// Byte offset in the transport header.
        offset: u32,
        /// Bytes to load.
        len: u32,
    },
    /// Keeps only the bits of register 1 set in this mask (`& mask`, as
    /// nft writes it: a bitwise with a zero xor).
    Mask(Vec<u8>),
    /// Goes on only if register 1 is in `set` (with `inverted`: is not).
    Lookup {
        /// The set's name, in the rule's table.
        set: &'a str,
        /// Match when the key is absent.
        inverted: bool,
    },
    /// Counts packets and bytes, starting from these values.
    Counter {
        /// Initial packet count.
        packets: u64,
        /// Initial byte count.
        bytes: u64,
    },
    /// Ends the rule with a verdict.
    Verdict(Verdict),
    /// Ends the rule by rejecting the packet.
    Reject(RejectWith),
}

/// How a `reject` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectWith {
    /// `reject with tcp reset`: the rule must have matched `meta l4proto tcp`.
    TcpReset,
    /// `reject with icmpx port-unreachable` (nft lists it as plain `reject`):
    /// ICMP port unreachable for IPv4, ICMPv6 port unreachable for IPv6.
    IcmpxPortUnreachable,
}

impl Expr<'_> {
    /// The family test an `inet` rule needs before reading IPv4 (`v6 = false`)
    /// or IPv6 headers.
    pub fn nfproto_is(v6: bool) -> [Expr<'static>; 2] {
        let proto = if v6 { 10u8 } else { 2u8 };
        [Expr::LoadNfproto, Expr::CmpEq(vec![proto])]
    }

    pub(crate) fn write(&self, w: &mut super::wire::Writer) {
        let elem = w.begin_nest(NFTA_LIST_ELEM);
        w.attr_str(NFTA_EXPR_NAME, self.kind_name());
        let data = w.begin_nest(NFTA_EXPR_DATA);
        match self {
            Expr::LoadNfproto => {
                w.attr_u32(NFTA_META_DREG, NFT_REG_1);
                w.attr_u32(NFTA_META_KEY, NFT_META_NFPROTO);
            }
            Expr::CmpEq(value) => {
                w.attr_u32(NFTA_CMP_SREG, NFT_REG_1);
                w.attr_u32(NFTA_CMP_OP, NFT_CMP_EQ);
                let d = w.begin_nest(NFTA_CMP_DATA);
                w.attr(NFTA_DATA_VALUE, value);
                w.end_nest(d);
            }
            Expr::LoadNetworkHeader { offset, len } => {
                w.attr_u32(NFTA_PAYLOAD_DREG, NFT_REG_1);
                w.attr_u32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
                w.attr_u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.attr_u32(NFTA_PAYLOAD_LEN, *len);
            }
            Expr::LoadL4proto => {
                w.attr_u32(NFTA_META_DREG, NFT_REG_1);
                w.attr_u32(NFTA_META_KEY, NFT_META_L4PROTO);
            }
            Expr::LoadTransportHeader { offset, len } => {
                w.attr_u32(NFTA_PAYLOAD_DREG, NFT_REG_1);
                w.attr_u32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
                w.attr_u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.attr_u32(NFTA_PAYLOAD_LEN, *len);
            }
            Expr::Mask(mask) => {
                w.attr_u32(NFTA_BITWISE_SREG, NFT_REG_1);
                w.attr_u32(NFTA_BITWISE_DREG, NFT_REG_1);
                w.attr_u32(NFTA_BITWISE_LEN, u32::try_from(mask.len()).unwrap_or(0));
                let m = w.begin_nest(NFTA_BITWISE_MASK);
                w.attr(NFTA_DATA_VALUE, mask);
                w.end_nest(m);
                let x = w.begin_nest(NFTA_BITWISE_XOR);
                w.attr(NFTA_DATA_VALUE, &vec![0; mask.len()]);
                w.end_nest(x);
            }
            Expr::Lookup { set, inverted } => {
                w.attr_str(NFTA_LOOKUP_SET, set);
                w.attr_u32(NFTA_LOOKUP_SREG, NFT_REG_1);
                if *inverted {
                    w.attr_u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
                }
            }
            Expr::Counter { packets, bytes } => {
                if *packets != 0 || *bytes != 0 {
                    w.attr_u64(NFTA_COUNTER_BYTES, *bytes);
                    w.attr_u64(NFTA_COUNTER_PACKETS, *packets);
                }
            }
            Expr::Verdict(v) => {
                w.attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                let d = w.begin_nest(NFTA_IMMEDIATE_DATA);
                let verdict = w.begin_nest(NFTA_DATA_VERDICT);
                w.attr(NFTA_VERDICT_CODE, &v.code().to_be_bytes());
                w.end_nest(verdict);
                w.end_nest(d);
            }
            Expr::Reject(RejectWith::TcpReset) => {
                w.attr_u32(NFTA_REJECT_TYPE, NFT_REJECT_TCP_RST);
            }
            Expr::Reject(RejectWith::IcmpxPortUnreachable) => {
                w.attr_u32(NFTA_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
                w.attr_u8(NFTA_REJECT_ICMP_CODE, NFT_REJECT_ICMPX_PORT_UNREACH);
            }
        }
        w.end_nest(data);
        w.end_nest(elem);
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Expr::LoadNfproto | Expr::LoadL4proto => "meta",
            Expr::CmpEq(_) => "cmp",
            Expr::LoadNetworkHeader { .. } | Expr::LoadTransportHeader { .. } => "payload",
            Expr::Mask(_) => "bitwise",
            Expr::Reject(_) => "reject",
            Expr::Lookup { .. } => "lookup",
            Expr::Counter { .. } => "counter",
            Expr::Verdict(_) => "immediate",
        }
    }
}

/// A named set to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSpec<'a> {
    /// The set's name.
    pub name: &'a str,
    /// The key's nft datatype number (see [`IntervalKey::NFT_TYPE`]).
    pub key_type: u32,
    /// The key's length in bytes.
    pub key_len: u32,
    /// Whether the set holds intervals (`flags interval`).
    pub interval: bool,
    /// A comment `nft list` shows; cut to the kernel's limit.
    pub comment: Option<&'a str>,
}

impl<'a> SetSpec<'a> {
    /// An interval set of addresses of type `K` named `name`.
    pub fn intervals<K: IntervalKey>(name: &'a str, comment: Option<&'a str>) -> Self {
        SetSpec {
            name,
            key_type: K::NFT_TYPE,
            key_len: K::LEN as u32,
            interval: true,
            comment,
        }
    }

    /// A set of single keys of type `K` (no intervals) named `name`.
    pub fn values<K: IntervalKey>(name: &'a str, comment: Option<&'a str>) -> Self {
        SetSpec {
            interval: false,
            ..SetSpec::intervals::<K>(name, comment)
        }
    }
}

/// A set as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInfo {
    /// The table it belongs to.
    pub table: String,
    /// The set's name.
    pub name: String,
    /// NFT_SET_* flags.
    pub flags: u32,
    /// The key's datatype number.
    pub key_type: u32,
    /// The key's length in bytes.
    pub key_len: u32,
    /// The set's comment, if it has one.
    pub comment: Option<String>,
    /// Milliseconds after which elements expire by default, if set.
    pub timeout_ms: Option<u64>,
}

impl SetInfo {
    /// Whether the set holds intervals.
    pub fn is_interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }

    /// Whether the set's elements may carry timeouts (`flags timeout`).
    pub fn has_timeout(&self) -> bool {
        self.flags & NFT_SET_TIMEOUT != 0
    }
}

/// An element of a set without intervals, as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementInfo<K> {
    /// The element's key.
    pub key: K,
    /// The timeout it was given; `None` for an element that never expires.
    pub timeout: Option<std::time::Duration>,
    /// The time left until it expires; `None` for an element that never expires.
    pub expires_in: Option<std::time::Duration>,
}

/// One expression of a listed rule, decoded as far as moat needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprInfo {
    /// `meta` load of key `key`.
    Meta {
        /// NFT_META_* key.
        key: u32,
    },
    /// `cmp` against `value`.
    Cmp {
        /// NFT_CMP_* operator.
        op: u32,
        /// The compared bytes.
        value: Vec<u8>,
    },
    /// `payload` load.
    Payload {
        /// NFT_PAYLOAD_* base.
        base: u32,
        /// Offset in bytes.
        offset: u32,
        /// Length in bytes.
        len: u32,
    },
    /// `lookup` in a named set.
    Lookup {
        /// The set's name.
        set: String,
        /// Whether the match is inverted.
        inverted: bool,
    },
    /// `counter` with its current values.
    Counter {
        /// Packets counted.
        packets: u64,
        /// Bytes counted.
        bytes: u64,
    },
    /// `immediate` verdict (NF_* or NFT_* code).
    Verdict(i32),
    /// Any other expression, by name.
    Other(String),
}

/// A rule as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The chain it is in.
    pub chain: String,
    /// Its handle, for deleting it.
    pub handle: u64,
    /// Its comment, if any.
    pub comment: Option<String>,
    /// Its expressions in order.
    pub exprs: Vec<ExprInfo>,
}

impl RuleInfo {
    /// The rule's counter, if it has one: (packets, bytes).
    pub fn counter(&self) -> Option<(u64, u64)> {
        self.exprs.iter().find_map(|e| match e {
            ExprInfo::Counter { packets, bytes } => Some((*packets, *bytes)),
            _ => None,
        })
    }

    /// The sets the rule looks up: (name, inverted).
    pub fn lookups(&self) -> impl Iterator<Item = (&str, bool)> {
        self.exprs.iter().filter_map(|e| match e {
            ExprInfo::Lookup { set, inverted } => Some((set.as_str(), *inverted)),
            _ => None,
        })
    }
}

/// Turns set elements read from an interval set — keys with their
/// interval-end flags, in any order — into inclusive ranges, sorted and
/// with adjacent ranges joined.
///
/// A start without an end runs to the top of the address space; an end
/// without a start (nft writes one at zero) is ignored.
pub fn elements_to_ranges<K: IntervalKey>(mut elems: Vec<(K, bool)>) -> Vec<(K, K)> {
    // At equal keys the end of one range sorts before the start of the next.
    elems.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<(K, K)> = Vec::new();
    let mut open: Option<K> = None;
    let push = |out: &mut Vec<(K, K)>, first: K, last: K| match out.last_mut() {
        Some(prev) if prev.1.succ() == Some(first) || prev.1 >= first => {
            if last > prev.1 {
                prev.1 = last;
            }
        }
        _ => out.push((first, last)),
    };
    for (key, is_end) in elems {
        match (is_end, open) {
            (false, None) => open = Some(key),
            (false, Some(start)) => {
                // Two starts in a row: the first range ends before this one.
                if let Some(last) = key.pred() {
                    push(&mut out, start, last);
                }
                open = Some(key);
            }
            (true, Some(start)) => {
                if let Some(last) = key.pred() {
                    if last >= start {
                        push(&mut out, start, last);
                    }
                }
                open = None;
            }
            (true, None) => {}
        }
    }
    if let Some(start) = open {
        push(&mut out, start, K::MAX);
    }
    out
}

/// Whether `name` is a plain object name: 1 to `max_len` bytes of ASCII
/// letters, digits and the bytes in `extra`, starting with a letter or digit.
pub fn is_plain_name(name: &str, max_len: usize, extra: &[u8]) -> bool {
    name.len() <= max_len
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_become_ranges() {
        let elems = vec![
            (0u32, true),
            (0x0a00_0100, true),
            (0x0a00_0000, false),
            (0x0a00_0200, false),
            (0x0a00_0306, true),
            (0xffff_ff00, false),
        ];
        assert_eq!(
            elements_to_ranges(elems),
            vec![
                (0x0a00_0000, 0x0a00_00ff),
                (0x0a00_0200, 0x0a00_0305),
                (0xffff_ff00, u32::MAX)
            ]
        );
    }

    #[test]
    fn adjacent_ranges_join() {
        let elems = vec![(10u32, false), (20, true), (20, false), (30, true)];
        assert_eq!(elements_to_ranges(elems), vec![(10, 29)]);
    }

    #[test]
    fn whole_space() {
        assert_eq!(
            elements_to_ranges(vec![(0u128, false)]),
            vec![(0, u128::MAX)]
        );
    }

    fn encoded(expr: &Expr<'_>) -> Vec<(u16, Vec<u8>)> {
        let mut w = super::super::wire::Writer::default();
        expr.write(&mut w);
        let buf = w.into_bytes();
        let elem = super::super::wire::Attrs(&buf).next().unwrap().1;
        let data = super::super::wire::Attrs(elem).get(NFTA_EXPR_DATA).unwrap();
        super::super::wire::Attrs(data)
            .map(|(k, v)| (k, v.to_vec()))
            .collect()
    }

    #[test]
    fn ban_rule_expressions_encode_as_nft_does() {
        let be = |v: u32| v.to_be_bytes().to_vec();
        assert_eq!(
            encoded(&Expr::LoadL4proto),
            vec![
                (NFTA_META_DREG, be(1)),
                (NFTA_META_KEY, be(NFT_META_L4PROTO))
            ]
        );
        assert_eq!(
            encoded(&Expr::LoadTransportHeader { offset: 2, len: 2 }),
            vec![
                (NFTA_PAYLOAD_DREG, be(1)),
                (NFTA_PAYLOAD_BASE, be(NFT_PAYLOAD_TRANSPORT_HEADER)),
                (NFTA_PAYLOAD_OFFSET, be(2)),
                (NFTA_PAYLOAD_LEN, be(2)),
            ]
        );
        assert_eq!(
            encoded(&Expr::Reject(RejectWith::TcpReset)),
            vec![(NFTA_REJECT_TYPE, be(NFT_REJECT_TCP_RST))]
        );
        assert_eq!(
            encoded(&Expr::Reject(RejectWith::IcmpxPortUnreachable)),
            vec![
                (NFTA_REJECT_TYPE, be(NFT_REJECT_ICMPX_UNREACH)),
                (NFTA_REJECT_ICMP_CODE, vec![1]),
            ]
        );
        let mask = encoded(&Expr::Mask(
            vec![0xff; 8].into_iter().chain([0; 8]).collect(),
        ));
        let kinds: Vec<u16> = mask.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                NFTA_BITWISE_SREG,
                NFTA_BITWISE_DREG,
                NFTA_BITWISE_LEN,
                NFTA_BITWISE_MASK,
                NFTA_BITWISE_XOR
            ]
        );
        assert_eq!(mask[2].1, be(16));
    }

    #[test]
    fn ports_are_keys() {
        let mut out = [0u8; 2];
        22u16.write_be(&mut out);
        assert_eq!(out, [0, 22]);
        assert_eq!(u16::read_be(&out), Some(22));
        assert_eq!(u16::MAX.succ(), None);
    }
}
