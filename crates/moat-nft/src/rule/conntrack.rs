//! Connection-tracking matches (`-m conntrack`, `-m state`, `-m connmark`).
//!
//! Like iptables, every test but the state one fails for a packet without a
//! connection, negated or not: nft's `ct` keys end the rule there.
//!
//! A state list that mixes the SNAT/DNAT pseudo-states with connection
//! states (kube-proxy's `! --ctstate RELATED,ESTABLISHED,DNAT`), or negates
//! SNAT/DNAT alone, has no native form: it runs in the kernel's own
//! `conntrack` module (revision 3), as iptables-nft runs it; so does a port
//! test with no earlier test of a protocol with ports, since nft reads a
//! connection's ports only after one.

use ipnet::IpNet;
use moat_model::{
    ConnStates, ConntrackAddr, CtDirection, Family, Match, PortRange, XtExtension, XtLayout,
};
use nftables::expr::{CTDir, Expression};
use nftables::stmt::Statement;

use super::build::{and, ct, ct_dir, eq, masked, never, num, range, text, value_or_range};
use super::ports::port_protocol;
use super::{addr, CompileError, Cx};

/// nf_tables' `ct state` bits for the model's states (INVALID, NEW,
/// ESTABLISHED, RELATED, UNTRACKED).
const STATE_BITS: [(u8, u32); 5] = [
    (ConnStates::INVALID, 1),
    (ConnStates::NEW, 8),
    (ConnStates::ESTABLISHED, 2),
    (ConnStates::RELATED, 4),
    (ConnStates::UNTRACKED, 64),
];

/// nf_tables' `ct status` bits for the model's SNAT and DNAT pseudo-states.
const NAT_BITS: [(u8, u32); 2] = [(ConnStates::SNAT, 0x10), (ConnStates::DNAT, 0x20)];

/// xt_conntrack's state bits (`XT_CONNTRACK_STATE_*`): a connection
/// state's is `1 << (ctinfo % IP_CT_IS_REPLY + 1)`, SNAT, DNAT and UNTRACKED
/// follow IP_CT_NUMBER (5).
const XT_STATE_BITS: [(u8, u32); 7] = [
    (ConnStates::INVALID, 1 << 0),
    (ConnStates::ESTABLISHED, 1 << 1),
    (ConnStates::RELATED, 1 << 2),
    (ConnStates::NEW, 1 << 3),
    (ConnStates::SNAT, 1 << 6),
    (ConnStates::DNAT, 1 << 7),
    (ConnStates::UNTRACKED, 1 << 8),
];

/// xt_conntrack's flag for its state test (`XT_CONNTRACK_STATE`).
const XT_CONNTRACK_STATE: u16 = 1;

fn bits(states: ConnStates, table: &[(u8, u32)]) -> u32 {
    table
        .iter()
        .filter(|(model, _)| states.contains(*model))
        .fold(0, |acc, (_, nft)| acc | nft)
}

