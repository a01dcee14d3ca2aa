//! Numbers from the kernel's uapi headers (`linux/netlink.h`,
//! `linux/netfilter/nfnetlink.h`, `linux/netfilter/nf_tables.h`,
//! `linux/netfilter/nf_log.h`, `linux/netfilter/nf_nat.h`), libnftnl and
//! nft for the messages and expressions moat sends and reads. Only what
//! moat uses is listed.

// nfnetlink framing.
pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// The conntrack timeout policies' subsystem (`nfct add timeout`).
pub(crate) const NFNL_SUBSYS_CTNETLINK_TIMEOUT: u16 = 8;
pub(crate) const IPCTNL_MSG_TIMEOUT_GET: u16 = 1;
pub(crate) const CTA_TIMEOUT_NAME: u16 = 1;
pub(crate) const CTA_TIMEOUT_L4PROTO: u16 = 3;
pub(crate) const CTA_TIMEOUT_DATA: u16 = 4;
pub(crate) const NFT_OBJECT_CT_TIMEOUT: u32 = 7;
pub(crate) const NFTA_CT_TIMEOUT_L3PROTO: u16 = 1;
pub(crate) const NFTA_CT_TIMEOUT_L4PROTO: u16 = 2;
pub(crate) const NFTA_CT_TIMEOUT_DATA: u16 = 3;
pub(crate) const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub(crate) const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(crate) const NFNL_BATCH_GENID: u16 = 1;
pub(crate) const NFNETLINK_V0: u8 = 0;

// Netlink message types and flags.
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
/// With `NLM_F_CREATE`: refuse (EEXIST) instead of keeping an existing object.
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_APPEND: u16 = 0x800;
/// On an error message: the request was not echoed, only its header.
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// On an error message: extended-ack attributes follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;

// nf_tables message types.
pub(crate) const NFT_MSG_NEWTABLE: u8 = 0;
pub(crate) const NFT_MSG_GETTABLE: u8 = 1;
pub(crate) const NFT_MSG_DELTABLE: u8 = 2;
pub(crate) const NFT_MSG_NEWCHAIN: u8 = 3;
pub(crate) const NFT_MSG_GETCHAIN: u8 = 4;
pub(crate) const NFT_MSG_DELCHAIN: u8 = 5;
pub(crate) const NFT_MSG_NEWRULE: u8 = 6;
pub(crate) const NFT_MSG_GETRULE: u8 = 7;
pub(crate) const NFT_MSG_DELRULE: u8 = 8;
pub(crate) const NFT_MSG_NEWSET: u8 = 9;
pub(crate) const NFT_MSG_GETSET: u8 = 10;
pub(crate) const NFT_MSG_DELSET: u8 = 11;
pub(crate) const NFT_MSG_NEWSETELEM: u8 = 12;
pub(crate) const NFT_MSG_GETSETELEM: u8 = 13;
pub(crate) const NFT_MSG_DELSETELEM: u8 = 14;
pub(crate) const NFT_MSG_NEWGEN: u8 = 15;
pub(crate) const NFT_MSG_GETGEN: u8 = 16;
pub(crate) const NFT_MSG_GETRULE_RESET: u8 = 25;

// Generation.
pub(crate) const NFTA_GEN_ID: u16 = 1;

