//! The nf_tables expressions this driver sends, and their netlink encoding.
//!
//! Loads and compares work on register 1, as nft uses it for values of up
//! to 16 bytes; a translation's addresses and ports go to registers 1 to 4
//! (see [`NatRegs`]), loaded there or looked up in a map; verdicts go to the
//! verdict register.

use std::fmt;

use moat_model::addr_text::hex_text;

use crate::netlink::consts::*;
use crate::netlink::wire::Writer;

/// A `log` expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogExpr {
    /// Text before each line.
    pub prefix: Option<String>,
    /// The nflog group (netlink logging) instead of a kernel log line.
    pub group: Option<u16>,
    /// Bytes of each packet copied to the nflog group.
    pub snaplen: Option<u32>,
    /// Packets queued before the nflog group is sent a batch.
    pub qthreshold: Option<u16>,
    /// Syslog level of a kernel log line.
    pub level: Option<u32>,
    /// NF_LOG_* flags of a kernel log line.
    pub flags: u32,
}

/// The ports and flags of an address translation (`nat`, `masq`, `redir`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NatRegs {
    /// The register holding the first port, and the one holding the last
    /// port of a range.
    pub ports: Option<(u32, Option<u32>)>,
    /// NF_NAT_RANGE_* flags; written only when not 0, as nft does.
    pub flags: u32,
}