/// `key & mask != 0` (some bit is set), or `key & mask == 0` when `negate`.
fn any_bit(key: Expression<'static>, mask: u32, negate: bool) -> Statement<'static> {
    eq(and(key, num(mask)), num(0), !negate)
}

/// `--ctstate`/`--state`: `ct state established,related`. The SNAT and DNAT
/// pseudo-states are `ct status snat,dnat`. A packet has exactly one
/// `ct state` bit, so a single state is an equality (`ct state == new`):
/// one expression fewer than the bit test, for the kernel to load and run.
pub(super) fn state(
    states: ConnStates,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    match (bits(states, &STATE_BITS), bits(states, &NAT_BITS)) {
        // No state listed: iptables matches nothing, negated everything.
        (0, 0) => Ok(if negate {
            Vec::new()
        } else {
            vec![never(family)]
        }),
        _ if state_needs_xt(states, negate) => {
            Ok(vec![super::xt::statement(&xt_state(states, negate))])
        }
        (mask, 0) if mask.is_power_of_two() => Ok(vec![eq(ct("state"), num(mask), negate)]),
        (mask, 0) => Ok(vec![any_bit(ct("state"), mask, negate)]),
        (_, mask) => Ok(vec![any_bit(ct("status"), mask, false)]),
    }
}

/// Whether a state test runs in the kernel's xt_conntrack (see [`state`]):
/// nf_tables' `ct status` ends the rule for a packet without a connection,
/// which a negated SNAT/DNAT state matches, and `ct state` and `ct status`
/// in one rule must both hold where the list means either.
pub(super) fn state_needs_xt(states: ConnStates, negate: bool) -> bool {
    match (bits(states, &STATE_BITS), bits(states, &NAT_BITS)) {
        (_, 0) => false,
        (0, _) => negate,
        _ => true,
    }
}

/// The tests of an `xt_conntrack_mtinfo3` moat fills: the state test, or
/// one port test (origsrc, origdst, replsrc, repldst).
#[derive(Default)]
struct XtTests {
    flags: u16,
    invert: u16,
    state_mask: u16,
    /// Each port test's first and last port.
    ports: [(u16, u16); 4],
}

/// `struct xt_conntrack_mtinfo3` as the kernel's module reads it: four
/// address/mask pairs and the expiry range (unused), the protocol, the
/// ports, the flags, the state and status masks, the ports' upper ends.
/// Revision 3 compares ports in host order (its header says `__be16`,
/// which revision 1 meant; the packet test caught it).
fn xt_conntrack(tests: XtTests, text: String) -> XtExtension {
    let mut info = XtLayout::new();
    info.bytes(&[], 8 * 16).u32(0).u32(0).u16(0);
    for (first, _) in tests.ports {
        info.u16(first);
    }
    info.u16(tests.flags)
        .u16(tests.invert)
        .u16(tests.state_mask)
        .u16(0);
    for (_, last) in tests.ports {
        info.u16(last);
    }
    XtExtension::new("conntrack", 3, info.align(4).finish(), text)
}

/// `-m conntrack [!] --ctstate STATES` in the kernel's module.
fn xt_state(states: ConnStates, negate: bool) -> XtExtension {
    let tests = XtTests {
        flags: XT_CONNTRACK_STATE,
        invert: if negate { XT_CONNTRACK_STATE } else { 0 },
        state_mask: u16::try_from(bits(states, &XT_STATE_BITS)).unwrap_or(u16::MAX),
        ..XtTests::default()
    };
    let text = moat_model::describe::match_text(&Match::ConnState { states, negate });
    xt_conntrack(tests, text)
}

/// `-m conntrack [!] --ctorigsrcport P[:Q]` and friends in the kernel's
/// module, which reads any tracked protocol's ports (ICMP's id too).
fn xt_port(which: ConntrackAddr, ports: PortRange, negate: bool) -> XtExtension {
    let index = match which {
        ConntrackAddr::OrigSource => 0,
        ConntrackAddr::OrigDest => 1,
        ConntrackAddr::ReplySource => 2,
        ConntrackAddr::ReplyDest => 3,
    };
    // XT_CONNTRACK_ORIGSRC_PORT and the three after it.
    let flag = 1 << (8 + index);
    let mut tests = XtTests {
        flags: flag,
        invert: if negate { flag } else { 0 },
        ..XtTests::default()
    };
    tests.ports[index] = (ports.first, ports.last);
    let text = moat_model::describe::match_text(&Match::ConnPort {
        which,
        range: ports,
        negate,
    });
    xt_conntrack(tests, text)
}

/// A test of a connection's value against a range nothing is in: it never
/// holds, and negated it holds for every tracked connection (xt_conntrack
/// matches no packet without one).
fn no_value_in_range(negate: bool, family: Family) -> Vec<Statement<'static>> {
    if negate {
        vec![has_connection()]
    } else {
        vec![never(family)]
    }
}

/// The packet belongs to a connection: `ct state` is neither invalid nor
/// untracked, the two states of a packet without one.
fn has_connection() -> Statement<'static> {
    any_bit(ct("state"), 1 | 64, true)
}

/// `--ctstatus`: `ct status expected,assured` (any of the bits is set).
pub(super) fn status(status: u32, negate: bool, family: Family) -> Vec<Statement<'static>> {
    match (status, negate) {
        // `--ctstatus NONE`: no bit can be set.
        (0, false) => vec![never(family)],
        (0, true) => vec![has_connection()],
        _ => vec![any_bit(ct("status"), status, negate)],
    }
}

/// `--ctproto`: `ct original protocol PROTO`.
pub(super) fn proto(proto: u8, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(
        ct_dir("protocol", CTDir::Original),
        num(proto.into()),
        negate,
    )]
}

fn direction_of(which: ConntrackAddr) -> (CTDir, bool) {
    match which {
        ConntrackAddr::OrigSource => (CTDir::Original, true),
        ConntrackAddr::OrigDest => (CTDir::Original, false),
        ConntrackAddr::ReplySource => (CTDir::Reply, true),
        ConntrackAddr::ReplyDest => (CTDir::Reply, false),
    }
}