// Tables, chains, hooks.
pub(crate) const NFTA_TABLE_NAME: u16 = 1;
pub(crate) const NFTA_TABLE_USERDATA: u16 = 6;
/// libnftnl's user-data TLV type of a table comment (NUL-terminated).
pub(crate) const UDATA_TABLE_COMMENT: u8 = 0;
pub(crate) const NFTA_CHAIN_TABLE: u16 = 1;
pub(crate) const NFTA_CHAIN_HANDLE: u16 = 2;
pub(crate) const NFTA_CHAIN_NAME: u16 = 3;
pub(crate) const NFTA_CHAIN_HOOK: u16 = 4;
pub(crate) const NFTA_CHAIN_POLICY: u16 = 5;
pub(crate) const NFTA_CHAIN_USE: u16 = 6;
pub(crate) const NFTA_CHAIN_TYPE: u16 = 7;
pub(crate) const NFTA_CHAIN_FLAGS: u16 = 10;
pub(crate) const NFTA_CHAIN_ID: u16 = 11;
/// A chain bound to the rule that jumps to it, created and deleted with it.
pub(crate) const NFT_CHAIN_BINDING: u32 = 0x4;
pub(crate) const NFTA_HOOK_HOOKNUM: u16 = 1;
pub(crate) const NFTA_HOOK_PRIORITY: u16 = 2;
// Hooks (enum nf_inet_hooks).
pub(crate) const NF_INET_PRE_ROUTING: u32 = 0;
pub(crate) const NF_INET_LOCAL_IN: u32 = 1;
pub(crate) const NF_INET_FORWARD: u32 = 2;
pub(crate) const NF_INET_LOCAL_OUT: u32 = 3;
pub(crate) const NF_INET_POST_ROUTING: u32 = 4;

// Rules.
pub(crate) const NFTA_RULE_TABLE: u16 = 1;
pub(crate) const NFTA_RULE_CHAIN: u16 = 2;
pub(crate) const NFTA_RULE_HANDLE: u16 = 3;
pub(crate) const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub(crate) const NFTA_RULE_POSITION: u16 = 6;
pub(crate) const NFTA_RULE_USERDATA: u16 = 7;
pub(crate) const NFTA_RULE_CHAIN_ID: u16 = 11;
/// `NFTA_RULE_COMPAT`: what xtables matches of the rule learn of it.
pub(crate) const NFTA_RULE_COMPAT: u16 = 5;
/// `NFTA_RULE_COMPAT_PROTO`: the layer-4 protocol the rule requires.
pub(crate) const NFTA_RULE_COMPAT_PROTO: u16 = 1;
/// `NFTA_RULE_COMPAT_FLAGS`: `NFT_RULE_COMPAT_F_INV` when it is negated.
pub(crate) const NFTA_RULE_COMPAT_FLAGS: u16 = 2;
/// libnftnl's user-data TLV type of a rule comment (NUL-terminated).
pub(crate) const UDATA_RULE_COMMENT: u8 = 0;
/// Most bytes of user data the kernel keeps with an object.
pub(crate) const USERDATA_MAXLEN: usize = 256;