/// One nf_tables expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NlExpr {
    /// `len` bytes at `offset` of header `base` into register `reg`.
    Payload {
        /// NFT_REG_*: 1 for a match.
        reg: u32,
        /// NFT_PAYLOAD_*_HEADER.
        base: u32,
        /// Byte offset in the header.
        offset: u32,
        /// Bytes loaded.
        len: u32,
    },
    /// A packet meta key into register 1.
    Meta {
        /// NFT_META_*.
        key: u32,
    },
    /// Register 1 into a packet meta key.
    MetaSet {
        /// NFT_META_*.
        key: u32,
    },
    /// Register 1 into a conntrack key.
    CtSet {
        /// NFT_CT_*.
        key: u32,
        /// The direction (IP_CT_DIR_*), for a zone of one direction.
        dir: Option<u8>,
    },
    /// A conntrack key into register 1.
    Ct {
        /// NFT_CT_*.
        key: u32,
        /// The direction (IP_CT_DIR_*), for per-direction keys.
        dir: Option<u8>,
    },
    /// `reg = (reg & mask) ^ xor`, over `mask.len()` bytes.
    Bitwise {
        /// NFT_REG_*: 1 but for the later fields of a set's key.
        reg: u32,
        /// The mask.
        mask: Vec<u8>,
        /// The xor value (as long as the mask).
        xor: Vec<u8>,
    },
    /// Go on only if register 1 compares to `data` with `op`.
    Cmp {
        /// NFT_CMP_*.
        op: u32,
        /// The compared bytes.
        data: Vec<u8>,
    },
    /// Go on only if register 1 is in (or, with NFT_RANGE_NEQ, out of) `from..=to`.
    Range {
        /// NFT_RANGE_*.
        op: u32,
        /// The first value.
        from: Vec<u8>,
        /// The last value.
        to: Vec<u8>,
    },
    /// Count packets and bytes, starting from these values.
    Counter {
        /// Initial packets.
        packets: u64,
        /// Initial bytes.
        bytes: u64,
    },
    /// The value register `reg`'s key maps to in map `set` into `reg`.
    Lookup {
        /// NFT_REG_*.
        reg: u32,
        /// The map's name.
        set: String,
        /// The map's ID in the batch, which nft sends with every lookup
        /// (the kernel finds the map by name first).
        set_id: Option<u32>,
    },
    /// Whether register 1 is (or, `invert`ed, is not) in set `set`.
    SetLookup {
        /// The set's name.
        set: String,
        /// The set's ID in the batch, filled in when the batch is written.
        set_id: Option<u32>,
        /// NFT_LOOKUP_F_INV: the match is `!=`.
        invert: bool,
    },
    /// A value into a register.
    Immediate {
        /// NFT_REG_*.
        reg: u32,
        /// The value.
        data: Vec<u8>,
    },
    /// An incrementing counter `0..modulus`, plus `offset`, into register 1.
    Numgen {
        /// The counter's modulus.
        modulus: u32,
        /// What is added to the counter.
        offset: u32,
    },
    /// A route lookup's result into a register.
    Fib {
        /// NFT_REG_*: 1 unless a later field of a concatenation.
        reg: u32,
        /// NFT_FIB_RESULT_*.
        result: u32,
        /// NFTA_FIB_F_*: the address looked up, and the interface it is limited to.
        flags: u32,
    },
    /// Source or destination NAT to the addresses and ports in registers.
    Nat {
        /// NFT_NAT_SNAT or NFT_NAT_DNAT.
        ty: u32,
        /// The NFPROTO_* of the addresses.
        family: u32,
        /// The register holding the first address, and the one holding the
        /// last address of a range.
        addrs: Option<(u32, Option<u32>)>,
        /// Ports and flags.
        regs: NatRegs,
    },
    /// Source NAT to the outgoing interface's address.
    Masq(NatRegs),
    /// Destination NAT to this host.
    Redir(NatRegs),
    /// A verdict: NF_* or NFT_* code, with the chain of a jump or goto.
    Verdict {
        /// The verdict code.
        code: i32,
        /// The target chain of NFT_JUMP and NFT_GOTO.
        chain: Option<String>,
    },
    /// A jump to the chain bound to this rule, declared in the same batch.
    BoundJump {
        /// The chain's ID in the batch, filled in when the batch is written.
        chain_id: Option<u32>,
    },
    /// Hand the packet to the transparent socket of its connection, or to
    /// the listener at the address in register 1 and the port in register
    /// 2 (zero: the interface's address, the packet's port); with none,
    /// the rest of the rule is skipped.
    Tproxy {
        /// NFPROTO_IPV4 or NFPROTO_IPV6.
        family: u8,
    },
    /// A token bucket of packets or bytes.
    Limit {
        /// Packets (or bytes) per unit.
        rate: u64,
        /// The unit, in seconds.
        unit: u64,
        /// The bucket size (bytes: what it holds beyond one unit's rate).
        burst: u32,
        /// The rate and the burst count bytes.
        bytes: bool,
        /// Match over the rate instead of under it.
        inv: bool,
    },
    /// A byte budget: matches until `bytes` have passed (`inv`: from then on).
    Quota {
        /// The budget; the rule matches while the bytes seen stay below it.
        bytes: u64,
        /// Match once the budget is used up instead.
        inv: bool,
    },
    /// A log line or an nflog message.
    Log(LogExpr),
    /// Reject the packet.
    Reject {
        /// NFT_REJECT_*.
        ty: u32,
        /// The ICMP or ICMPv6 code of an unreachable.
        code: Option<u8>,
    },
    /// Do not track the packet's connection.
    Notrack,
    /// Give the packet's new connection the stateful object `name` of the
    /// rule's table, of type `ty` (NFT_OBJECT_CT_HELPER, NFT_OBJECT_CT_TIMEOUT).
    ObjRef { ty: u32, name: String },
    /// Register 1 as a key into set `set`, which runs `expr` for the key's element.
    Dynset {
        /// NFT_DYNSET_OP_*.
        op: u32,
        /// The set's name.
        set: String,
        /// The set's ID in the batch, filled in when the batch is written.
        set_id: Option<u32>,
        /// The element's expression.
        expr: Box<NlExpr>,
    },
    /// A route's data into register 1.
    Rt {
        /// NFT_RT_*.
        key: u32,
    },
    /// A register's `len` bytes, as `size`-byte words, converted to
    /// network order (`op` NFT_BYTEORDER_HTON) or back, in place.
    Byteorder {
        /// NFT_REG_*: 1 unless a later field of a concatenation.
        reg: u32,
        /// NFT_BYTEORDER_*.
        op: u32,
        /// Bytes converted.
        len: u32,
        /// The word size.
        size: u32,
    },
    /// Register 1's `len` bytes written into a TCP option.
    TcpOptWrite {
        /// The option's kind (TCPOPT_*).
        kind: u8,
        /// Byte offset in the option.
        offset: u32,
        /// Bytes written.
        len: u32,
    },
    /// The TCP options of one kind overwritten with no-op options.
    TcpOptReset {
        /// The option's kind (TCPOPT_*).
        kind: u8,
    },
    /// Register 1's `len` bytes written at `offset` of header `base`, with
    /// the checksum at `csum_offset` updated (`csum_type` NFT_PAYLOAD_CSUM_*).
    PayloadWrite {
        /// NFT_PAYLOAD_*_HEADER.
        base: u32,
        /// Byte offset in the header.
        offset: u32,
        /// Bytes written.
        len: u32,
        /// NFT_PAYLOAD_CSUM_*.
        csum_type: u32,
        /// Byte offset of the checksum in the header.
        csum_offset: u32,
    },
    /// Whether the connections tracked for an element number up to
    /// `count` (or, `inv`erted, more).
    Connlimit {
        /// The number of connections.
        count: u32,
        /// NFT_CONNLIMIT_F_INV.
        inv: bool,
    },
    /// A SYN proxy answering handshakes with cookies.
    Synproxy {
        /// The MSS it announces.
        mss: Option<u16>,
        /// The window scale it announces.
        wscale: Option<u8>,
        /// NF_SYNPROXY_OPT_*.
        flags: u32,
    },
    /// An xtables match run through `nft_compat`.
    XtMatch {
        /// The kernel module's extension name.
        name: String,
        /// The revision of its argument layout.
        rev: u32,
        /// The argument structure.
        info: Vec<u8>,
        /// The layer-4 protocol the rule tests before it, which modules
        /// bound to one protocol (esp, ah, mh) need to hear of.
        proto: Option<u8>,
    },
    /// An xtables target run through `nft_compat`.
    XtTarget {
        /// The kernel module's extension name.
        name: String,
        /// The revision of its argument layout.
        rev: u32,
        /// The argument structure.
        info: Vec<u8>,
        /// The layer-4 protocol the rule tests, which targets bound to one
        /// protocol (SYNPROXY) check.
        proto: Option<u8>,
    },
}