/// `--ctorigsrc` and friends: `ct original ip saddr 10.0.0.0/8`.
pub(super) fn addr(
    which: ConntrackAddr,
    net: &IpNet,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    let (dir, source) = direction_of(which);
    let key = match (family, source) {
        (Family::Ipv4, true) => "ip saddr",
        (Family::Ipv4, false) => "ip daddr",
        (Family::Ipv6, true) => "ip6 saddr",
        (Family::Ipv6, false) => "ip6 daddr",
    };
    addr::in_net(ct_dir(key, dir), net, negate, family)
}

/// The port protocol an earlier `--ctproto` or `-p` match fixes. nft needs
/// one to read a connection's ports.
fn port_context(earlier: &[Match]) -> Option<u8> {
    earlier.iter().find_map(|m| match m {
        Match::Protocol {
            proto,
            negate: false,
        }
        | Match::ConnProto {
            proto,
            negate: false,
        } if port_protocol(*proto).is_some() => Some(*proto),
        _ => None,
    })
}

/// Whether a conntrack port test runs in the kernel's xt_conntrack: nft
/// reads a connection's ports only after a test of a protocol with ports.
pub(super) fn port_needs_xt(earlier: &[Match]) -> bool {
    port_context(earlier).is_none()
}

/// `--ctorigsrcport` and friends: `ct original proto-src 1000-2000`, or
/// without an earlier `--ctproto`/`-p` of a protocol with ports, the
/// kernel's xt_conntrack.
pub(super) fn port(
    which: ConntrackAddr,
    ports: PortRange,
    negate: bool,
    cx: &Cx,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if ports.first > ports.last {
        // iptables takes it; no connection's port is in it.
        return Ok(no_value_in_range(negate, cx.family));
    }
    if port_needs_xt(cx.earlier()) {
        return Ok(vec![super::xt::statement(&xt_port(which, ports, negate))]);
    }
    let (dir, source) = direction_of(which);
    let key = if source { "proto-src" } else { "proto-dst" };
    let right = value_or_range(ports.first.into(), ports.last.into());
    Ok(vec![eq(ct_dir(key, dir), right, negate)])
}

/// `--ctexpire MIN:MAX` (whole seconds left): nft's `ct expiration` counts
/// milliseconds, and `s` whole seconds means `s*1000 ..= s*1000+999` ms.
pub(super) fn expire(
    min: u32,
    max: u32,
    negate: bool,
    family: Family,
) -> Result<Vec<Statement<'static>>, CompileError> {
    if min > max {
        // iptables takes it; no connection's expiry is in it.
        return Ok(no_value_in_range(negate, family));
    }
    // nft reads millisecond values only below 2^31; larger ones are
    // written in whole seconds (the last second's part is lost, after
    // about 25 days of life).
    let ms = |n: u64| match n < 1 << 31 {
        true => text(format!("{n}ms")),
        false => text(format!("{}s", n / 1000)),
    };
    let limit = u64::from(u32::MAX);
    let lo = u64::from(min) * 1000;
    if lo > limit {
        // No connection lives that long (nf_tables keeps 32-bit milliseconds).
        return Ok(no_value_in_range(negate, family));
    }
    let hi = (u64::from(max) * 1000 + 999).min(limit);
    Ok(vec![eq(ct("expiration"), range(ms(lo), ms(hi)), negate)])
}

/// `--ctdir`: `ct direction original|reply`.
pub(super) fn direction(dir: CtDirection) -> Vec<Statement<'static>> {
    let name = match dir {
        CtDirection::Original => "original",
        CtDirection::Reply => "reply",
    };
    vec![eq(ct("direction"), text(name), false)]
}