// Sets and maps.
pub(crate) const NFTA_SET_TABLE: u16 = 1;
pub(crate) const NFTA_SET_NAME: u16 = 2;
pub(crate) const NFTA_SET_FLAGS: u16 = 3;
pub(crate) const NFTA_SET_KEY_TYPE: u16 = 4;
pub(crate) const NFTA_SET_KEY_LEN: u16 = 5;
pub(crate) const NFTA_SET_DATA_TYPE: u16 = 6;
pub(crate) const NFTA_SET_DATA_LEN: u16 = 7;
/// A set's description: nested `NFTA_SET_DESC_*`.
pub(crate) const NFTA_SET_DESC: u16 = 9;
pub(crate) const NFTA_SET_ID: u16 = 10;
pub(crate) const NFTA_SET_TIMEOUT: u16 = 11;
pub(crate) const NFTA_SET_USERDATA: u16 = 13;
pub(crate) const NFTA_SET_EXPR: u16 = 17;
/// `NFTA_SET_DESC`: how many elements the set is made for.
pub(crate) const NFTA_SET_DESC_SIZE: u16 = 1;
/// `NFTA_SET_FLAGS`: an anonymous set (a rule's inline `{ ... }`).
pub(crate) const NFT_SET_ANONYMOUS: u32 = 0x1;
/// `NFTA_SET_FLAGS`: a set whose elements never change.
pub(crate) const NFT_SET_CONSTANT: u32 = 0x2;
pub(crate) const NFT_SET_INTERVAL: u32 = 0x4;
/// A set whose keys concatenate several fields, each matched as a range.
pub(crate) const NFT_SET_CONCAT: u32 = 0x80;
/// `NFTA_SET_DESC`: the lengths of a concatenation's fields (nested list).
pub(crate) const NFTA_SET_DESC_CONCAT: u16 = 2;
/// In `NFTA_SET_DESC_CONCAT`'s list: one field's length in bytes.
pub(crate) const NFTA_SET_FIELD_LEN: u16 = 1;
/// A concatenated interval element's last key.
pub(crate) const NFTA_SET_ELEM_KEY_END: u16 = 10;
pub(crate) const NFT_SET_MAP: u32 = 0x8;
/// `NFTA_SET_FLAGS`: elements may carry a timeout after which they vanish.
pub(crate) const NFT_SET_TIMEOUT: u32 = 0x10;
/// `NFTA_SET_FLAGS`: a set that rules fill while packets pass.
pub(crate) const NFT_SET_EVAL: u32 = 0x20;
// libnftnl's set user-data TLV types (their values are host-order u32s).
pub(crate) const UDATA_SET_KEYBYTEORDER: u8 = 0;
pub(crate) const UDATA_SET_DATABYTEORDER: u8 = 1;
/// Whether nft merges adjacent intervals of the set.
pub(crate) const UDATA_SET_MERGE_ELEMENTS: u8 = 2;
/// The expression the keys come from (nested TLVs, see `UDATA_TYPEOF_*`).
pub(crate) const UDATA_SET_KEY_TYPEOF: u8 = 3;
/// In `UDATA_SET_KEY_TYPEOF`: nft's expression type (`UDATA_EXPR_*`).
pub(crate) const UDATA_TYPEOF_EXPR: u8 = 0;
/// In `UDATA_SET_KEY_TYPEOF`: the expression's own TLVs, nested.
pub(crate) const UDATA_TYPEOF_DATA: u8 = 1;
/// nft's expression type of a payload field: its data is the protocol
/// (`PROTO_DESC_*`) as TLV 0 and the field's index in it as TLV 1.
pub(crate) const UDATA_EXPR_PAYLOAD: u32 = 7;
/// nft's expression type of a route lookup: its data is the result as
/// TLV 0 and the `NFTA_FIB_F_*` flags as TLV 1.
pub(crate) const UDATA_EXPR_FIB: u32 = 26;
/// nft's expression type of a concatenation (a set key of fields).
pub(crate) const UDATA_EXPR_CONCAT: u32 = 13;
// nft's protocol description numbers.
pub(crate) const PROTO_DESC_ICMP: u32 = 4;
pub(crate) const PROTO_DESC_UDP: u32 = 6;
pub(crate) const PROTO_DESC_UDPLITE: u32 = 7;
pub(crate) const PROTO_DESC_TCP: u32 = 8;
pub(crate) const PROTO_DESC_DCCP: u32 = 9;
pub(crate) const PROTO_DESC_SCTP: u32 = 10;
pub(crate) const PROTO_DESC_IP6: u32 = 13;
pub(crate) const PROTO_DESC_ICMPV6: u32 = 14;
pub(crate) const UDATA_SET_COMMENT: u8 = 7;
pub(crate) const UDATA_SET_DATA_INTERVAL: u8 = 6;
// nft's byte order and datatype numbers.
/// No one byte order: a concatenation's key, as nft 1.0.6 marks it.
pub(crate) const BYTEORDER_INVALID: u32 = 0;
pub(crate) const BYTEORDER_HOST_ENDIAN: u32 = 1;
pub(crate) const BYTEORDER_BIG_ENDIAN: u32 = 2;
pub(crate) const TYPE_INTEGER: u32 = 4;
pub(crate) const TYPE_IPADDR: u32 = 7;
pub(crate) const TYPE_IP6ADDR: u32 = 8;
pub(crate) const TYPE_INET_SERVICE: u32 = 13;
/// nft's datatypes of ICMP and ICMPv6 types and codes.
pub(crate) const TYPE_ICMP_TYPE: u32 = 14;
pub(crate) const TYPE_ICMP6_TYPE: u32 = 29;
pub(crate) const TYPE_ICMP_CODE: u32 = 32;
pub(crate) const TYPE_ICMPV6_CODE: u32 = 33;
/// nft's datatype of an interface index (`fib ... oif`).
pub(crate) const TYPE_IFINDEX: u32 = 20;
/// nft's datatype of a route type (`fib ... type`).
pub(crate) const TYPE_FIB_ADDRTYPE: u32 = 38;