fn data_nest(w: &mut Writer, kind: u16, bytes: &[u8]) {
    let n = w.begin_nest(kind);
    w.attr(NFTA_DATA_VALUE, bytes);
    w.end_nest(n);
}

/// The registers of a first and an optional last value, when there are any.
fn pair(w: &mut Writer, regs: Option<(u32, Option<u32>)>, min: u16, max: u16) {
    if let Some((first, last)) = regs {
        w.attr_u32(min, first);
        if let Some(last) = last {
            w.attr_u32(max, last);
        }
    }
}

/// A flags attribute, left out when no flag is set.
fn flags(w: &mut Writer, kind: u16, flags: u32) {
    if flags != 0 {
        w.attr_u32(kind, flags);
    }
}

impl NlExpr {
    fn name(&self) -> &'static str {
        match self {
            NlExpr::Payload { .. } | NlExpr::PayloadWrite { .. } => "payload",
            NlExpr::Meta { .. } | NlExpr::MetaSet { .. } => "meta",
            NlExpr::Ct { .. } | NlExpr::CtSet { .. } => "ct",
            NlExpr::Bitwise { .. } => "bitwise",
            NlExpr::Cmp { .. } => "cmp",
            NlExpr::Range { .. } => "range",
            NlExpr::Counter { .. } => "counter",
            NlExpr::Lookup { .. } | NlExpr::SetLookup { .. } => "lookup",
            NlExpr::Immediate { .. } | NlExpr::Verdict { .. } | NlExpr::BoundJump { .. } => {
                "immediate"
            }
            NlExpr::Tproxy { .. } => "tproxy",
            NlExpr::Numgen { .. } => "numgen",
            NlExpr::Fib { .. } => "fib",
            NlExpr::Nat { .. } => "nat",
            NlExpr::Masq(_) => "masq",
            NlExpr::Redir(_) => "redir",
            NlExpr::Limit { .. } => "limit",
            NlExpr::Quota { .. } => "quota",
            NlExpr::Log(_) => "log",
            NlExpr::Reject { .. } => "reject",
            NlExpr::Notrack => "notrack",
            NlExpr::ObjRef { .. } => "objref",
            NlExpr::Dynset { .. } => "dynset",
            NlExpr::Connlimit { .. } => "connlimit",
            NlExpr::XtMatch { .. } => "match",
            NlExpr::XtTarget { .. } => "target",
            NlExpr::Synproxy { .. } => "synproxy",
            NlExpr::Rt { .. } => "rt",
            NlExpr::Byteorder { .. } => "byteorder",
            NlExpr::TcpOptWrite { .. } | NlExpr::TcpOptReset { .. } => "exthdr",
        }
    }

    /// Appends the expression as an element of a rule's expression list.
    pub(crate) fn write(&self, w: &mut Writer) {
        self.write_as(w, NFTA_LIST_ELEM);
    }

    /// Appends the expression as nested attribute `kind` (a set's or an
    /// element's expression, or an element of a list).
    pub(crate) fn write_as(&self, w: &mut Writer, kind: u16) {
        let elem = w.begin_nest(kind);
        w.attr_str(NFTA_EXPR_NAME, self.name());
        if *self != NlExpr::Notrack {
            let data = w.begin_nest(NFTA_EXPR_DATA);
            self.write_data(w);
            w.end_nest(data);
        }
        w.end_nest(elem);
    }

    fn write_data(&self, w: &mut Writer) {
        match self {
            NlExpr::Payload {
                reg,
                base,
                offset,
                len,
            } => {
                w.attr_u32(NFTA_PAYLOAD_DREG, *reg);
                w.attr_u32(NFTA_PAYLOAD_BASE, *base);
                w.attr_u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.attr_u32(NFTA_PAYLOAD_LEN, *len);
            }
            NlExpr::Meta { key } => {
                w.attr_u32(NFTA_META_DREG, NFT_REG_1);
                w.attr_u32(NFTA_META_KEY, *key);
            }
            NlExpr::MetaSet { key } => {
                w.attr_u32(NFTA_META_KEY, *key);
                w.attr_u32(NFTA_META_SREG, NFT_REG_1);
            }
            NlExpr::CtSet { key, dir } => {
                w.attr_u32(NFTA_CT_KEY, *key);
                w.attr_u32(NFTA_CT_SREG, NFT_REG_1);
                if let Some(dir) = dir {
                    w.attr_u8(NFTA_CT_DIRECTION, *dir);
                }
            }
            NlExpr::Ct { key, dir } => {
                w.attr_u32(NFTA_CT_DREG, NFT_REG_1);
                w.attr_u32(NFTA_CT_KEY, *key);
                if let Some(dir) = dir {
                    w.attr_u8(NFTA_CT_DIRECTION, *dir);
                }
            }
            NlExpr::Bitwise { reg, mask, xor } => {
                w.attr_u32(NFTA_BITWISE_SREG, *reg);
                w.attr_u32(NFTA_BITWISE_DREG, *reg);
                w.attr_u32(NFTA_BITWISE_LEN, u32::try_from(mask.len()).unwrap_or(0));
                data_nest(w, NFTA_BITWISE_MASK, mask);
                data_nest(w, NFTA_BITWISE_XOR, xor);
            }
            NlExpr::Cmp { op, data } => {
                w.attr_u32(NFTA_CMP_SREG, NFT_REG_1);
                w.attr_u32(NFTA_CMP_OP, *op);
                data_nest(w, NFTA_CMP_DATA, data);
            }
            NlExpr::Range { op, from, to } => {
                w.attr_u32(NFTA_RANGE_SREG, NFT_REG_1);
                w.attr_u32(NFTA_RANGE_OP, *op);
                data_nest(w, NFTA_RANGE_FROM_DATA, from);
                data_nest(w, NFTA_RANGE_TO_DATA, to);
            }
            NlExpr::Counter { packets, bytes } => {
                if *bytes != 0 {
                    w.attr_u64(NFTA_COUNTER_BYTES, *bytes);
                }
                if *packets != 0 {
                    w.attr_u64(NFTA_COUNTER_PACKETS, *packets);
                }
            }
            NlExpr::Lookup { reg, set, set_id } => {
                w.attr_u32(NFTA_LOOKUP_SREG, *reg);
                w.attr_u32(NFTA_LOOKUP_DREG, *reg);
                w.attr_str(NFTA_LOOKUP_SET, set);
                if let Some(id) = set_id {
                    w.attr_u32(NFTA_LOOKUP_SET_ID, *id);
                }
            }
            NlExpr::SetLookup {
                set,
                set_id,
                invert,
            } => {
                w.attr_u32(NFTA_LOOKUP_SREG, NFT_REG_1);
                w.attr_str(NFTA_LOOKUP_SET, set);
                if let Some(id) = set_id {
                    w.attr_u32(NFTA_LOOKUP_SET_ID, *id);
                }
                if *invert {
                    w.attr_u32(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
                }
            }
            NlExpr::Immediate { reg, data } => {
                w.attr_u32(NFTA_IMMEDIATE_DREG, *reg);
                data_nest(w, NFTA_IMMEDIATE_DATA, data);
            }
            NlExpr::Numgen { modulus, offset } => {
                w.attr_u32(NFTA_NG_DREG, NFT_REG_1);
                w.attr_u32(NFTA_NG_MODULUS, *modulus);
                w.attr_u32(NFTA_NG_TYPE, NFT_NG_INCREMENTAL);
                w.attr_u32(NFTA_NG_OFFSET, *offset);
            }
            NlExpr::Fib { reg, result, flags } => {
                w.attr_u32(NFTA_FIB_FLAGS, *flags);
                w.attr_u32(NFTA_FIB_RESULT, *result);
                w.attr_u32(NFTA_FIB_DREG, *reg);
            }
            NlExpr::Nat {
                ty,
                family,
                addrs,
                regs,
            } => {
                w.attr_u32(NFTA_NAT_TYPE, *ty);
                w.attr_u32(NFTA_NAT_FAMILY, *family);
                pair(w, *addrs, NFTA_NAT_REG_ADDR_MIN, NFTA_NAT_REG_ADDR_MAX);
                pair(
                    w,
                    regs.ports,
                    NFTA_NAT_REG_PROTO_MIN,
                    NFTA_NAT_REG_PROTO_MAX,
                );
                flags(w, NFTA_NAT_FLAGS, regs.flags);
            }
            NlExpr::Masq(regs) => {
                flags(w, NFTA_MASQ_FLAGS, regs.flags);
                pair(
                    w,
                    regs.ports,
                    NFTA_MASQ_REG_PROTO_MIN,
                    NFTA_MASQ_REG_PROTO_MAX,
                );
            }
            NlExpr::Redir(regs) => {
                pair(
                    w,
                    regs.ports,
                    NFTA_REDIR_REG_PROTO_MIN,
                    NFTA_REDIR_REG_PROTO_MAX,
                );
                flags(w, NFTA_REDIR_FLAGS, regs.flags);
            }
            NlExpr::Verdict { code, chain } => {
                w.attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                let data = w.begin_nest(NFTA_IMMEDIATE_DATA);
                let verdict = w.begin_nest(NFTA_DATA_VERDICT);
                w.attr(NFTA_VERDICT_CODE, &code.to_be_bytes());
                if let Some(chain) = chain {
                    w.attr_str(NFTA_VERDICT_CHAIN, chain);
                }
                w.end_nest(verdict);
                w.end_nest(data);
            }
            NlExpr::BoundJump { chain_id } => {
                w.attr_u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
                let data = w.begin_nest(NFTA_IMMEDIATE_DATA);
                let verdict = w.begin_nest(NFTA_DATA_VERDICT);
                w.attr(NFTA_VERDICT_CODE, &NFT_JUMP.to_be_bytes());
                if let Some(id) = chain_id {
                    w.attr_u32(NFTA_VERDICT_CHAIN_ID, *id);
                }
                w.end_nest(verdict);
                w.end_nest(data);
            }
            NlExpr::Tproxy { family } => {
                w.attr_u32(NFTA_TPROXY_FAMILY, u32::from(*family));
                w.attr_u32(NFTA_TPROXY_REG_ADDR, NFT_REG_1);
                w.attr_u32(NFTA_TPROXY_REG_PORT, NFT_REG_2);
            }
            NlExpr::Limit {
                rate,
                unit,
                burst,
                bytes,
                inv,
            } => {
                w.attr_u64(NFTA_LIMIT_RATE, *rate);
                w.attr_u64(NFTA_LIMIT_UNIT, *unit);
                w.attr_u32(NFTA_LIMIT_BURST, *burst);
                let kind = if *bytes {
                    NFT_LIMIT_PKT_BYTES
                } else {
                    NFT_LIMIT_PKTS
                };
                w.attr_u32(NFTA_LIMIT_TYPE, kind);
                w.attr_u32(NFTA_LIMIT_FLAGS, if *inv { NFT_LIMIT_F_INV } else { 0 });
            }
            NlExpr::Quota { bytes, inv } => {
                w.attr_u64(NFTA_QUOTA_BYTES, *bytes);
                w.attr_u64(NFTA_QUOTA_CONSUMED, 0);
                w.attr_u32(NFTA_QUOTA_FLAGS, if *inv { NFT_QUOTA_F_INV } else { 0 });
            }
            NlExpr::Log(log) => {
                if let Some(prefix) = &log.prefix {
                    w.attr_str(NFTA_LOG_PREFIX, prefix);
                }
                if let Some(group) = log.group {
                    w.attr_u16(NFTA_LOG_GROUP, group);
                }
                if let Some(snaplen) = log.snaplen {
                    w.attr_u32(NFTA_LOG_SNAPLEN, snaplen);
                }
                if let Some(qthreshold) = log.qthreshold {
                    w.attr_u16(NFTA_LOG_QTHRESHOLD, qthreshold);
                }
                if let Some(level) = log.level {
                    w.attr_u32(NFTA_LOG_LEVEL, level);
                }
                if log.flags != 0 {
                    w.attr_u32(NFTA_LOG_FLAGS, log.flags);
                }
            }
            NlExpr::Reject { ty, code } => {
                w.attr_u32(NFTA_REJECT_TYPE, *ty);
                if let Some(code) = code {
                    w.attr_u8(NFTA_REJECT_ICMP_CODE, *code);
                }
            }
            NlExpr::Notrack => {}
            NlExpr::ObjRef { ty, name } => {
                w.attr_u32(NFTA_OBJREF_IMM_TYPE, *ty);
                w.attr_str(NFTA_OBJREF_IMM_NAME, name);
            }
            NlExpr::Dynset {
                op,
                set,
                set_id,
                expr,
            } => {
                w.attr_u32(NFTA_DYNSET_SREG_KEY, NFT_REG_1);
                w.attr_u32(NFTA_DYNSET_OP, *op);
                w.attr_str(NFTA_DYNSET_SET_NAME, set);
                if let Some(id) = set_id {
                    w.attr_u32(NFTA_DYNSET_SET_ID, *id);
                }
                expr.write_as(w, NFTA_DYNSET_EXPR);
            }
            NlExpr::Connlimit { count, inv } => {
                w.attr_u32(NFTA_CONNLIMIT_COUNT, *count);
                w.attr_u32(
                    NFTA_CONNLIMIT_FLAGS,
                    if *inv { NFT_CONNLIMIT_F_INV } else { 0 },
                );
            }
            NlExpr::Synproxy { mss, wscale, flags } => {
                if let Some(mss) = mss {
                    w.attr_u16(NFTA_SYNPROXY_MSS, *mss);
                }
                if let Some(wscale) = wscale {
                    w.attr_u8(NFTA_SYNPROXY_WSCALE, *wscale);
                }
                w.attr_u32(NFTA_SYNPROXY_FLAGS, *flags);
            }
            NlExpr::XtMatch {
                name, rev, info, ..
            } => {
                w.attr_str(NFTA_MATCH_NAME, name);
                w.attr_u32(NFTA_MATCH_REV, *rev);
                w.attr(NFTA_MATCH_INFO, info);
            }
            NlExpr::XtTarget {
                name, rev, info, ..
            } => {
                w.attr_str(NFTA_TARGET_NAME, name);
                w.attr_u32(NFTA_TARGET_REV, *rev);
                w.attr(NFTA_TARGET_INFO, info);
            }
            NlExpr::Rt { key } => {
                w.attr_u32(NFTA_RT_DREG, NFT_REG_1);
                w.attr_u32(NFTA_RT_KEY, *key);
            }
            NlExpr::Byteorder { reg, op, len, size } => {
                w.attr_u32(NFTA_BYTEORDER_SREG, *reg);
                w.attr_u32(NFTA_BYTEORDER_DREG, *reg);
                w.attr_u32(NFTA_BYTEORDER_OP, *op);
                w.attr_u32(NFTA_BYTEORDER_LEN, *len);
                w.attr_u32(NFTA_BYTEORDER_SIZE, *size);
            }
            NlExpr::TcpOptWrite { kind, offset, len } => {
                w.attr_u32(NFTA_EXTHDR_SREG, NFT_REG_1);
                w.attr_u8(NFTA_EXTHDR_TYPE, *kind);
                w.attr_u32(NFTA_EXTHDR_OFFSET, *offset);
                w.attr_u32(NFTA_EXTHDR_LEN, *len);
                w.attr_u32(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
            }
            NlExpr::TcpOptReset { kind } => {
                w.attr_u8(NFTA_EXTHDR_TYPE, *kind);
                w.attr_u32(NFTA_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
            }
            NlExpr::PayloadWrite {
                base,
                offset,
                len,
                csum_type,
                csum_offset,
            } => {
                w.attr_u32(NFTA_PAYLOAD_SREG, NFT_REG_1);
                w.attr_u32(NFTA_PAYLOAD_BASE, *base);
                w.attr_u32(NFTA_PAYLOAD_OFFSET, *offset);
                w.attr_u32(NFTA_PAYLOAD_LEN, *len);
                w.attr_u32(NFTA_PAYLOAD_CSUM_TYPE, *csum_type);
                w.attr_u32(NFTA_PAYLOAD_CSUM_OFFSET, *csum_offset);
                w.attr_u32(NFTA_PAYLOAD_CSUM_FLAGS, 0);
            }
        }
    }
}

/// ` NAME_min reg N [NAME_max reg M]`, as `nft --debug=netlink` shows registers.
fn show_pair(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    regs: Option<(u32, Option<u32>)>,
) -> fmt::Result {
    if let Some((first, last)) = regs {
        write!(f, " {name}_min reg {first}")?;
        if let Some(last) = last {
            write!(f, " {name}_max reg {last}")?;
        }
    }
    Ok(())
}

fn show_regs(f: &mut fmt::Formatter<'_>, regs: &NatRegs) -> fmt::Result {
    show_pair(f, "proto", regs.ports)?;
    if regs.flags != 0 {
        write!(f, " flags {:#x}", regs.flags)?;
    }
    Ok(())
}

/// Like `nft --debug=netlink`, with data as hex bytes in wire order.
impl fmt::Display for NlExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const BASES: [&str; 3] = ["link", "network", "transport"];
        match self {
            NlExpr::Payload {
                reg,
                base,
                offset,
                len,
            } => {
                let base = usize::try_from(*base)
                    .ok()
                    .and_then(|b| BASES.get(b))
                    .unwrap_or(&"?");
                write!(f, "payload {len}b @ {base} + {offset}")?;
                if *reg != NFT_REG_1 {
                    write!(f, " => reg {reg}")?;
                }
                Ok(())
            }
            NlExpr::Meta { key } => write!(f, "meta load {key}"),
            NlExpr::MetaSet { key } => write!(f, "meta set {key}"),
            NlExpr::CtSet { key, dir: None } => write!(f, "ct set {key}"),
            NlExpr::CtSet { key, dir: Some(d) } => write!(f, "ct set {key} dir {d}"),
            NlExpr::Ct { key, dir: None } => write!(f, "ct load {key}"),
            NlExpr::Ct { key, dir: Some(d) } => write!(f, "ct load {key} dir {d}"),
            NlExpr::Bitwise { reg, mask, xor } => {
                let at = if *reg == NFT_REG_1 {
                    String::new()
                } else {
                    format!(" reg {reg}")
                };
                write!(f, "bitwise{at} & {} ^ {}", hex_text(mask), hex_text(xor))
            }
            NlExpr::Cmp { op, data } => write!(f, "cmp {op} {}", hex_text(data)),
            NlExpr::Range { op, from, to } => {
                write!(f, "range {op} {} {}", hex_text(from), hex_text(to))
            }
            NlExpr::Counter { packets, bytes } => write!(f, "counter {packets} {bytes}"),
            NlExpr::Lookup { reg, set, .. } => write!(f, "lookup reg {reg} set {set} dreg {reg}"),
            NlExpr::SetLookup { set, invert, .. } => {
                let inv = if *invert { " 0x1" } else { "" };
                write!(f, "lookup reg 1 set {set}{inv}")
            }
            NlExpr::Immediate { reg, data } => write!(f, "immediate reg {reg} {}", hex_text(data)),
            NlExpr::Numgen { modulus, offset } => {
                write!(f, "numgen inc mod {modulus} offset {offset}")
            }
            NlExpr::Fib { reg, result, flags } => {
                write!(f, "fib flags {flags:#x} result {result} => reg {reg}")
            }
            NlExpr::Nat {
                ty,
                family,
                addrs,
                regs,
            } => {
                let ty = if *ty == NFT_NAT_DNAT { "dnat" } else { "snat" };
                let family = match family {
                    2 => "ip",
                    10 => "ip6",
                    _ => "?",
                };
                write!(f, "nat {ty} {family}")?;
                show_pair(f, "addr", *addrs)?;
                show_regs(f, regs)
            }
            NlExpr::Masq(regs) => {
                write!(f, "masq")?;
                show_regs(f, regs)
            }
            NlExpr::Redir(regs) => {
                write!(f, "redir")?;
                show_regs(f, regs)
            }
            NlExpr::Verdict { code, chain } => {
                write!(f, "verdict {code} {}", chain.as_deref().unwrap_or(""))
            }
            NlExpr::BoundJump { .. } => write!(f, "verdict {NFT_JUMP} bound chain"),
            NlExpr::Tproxy { family } => write!(f, "tproxy {family} addr reg 1 port reg 2"),
            NlExpr::Limit {
                rate,
                unit,
                burst,
                bytes,
                inv,
            } => {
                let kind = if *bytes { " bytes" } else { "" };
                write!(f, "limit {rate}/{unit}s burst {burst}{kind} inv {inv}")
            }
            NlExpr::Quota { bytes, inv } => {
                write!(f, "quota bytes {bytes} consumed 0 flags {}", u8::from(*inv))
            }
            NlExpr::Log(l) => write!(f, "log {l:?}"),
            NlExpr::Reject { ty, code } => write!(f, "reject {ty} {code:?}"),
            NlExpr::Notrack => write!(f, "notrack"),
            NlExpr::ObjRef { ty, name } => write!(f, "objref type {ty} name {name}"),
            NlExpr::Dynset { op, set, expr, .. } => {
                write!(f, "dynset {op} reg_key 1 set {set} expr [ {expr} ]")
            }
            NlExpr::Connlimit { count, inv } => {
                write!(f, "connlimit count {count} flags {}", u8::from(*inv))
            }
            NlExpr::XtMatch { name, rev, .. } => write!(f, "match name {name} rev {rev}"),
            NlExpr::XtTarget { name, rev, .. } => write!(f, "target name {name} rev {rev}"),
            NlExpr::Synproxy { mss, wscale, flags } => {
                write!(f, "synproxy mss {mss:?} wscale {wscale:?} flags {flags:#x}")
            }
            NlExpr::Rt { key } => write!(f, "rt load {key}"),
            NlExpr::Byteorder { reg, op, len, size } => {
                let way = if *op == NFT_BYTEORDER_HTON {
                    "hton"
                } else {
                    "ntoh"
                };
                write!(f, "byteorder reg {reg} = {way}(reg {reg}, {size}, {len})")
            }
            NlExpr::TcpOptReset { kind } => write!(f, "exthdr reset tcpopt {kind}"),
            NlExpr::TcpOptWrite { kind, offset, len } => {
                write!(f, "exthdr write tcpopt {len}b @ {kind} + {offset}")
            }
            NlExpr::PayloadWrite {
                base,
                offset,
                len,
                csum_type,
                csum_offset,
            } => {
                let base = usize::try_from(*base)
                    .ok()
                    .and_then(|b| BASES.get(b))
                    .unwrap_or(&"?");
                write!(
                    f,
                    "payload write {len}b @ {base} + {offset} csum_type {csum_type} csum_off {csum_offset}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::{be_u32, string_is, Attrs};

    #[test]
    fn cmp_and_verdict_encoding() {
        let mut w = Writer::default();
        NlExpr::Cmp {
            op: NFT_CMP_NEQ,
            data: vec![6],
        }
        .write(&mut w);
        NlExpr::Verdict {
            code: NFT_JUMP,
            chain: Some("LOGDROP".into()),
        }
        .write(&mut w);
        NlExpr::Notrack.write(&mut w);
        let buf = w.into_bytes();
        let elems: Vec<_> = Attrs(&buf).collect();
        assert_eq!(elems.len(), 3);
        let cmp = Attrs(elems[0].1);
        assert!(string_is(cmp.get(NFTA_EXPR_NAME).unwrap(), "cmp"));
        let data = Attrs(cmp.get(NFTA_EXPR_DATA).unwrap());
        assert_eq!(be_u32(data.get(NFTA_CMP_OP).unwrap()), Some(NFT_CMP_NEQ));
        assert_eq!(
            Attrs(data.get(NFTA_CMP_DATA).unwrap()).get(NFTA_DATA_VALUE),
            Some(&[6u8][..])
        );
        let imm = Attrs(Attrs(elems[1].1).get(NFTA_EXPR_DATA).unwrap());
        let verdict = Attrs(
            Attrs(imm.get(NFTA_IMMEDIATE_DATA).unwrap())
                .get(NFTA_DATA_VERDICT)
                .unwrap(),
        );
        assert_eq!(
            verdict.get(NFTA_VERDICT_CODE),
            Some(&(-3i32).to_be_bytes()[..])
        );
        assert!(string_is(
            verdict.get(NFTA_VERDICT_CHAIN).unwrap(),
            "LOGDROP"
        ));
        assert!(Attrs(elems[2].1).get(NFTA_EXPR_DATA).is_none());
    }
}