/// `-m connmark --mark VALUE/MASK`: `ct mark & MASK == VALUE`.
pub(super) fn mark(value: u32, mask: u32, negate: bool) -> Vec<Statement<'static>> {
    vec![eq(masked(ct("mark"), mask), num(value), negate)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{compile_json, matches_json, v4, v6};
    use moat_model::{Action, ConnStates, ConntrackAddr, CtDirection, Match, PortRange, Rule};

    fn state(bits: u8, negate: bool) -> Match {
        Match::ConnState {
            states: ConnStates(bits),
            negate,
        }
    }

    #[test]
    fn states_are_a_bit_test() {
        let est_rel = ConnStates::ESTABLISHED | ConnStates::RELATED;
        assert_eq!(
            matches_json(&[state(est_rel, false), state(ConnStates::NEW, true)], v4()),
            json!([
                {"match": {"op": "!=", "left": {"&": [{"ct": {"key": "state"}}, 6]}, "right": 0}},
                {"match": {"op": "!=", "left": {"ct": {"key": "state"}}, "right": 8}},
            ])
        );
        assert_eq!(
            matches_json(&[state(ConnStates::SNAT | ConnStates::DNAT, false)], v4()),
            json!([{"match": {"op": "!=", "left": {"&": [{"ct": {"key": "status"}}, 48]}, "right": 0}}])
        );
    }

    // kube-proxy's `! --ctstate RELATED,ESTABLISHED,DNAT`: xt_conntrack
    // revision 3, its state test inverted, mask ESTABLISHED (1 << 1) |
    // RELATED (1 << 2) | DNAT (1 << 7), in a 168-byte (XT_ALIGN(164)) info.
    #[test]
    fn mixed_or_negated_nat_states_run_in_the_kernels_conntrack_module() {
        let kube = state(
            ConnStates::RELATED | ConnStates::ESTABLISHED | ConnStates::DNAT,
            true,
        );
        let json = matches_json(std::slice::from_ref(&kube), v4());
        let xt = &json[0]["xt"];
        assert_eq!(
            (xt["type"].clone(), xt["name"].clone(), xt["rev"].clone()),
            (json!("match"), json!("conntrack"), json!(3))
        );
        let hex = xt["info"].as_str().unwrap();
        let info: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(info.len(), 168);
        let word = |at: usize| u16::from_ne_bytes([info[at], info[at + 1]]);
        assert_eq!(
            (word(146), word(148), word(150), word(152)),
            (1, 1, (1 << 1) | (1 << 2) | (1 << 7), 0)
        );
        assert!(super::super::matches::needs_netlink(&kube, &[]));
        let negated_dnat = state(ConnStates::DNAT, true);
        assert!(super::super::matches::needs_netlink(&negated_dnat, &[]));
        assert!(!super::super::matches::needs_netlink(
            &state(ConnStates::DNAT, false),
            &[]
        ));
        assert!(!super::super::matches::needs_netlink(
            &state(ConnStates::NEW, true),
            &[]
        ));
    }

    #[test]
    fn addresses_ports_and_protocol() {
        let ms = [
            Match::ConnProto {
                proto: 6,
                negate: false,
            },
            Match::ConnAddr {
                which: ConntrackAddr::ReplyDest,
                net: "2001:db8::/32".parse().unwrap(),
                negate: true,
            },
            Match::ConnPort {
                which: ConntrackAddr::OrigDest,
                range: PortRange {
                    first: 22,
                    last: 22,
                },
                negate: false,
            },
        ];
        assert_eq!(
            matches_json(&ms, v6()),
            json!([
                {"match": {"op": "==", "left": {"ct": {"key": "protocol", "dir": "original"}}, "right": 6}},
                {"match": {"op": "!=", "left": {"ct": {"key": "ip6 daddr", "dir": "reply"}},
                    "right": {"prefix": {"addr": "2001:db8::", "len": 32}}}},
                {"match": {"op": "==", "left": {"ct": {"key": "proto-dst", "dir": "original"}}, "right": 22}},
            ])
        );
    }

    #[test]
    fn ports_without_a_protocol_run_in_the_kernels_conntrack_module() {
        let port = Match::ConnPort {
            which: ConntrackAddr::ReplySource,
            range: PortRange {
                first: 1000,
                last: 2000,
            },
            negate: true,
        };
        assert!(super::super::matches::needs_netlink(&port, &[]));
        let tcp = Match::ConnProto {
            proto: 6,
            negate: false,
        };
        assert!(!super::super::matches::needs_netlink(&port, &[tcp]));
        let rule = Rule {
            matches: vec![port],
            ..Rule::new(Action::Accept)
        };
        let json = compile_json(&rule, v4()).unwrap();
        let hex = json[0]["xt"]["info"].as_str().unwrap();
        let info: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let word = |at: usize| u16::from_ne_bytes([info[at], info[at + 1]]);
        // replsrc_port, the flags and their inversion, replsrc_port_high.
        assert_eq!(word(142), 1000);
        assert_eq!((word(146), word(148)), (1 << 10, 1 << 10));
        assert_eq!(word(158), 2000);
    }

    #[test]
    fn expiry_whole_seconds_in_milliseconds() {
        let ms = [
            Match::ConnExpire {
                min: 10,
                max: 60,
                negate: false,
            },
            Match::ConnDirection {
                dir: CtDirection::Reply,
            },
            Match::ConnMark {
                value: 1,
                mask: 0xff,
                negate: true,
            },
        ];
        assert_eq!(
            matches_json(&ms, v4()),
            json!([
                {"match": {"op": "==", "left": {"ct": {"key": "expiration"}},
                    "right": {"range": ["10000ms", "60999ms"]}}},
                {"match": {"op": "==", "left": {"ct": {"key": "direction"}}, "right": "reply"}},
                {"match": {"op": "!=", "left": {"&": [{"ct": {"key": "mark"}}, 255]}, "right": 1}},
            ])
        );
    }
}