// Set elements.
pub(crate) const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub(crate) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub(crate) const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
pub(crate) const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
pub(crate) const NFTA_SET_ELEM_KEY: u16 = 1;
pub(crate) const NFTA_SET_ELEM_DATA: u16 = 2;
pub(crate) const NFTA_SET_ELEM_FLAGS: u16 = 3;
/// An element's timeout in milliseconds (big-endian u64).
pub(crate) const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
/// Milliseconds left until an element expires (big-endian u64), as the kernel lists it.
pub(crate) const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
pub(crate) const NFTA_SET_ELEM_USERDATA: u16 = 6;
pub(crate) const NFTA_SET_ELEM_EXPR: u16 = 7;
pub(crate) const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
pub(crate) const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;
/// libnftnl's user-data TLV type of an element comment (NUL-terminated).
pub(crate) const UDATA_SET_ELEM_COMMENT: u8 = 0;
/// libnftnl's user-data TLV type of an element's flags (a host-order u32).
pub(crate) const UDATA_SET_ELEM_FLAGS: u8 = 1;
/// The element-flags bit of an open interval (one reaching the top).
pub(crate) const UDATA_SET_ELEM_F_INTERVAL_OPEN: u32 = 1;

// Expression lists and data.
pub(crate) const NFTA_LIST_ELEM: u16 = 1;
pub(crate) const NFTA_EXPR_NAME: u16 = 1;
pub(crate) const NFTA_EXPR_DATA: u16 = 2;
pub(crate) const NFTA_DATA_VALUE: u16 = 1;
pub(crate) const NFTA_DATA_VERDICT: u16 = 2;
pub(crate) const NFTA_VERDICT_CODE: u16 = 1;
pub(crate) const NFTA_VERDICT_CHAIN: u16 = 2;
pub(crate) const NFTA_VERDICT_CHAIN_ID: u16 = 3;
pub(crate) const NFTA_TPROXY_FAMILY: u16 = 1;
pub(crate) const NFTA_TPROXY_REG_ADDR: u16 = 2;
pub(crate) const NFTA_TPROXY_REG_PORT: u16 = 3;

// Registers and verdict codes.
pub(crate) const NFT_REG_VERDICT: u32 = 0;
pub(crate) const NFT_REG_1: u32 = 1;
pub(crate) const NFT_REG_2: u32 = 2;
/// The first 32-bit register (register 1's first word).
pub(crate) const NFT_REG32_00: u32 = 8;
pub(crate) const NF_DROP: i32 = 0;
pub(crate) const NF_ACCEPT: i32 = 1;
pub(crate) const NFT_CONTINUE: i32 = -1;
pub(crate) const NFT_JUMP: i32 = -3;
pub(crate) const NFT_GOTO: i32 = -4;
pub(crate) const NFT_RETURN: i32 = -5;

// payload
pub(crate) const NFTA_PAYLOAD_DREG: u16 = 1;
pub(crate) const NFTA_PAYLOAD_BASE: u16 = 2;
pub(crate) const NFTA_PAYLOAD_OFFSET: u16 = 3;
pub(crate) const NFTA_PAYLOAD_LEN: u16 = 4;
pub(crate) const NFT_PAYLOAD_LL_HEADER: u32 = 0;
pub(crate) const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
pub(crate) const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

// meta
pub(crate) const NFTA_META_DREG: u16 = 1;
pub(crate) const NFTA_META_KEY: u16 = 2;
pub(crate) const NFTA_META_SREG: u16 = 3;
pub(crate) const NFT_META_MARK: u32 = 3;
pub(crate) const NFT_META_IIFNAME: u32 = 6;
pub(crate) const NFT_META_OIFNAME: u32 = 7;
pub(crate) const NFT_META_SKUID: u32 = 10;
pub(crate) const NFT_META_SKGID: u32 = 11;
pub(crate) const NFT_META_RTCLASSID: u32 = 13;
pub(crate) const NFT_META_NFPROTO: u32 = 15;
pub(crate) const NFT_META_L4PROTO: u32 = 16;
pub(crate) const NFT_META_PKTTYPE: u32 = 19;
pub(crate) const NFT_META_CPU: u32 = 20;
pub(crate) const NFT_META_IIFGROUP: u32 = 21;
pub(crate) const NFT_META_OIFGROUP: u32 = 22;
pub(crate) const NFT_META_PRANDOM: u32 = 24;

// ct
pub(crate) const NFTA_CT_DREG: u16 = 1;
pub(crate) const NFTA_CT_KEY: u16 = 2;
pub(crate) const NFTA_CT_DIRECTION: u16 = 3;
pub(crate) const NFTA_CT_SREG: u16 = 4;
pub(crate) const NFT_CT_STATE: u32 = 0;
pub(crate) const NFT_CT_DIRECTION: u32 = 1;
pub(crate) const NFT_CT_STATUS: u32 = 2;
pub(crate) const NFT_CT_MARK: u32 = 3;
pub(crate) const NFT_CT_PROTOCOL: u32 = 10;
pub(crate) const NFT_CT_PROTO_SRC: u32 = 11;
pub(crate) const NFT_CT_PROTO_DST: u32 = 12;
pub(crate) const NFT_CT_SRC_IP: u32 = 19;
pub(crate) const NFT_CT_DST_IP: u32 = 20;
pub(crate) const NFT_CT_SRC_IP6: u32 = 21;
pub(crate) const NFT_CT_DST_IP6: u32 = 22;
pub(crate) const NFT_CT_PKTS: u32 = 14;
pub(crate) const NFT_CT_BYTES: u32 = 15;
pub(crate) const NFT_CT_AVGPKT: u32 = 16;
pub(crate) const NFT_CT_ZONE: u32 = 17;
pub(crate) const NFT_CT_EVENTMASK: u32 = 18;
pub(crate) const NFT_CT_SECMARK: u32 = 4;
pub(crate) const NFT_CT_EXPIRATION: u32 = 5;

// byteorder
pub(crate) const NFTA_BYTEORDER_SREG: u16 = 1;
pub(crate) const NFTA_BYTEORDER_DREG: u16 = 2;
pub(crate) const NFTA_BYTEORDER_OP: u16 = 3;
pub(crate) const NFTA_BYTEORDER_LEN: u16 = 4;
pub(crate) const NFTA_BYTEORDER_SIZE: u16 = 5;
pub(crate) const NFT_BYTEORDER_HTON: u32 = 1;

// cmp, range, bitwise
pub(crate) const NFTA_CMP_SREG: u16 = 1;
pub(crate) const NFTA_CMP_OP: u16 = 2;
pub(crate) const NFTA_CMP_DATA: u16 = 3;
pub(crate) const NFT_CMP_EQ: u32 = 0;
pub(crate) const NFT_CMP_NEQ: u32 = 1;
pub(crate) const NFT_CMP_LT: u32 = 2;
pub(crate) const NFT_CMP_LTE: u32 = 3;
pub(crate) const NFT_CMP_GT: u32 = 4;
pub(crate) const NFT_CMP_GTE: u32 = 5;
pub(crate) const NFTA_RANGE_SREG: u16 = 1;
pub(crate) const NFTA_RANGE_OP: u16 = 2;
pub(crate) const NFTA_RANGE_FROM_DATA: u16 = 3;
pub(crate) const NFTA_RANGE_TO_DATA: u16 = 4;
pub(crate) const NFT_RANGE_NEQ: u32 = 1;
pub(crate) const NFTA_BITWISE_SREG: u16 = 1;
pub(crate) const NFTA_BITWISE_DREG: u16 = 2;
pub(crate) const NFTA_BITWISE_LEN: u16 = 3;
pub(crate) const NFTA_BITWISE_MASK: u16 = 4;
pub(crate) const NFTA_BITWISE_XOR: u16 = 5;

// lookup
pub(crate) const NFTA_LOOKUP_SET: u16 = 1;
pub(crate) const NFTA_LOOKUP_SREG: u16 = 2;
pub(crate) const NFTA_LOOKUP_DREG: u16 = 3;
pub(crate) const NFTA_LOOKUP_SET_ID: u16 = 4;
pub(crate) const NFTA_LOOKUP_FLAGS: u16 = 5;
pub(crate) const NFT_LOOKUP_F_INV: u32 = 0x1;
pub(crate) const NFTA_DYNSET_SET_NAME: u16 = 1;
pub(crate) const NFTA_DYNSET_SET_ID: u16 = 2;
pub(crate) const NFTA_DYNSET_OP: u16 = 3;
pub(crate) const NFTA_DYNSET_SREG_KEY: u16 = 4;
pub(crate) const NFTA_DYNSET_EXPR: u16 = 7;
/// `NFTA_DYNSET_OP`: add the key when it is missing.
pub(crate) const NFT_DYNSET_OP_ADD: u32 = 0;
/// `NFTA_DYNSET_OP`: add the key when missing and refresh its timeout.
pub(crate) const NFT_DYNSET_OP_UPDATE: u32 = 1;
pub(crate) const NFTA_CONNLIMIT_COUNT: u16 = 1;
pub(crate) const NFTA_CONNLIMIT_FLAGS: u16 = 2;
/// `NFTA_CONNLIMIT_FLAGS`: match over the count instead of up to it.
pub(crate) const NFT_CONNLIMIT_F_INV: u32 = 0x1;
/// `NFTA_MATCH_NAME`: the xtables match's name.
pub(crate) const NFTA_MATCH_NAME: u16 = 1;
/// `NFTA_MATCH_REV`: its revision.
pub(crate) const NFTA_MATCH_REV: u16 = 2;
/// `NFTA_MATCH_INFO`: its argument structure.
pub(crate) const NFTA_MATCH_INFO: u16 = 3;
/// `NFTA_TARGET_NAME`: the xtables target's name.
pub(crate) const NFTA_TARGET_NAME: u16 = 1;
/// `NFTA_TARGET_REV`: its revision.
pub(crate) const NFTA_TARGET_REV: u16 = 2;
/// `NFTA_TARGET_INFO`: its argument structure.
pub(crate) const NFTA_TARGET_INFO: u16 = 3;

// immediate, counter
pub(crate) const NFTA_IMMEDIATE_DREG: u16 = 1;
pub(crate) const NFTA_IMMEDIATE_DATA: u16 = 2;
pub(crate) const NFTA_COUNTER_BYTES: u16 = 1;
pub(crate) const NFTA_COUNTER_PACKETS: u16 = 2;

// limit
pub(crate) const NFTA_LIMIT_RATE: u16 = 1;
pub(crate) const NFTA_LIMIT_UNIT: u16 = 2;
pub(crate) const NFTA_LIMIT_BURST: u16 = 3;
pub(crate) const NFTA_LIMIT_TYPE: u16 = 4;
pub(crate) const NFTA_LIMIT_FLAGS: u16 = 5;
pub(crate) const NFT_LIMIT_PKTS: u32 = 0;
/// A limit on bytes (`limit rate N bytes/second`).
pub(crate) const NFT_LIMIT_PKT_BYTES: u32 = 1;
pub(crate) const NFT_LIMIT_F_INV: u32 = 1;

// stateful objects: ct helpers and the rules' references to them
pub(crate) const NFT_MSG_NEWOBJ: u8 = 18;
pub(crate) const NFT_MSG_GETOBJ: u8 = 19;
pub(crate) const NFT_MSG_DELOBJ: u8 = 20;
pub(crate) const NFTA_OBJ_TABLE: u16 = 1;
pub(crate) const NFTA_OBJ_NAME: u16 = 2;
pub(crate) const NFTA_OBJ_TYPE: u16 = 3;
pub(crate) const NFTA_OBJ_DATA: u16 = 4;
pub(crate) const NFT_OBJECT_CT_HELPER: u32 = 3;
pub(crate) const NFTA_CT_HELPER_NAME: u16 = 1;
pub(crate) const NFTA_CT_HELPER_L3PROTO: u16 = 2;
pub(crate) const NFTA_CT_HELPER_L4PROTO: u16 = 3;
pub(crate) const NFTA_OBJREF_IMM_TYPE: u16 = 1;
pub(crate) const NFTA_OBJREF_IMM_NAME: u16 = 2;

// quota
pub(crate) const NFTA_QUOTA_BYTES: u16 = 1;
pub(crate) const NFTA_QUOTA_FLAGS: u16 = 2;
pub(crate) const NFTA_QUOTA_CONSUMED: u16 = 4;
pub(crate) const NFT_QUOTA_F_INV: u32 = 1;

// log
pub(crate) const NFTA_LOG_GROUP: u16 = 1;
pub(crate) const NFTA_LOG_PREFIX: u16 = 2;
pub(crate) const NFTA_LOG_SNAPLEN: u16 = 3;
pub(crate) const NFTA_LOG_QTHRESHOLD: u16 = 4;
pub(crate) const NFTA_LOG_LEVEL: u16 = 5;
pub(crate) const NFTA_LOG_FLAGS: u16 = 6;
pub(crate) const NF_LOG_TCPSEQ: u32 = 0x01;
pub(crate) const NF_LOG_TCPOPT: u32 = 0x02;
pub(crate) const NF_LOG_IPOPT: u32 = 0x04;
pub(crate) const NF_LOG_UID: u32 = 0x08;
pub(crate) const NF_LOG_MACDECODE: u32 = 0x20;

// reject
pub(crate) const NFTA_REJECT_TYPE: u16 = 1;
pub(crate) const NFTA_REJECT_ICMP_CODE: u16 = 2;
pub(crate) const NFT_REJECT_ICMP_UNREACH: u32 = 0;
pub(crate) const NFT_REJECT_TCP_RST: u32 = 1;
/// Family-independent ICMP error: ICMP for IPv4, ICMPv6 for IPv6 (`icmpx`).
pub(crate) const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
/// `icmpx port-unreachable`: the code of [`NFT_REJECT_ICMPX_UNREACH`] nft's plain `reject` means.
pub(crate) const NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;

// numgen
pub(crate) const NFTA_NG_DREG: u16 = 1;
pub(crate) const NFTA_NG_MODULUS: u16 = 2;
pub(crate) const NFTA_NG_TYPE: u16 = 3;
pub(crate) const NFTA_NG_OFFSET: u16 = 4;
pub(crate) const NFT_NG_INCREMENTAL: u32 = 0;

// fib
pub(crate) const NFTA_FIB_DREG: u16 = 1;
pub(crate) const NFTA_FIB_RESULT: u16 = 2;
pub(crate) const NFTA_FIB_FLAGS: u16 = 3;
pub(crate) const NFT_FIB_RESULT_OIF: u32 = 1;
pub(crate) const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
pub(crate) const NFTA_FIB_F_MARK: u32 = 1 << 2;
pub(crate) const NFTA_FIB_F_SADDR: u32 = 1 << 0;
pub(crate) const NFTA_FIB_F_DADDR: u32 = 1 << 1;
pub(crate) const NFTA_FIB_F_IIF: u32 = 1 << 3;
pub(crate) const NFTA_FIB_F_OIF: u32 = 1 << 4;

// nat, masq, redir
pub(crate) const NFTA_NAT_TYPE: u16 = 1;
pub(crate) const NFTA_NAT_FAMILY: u16 = 2;
pub(crate) const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
pub(crate) const NFTA_NAT_REG_ADDR_MAX: u16 = 4;
pub(crate) const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
pub(crate) const NFTA_NAT_REG_PROTO_MAX: u16 = 6;
pub(crate) const NFTA_NAT_FLAGS: u16 = 7;
pub(crate) const NFT_NAT_SNAT: u32 = 0;
pub(crate) const NFT_NAT_DNAT: u32 = 1;
pub(crate) const NFTA_MASQ_FLAGS: u16 = 1;
pub(crate) const NFTA_MASQ_REG_PROTO_MIN: u16 = 2;
pub(crate) const NFTA_MASQ_REG_PROTO_MAX: u16 = 3;
pub(crate) const NFTA_REDIR_REG_PROTO_MIN: u16 = 1;
pub(crate) const NFTA_REDIR_REG_PROTO_MAX: u16 = 2;
pub(crate) const NFTA_REDIR_FLAGS: u16 = 3;
pub(crate) const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 0x02;
pub(crate) const NF_NAT_RANGE_PROTO_RANDOM: u32 = 0x04;
pub(crate) const NF_NAT_RANGE_PERSISTENT: u32 = 0x08;
pub(crate) const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 0x10;

// rt
pub(crate) const NFTA_RT_DREG: u16 = 1;
pub(crate) const NFTA_RT_KEY: u16 = 2;
pub(crate) const NFT_RT_TCPMSS: u32 = 3;

// exthdr
pub(crate) const NFTA_EXTHDR_TYPE: u16 = 2;
pub(crate) const NFTA_EXTHDR_OFFSET: u16 = 3;
pub(crate) const NFTA_EXTHDR_LEN: u16 = 4;
pub(crate) const NFTA_EXTHDR_OP: u16 = 6;
pub(crate) const NFTA_EXTHDR_SREG: u16 = 7;
pub(crate) const NFT_EXTHDR_OP_TCPOPT: u32 = 1;
/// The TCP maximum segment size option's kind.
pub(crate) const TCPOPT_MAXSEG: u8 = 2;

// meta keys the targets set
pub(crate) const NFT_META_NFTRACE: u32 = 12;
pub(crate) const NFT_META_SECMARK: u32 = 14;
pub(crate) const NFT_META_IIFTYPE: u32 = 8;

// NETMAP's prefix translation
pub(crate) const NF_NAT_RANGE_MAP_IPS: u32 = 0x01;
pub(crate) const NF_NAT_RANGE_NETMAP: u32 = 0x40;

pub(crate) const NFT_META_PRIORITY: u32 = 2;

// payload writes
pub(crate) const NFTA_PAYLOAD_SREG: u16 = 5;
pub(crate) const NFTA_PAYLOAD_CSUM_TYPE: u16 = 6;
pub(crate) const NFTA_PAYLOAD_CSUM_OFFSET: u16 = 7;
pub(crate) const NFTA_PAYLOAD_CSUM_FLAGS: u16 = 8;
pub(crate) const NFT_PAYLOAD_CSUM_NONE: u32 = 0;
pub(crate) const NFT_PAYLOAD_CSUM_INET: u32 = 1;

// synproxy
pub(crate) const NFTA_SYNPROXY_MSS: u16 = 1;
pub(crate) const NFTA_SYNPROXY_WSCALE: u16 = 2;
pub(crate) const NFTA_SYNPROXY_FLAGS: u16 = 3;
pub(crate) const NF_SYNPROXY_OPT_MSS: u32 = 0x01;
pub(crate) const NF_SYNPROXY_OPT_WSCALE: u32 = 0x02;
pub(crate) const NF_SYNPROXY_OPT_SACK_PERM: u32 = 0x04;
pub(crate) const NF_SYNPROXY_OPT_TIMESTAMP: u32 = 0x08;
