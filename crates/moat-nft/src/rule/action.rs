//! Rule actions (targets): verdicts, REJECT, LOG, NFLOG, MARK, CONNMARK and
//! NOTRACK. Address translation is in [`super::nat`].

use std::borrow::Cow;
use std::collections::HashSet;

use moat_model::{
    Action, CtDirection, EcnChange, Family, LogFlags, MarkSet, RejectKind, SynProxyOptions, TtlOp,
    XtExtension, XtLayout,
};
use nftables::expr::{CTDir, Expression, MetaKey};
use nftables::stmt::{
    JumpTarget, Log, LogFlag, LogLevel, Mangle, Reject, RejectType, Statement, SynProxy,
};
use nftables::types::{RejectCode, SynProxyFlag};

use super::build::{and, ct, ct_dir, masked, meta, num, payload, xor};
use super::carried::{self, Carried};
use super::{nat, queue, refuse, tcpmss, ttl, CompileError, Cx};

/// The longest log prefix nf_tables keeps.
const LOG_PREFIX_MAX: usize = 127;

/// Compiles the action of a rule into the statements after its counter.
pub(super) fn compile(action: &Action, cx: &Cx) -> Result<Vec<Statement<'static>>, CompileError> {
    let jump = |name: &String| JumpTarget {
        target: Cow::Owned(name.clone()),
    };
    Ok(match action {
        Action::Continue => Vec::new(),
        // nf_tables has no checksum fill: the rule only counts.
        Action::ChecksumFill => Vec::new(),
        Action::ConnSecMark(copy) => vec![Carried::SecMarkCopy(*copy).statement()],
        // Made an xtables target once the sets' indexes are known.
        Action::IpSetUpdate(update) => {
            return Err(CompileError(format!(
                "-j SET{}: the kernel's ipsets are looked up when the rule is applied",
                update.text(false)
            )))
        }
        Action::Accept => vec![Statement::Accept(None)],
        Action::Drop => vec![Statement::Drop(None)],
        Action::Return => vec![Statement::Return(None)],
        Action::Jump(name) => vec![Statement::Jump(jump(name))],
        Action::Goto(name) => vec![Statement::Goto(jump(name))],
        Action::Reject(kind) => vec![reject(*kind, cx)?],
        Action::Log {
            prefix,
            level,
            flags,
        } => vec![log(prefix.as_deref(), level.0, *flags)?],
        Action::NfLog {
            group,
            prefix,
            snaplen,
            threshold,
        } => vec![nflog(*group, prefix.as_deref(), *snaplen, *threshold)?],
        Action::SetMark(set) => mark_set(meta(MetaKey::Mark), *set),
        Action::SetConnMark(set) => mark_set(ct("mark"), *set),
        Action::SaveMark { nfmask, ctmask } => vec![save_mark(*nfmask, *ctmask)],
        Action::RestoreMark { nfmask, ctmask } => vec![restore_mark(*nfmask, *ctmask)],
        Action::NoTrack => vec![Statement::Notrack],
        Action::CtZone { id, dir } => vec![Statement::Mangle(Mangle {
            key: zone_key(*dir),
            value: num(u32::from(*id)),
        })],
        // `ct zone set meta mark`: nft 1.0.6 refuses a mark as a zone; the
        // kernel takes its low 16 bits, as xt_CT does.
        Action::CtZoneFromMark { dir } => vec![Statement::Mangle(Mangle {
            key: zone_key(*dir),
            value: meta(MetaKey::Mark),
        })],
        // The table declares the helper object (see `plan`).
        Action::CtHelper { helper, proto } => vec![Statement::CTHelper(Cow::Owned(
            crate::layout::ct_helper_object_name(helper, *proto),
        ))],
        // The table declares the timeout object (see `plan`).
        Action::CtTimeout { policy, proto } => vec![Statement::CTTimeout(Expression::String(
            Cow::Owned(crate::layout::ct_timeout_object_name(policy, *proto)),
        ))],
        Action::CtEvents { mask } => vec![Statement::Mangle(Mangle {
            key: ct("event"),
            value: num(u32::from(*mask)),
        })],
        // Each setting where the kernel honours it: a zone before
        // conntrack, the others on the connection it made (see
        // `layout::works_after_conntrack`); elsewhere the kernel skips it.
        Action::CtSeveral(parts) => {
            let mut statements = Vec::new();
            for part in parts {
                statements.extend(compile(part, cx)?);
            }
            statements
        }
        Action::Dnat(target) => vec![nat::dnat(target, cx)?],
        Action::Snat(target) => vec![nat::snat(target, cx)?],
        Action::Masquerade {
            ports,
            random,
            fully_random,
        } => vec![nat::masquerade(*ports, *random, *fully_random, cx)?],
        Action::Redirect { ports, random } => vec![nat::redirect(*ports, *random, cx)?],
        Action::TcpMss(value) => vec![tcpmss::compile(*value, cx)?],
        Action::TcpOptStrip(kinds) => carried::strip_statements(kinds),
        Action::Ecn(change) => ecn(*change, cx)?,
        Action::Netmap { to, side } => vec![nat::netmap(*to, *side, cx)?],
        Action::Queue {
            first,
            last,
            bypass,
            fanout,
        } => vec![queue::compile(*first, *last, *bypass, *fanout)?],
        Action::Dscp(n) => vec![dscp(*n, cx)?],
        Action::Tos { value, mask } => tos(*value, *mask, cx),
        Action::Ttl(op) => vec![ttl::compile(*op, false)],
        Action::HopLimit(op) => vec![ttl::compile(*op, true)],
        Action::Xt(ext) => vec![super::xt::target_statement(ext)],
        Action::Classify(class) => vec![Statement::Mangle(Mangle {
            key: meta(MetaKey::Priority),
            value: num(*class),
        })],
        Action::SynProxy(o) => vec![synproxy(*o, cx)?],
        Action::Tproxy(t) => {
            if !matches!(cx.protocol(), Some(6 | 17)) {
                return refuse("TPROXY needs -p tcp or -p udp, as in iptables");
            }
            vec![Carried::Tproxy(*t).statement()]
        }
        Action::Trace => vec![Statement::Mangle(Mangle {
            key: meta(MetaKey::Nftrace),
            value: num(1),
        })],
    })
}

/// `-j DSCP --set-dscp N`: `ip dscp set N` (`ip6 dscp` in IPv6), which
/// keeps the ECN bits as iptables does.
fn dscp(n: u8, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    if n > 63 {
        return refuse(format!("DSCP {n} is out of range 0-63"));
    }
    let protocol = match cx.family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    Ok(Statement::Mangle(Mangle {
        key: payload(protocol, "dscp"),
        value: num(n.into()),
    }))
}

/// `-j ECN`: `ip ecn set N` for the IPv4 codepoint; the TCP ECE (0x40) and
/// CWR (0x80) flags as a [`Carried`] rewrite of the TCP flags byte, with
/// the checksum updated (rules that change them need `-p tcp`, as in
/// iptables).
fn ecn(change: EcnChange, cx: &Cx) -> Result<Vec<Statement<'static>>, CompileError> {
    let mut out = Vec::new();
    if let Some(ect) = change.ip_ect {
        out.push(Statement::Mangle(Mangle {
            key: payload("ip", "ecn"),
            value: num(u32::from(ect & 3)),
        }));
    }
    if change.touches_tcp() {
        if cx.protocol() != Some(6) {
            return refuse("ECN --ecn-tcp-* changes TCP flags and needs -p tcp, as in iptables");
        }
        let (mut mask, mut value) = (0xff_u8, 0_u8);
        for (bit, set) in [(0x40_u8, change.ece), (0x80, change.cwr)] {
            if let Some(on) = set {
                mask &= !bit;
                if on {
                    value |= bit;
                }
            }
        }
        out.push(Carried::TcpFlagsRewrite { mask, value }.statement());
    }
    Ok(out)
}

/// `-j TOS`: the TOS byte (traffic class) is the 6 DSCP bits and the 2 ECN
/// bits. A change that sets each part wholly or leaves it alone is
/// `ip dscp set` and/or `ip ecn set`; any other (flipping bits, or keeping
/// some bits of a part, as the symbolic values do) needs the byte combined
/// with itself, which nft 1.0.6 cannot write: that is a [`Carried`]
/// rewrite for the netlink driver.
fn tos(value: u8, mask: u8, cx: &Cx) -> Vec<Statement<'static>> {
    if !tos_in_whole_parts(value, mask) {
        return vec![Carried::TosRewrite { value, mask }.statement()];
    }
    let protocol = match cx.family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    TOS_PARTS
        .iter()
        .filter(|(_, bits, _)| mask & bits == *bits)
        .map(|&(field, bits, shift)| {
            Statement::Mangle(Mangle {
                key: payload(protocol, field),
                value: num(u32::from((value & bits) >> shift)),
            })
        })
        .collect()
}

/// The TOS byte's parts: nft's field, its bits, their shift.
const TOS_PARTS: [(&str, u8, u8); 2] = [("dscp", 0xfc, 2), ("ecn", 0x03, 0)];

/// Whether a TOS change sets each part of the byte wholly or leaves it alone.
fn tos_in_whole_parts(value: u8, mask: u8) -> bool {
    TOS_PARTS
        .iter()
        .all(|(_, bits, _)| mask & bits == *bits || (mask & bits == 0 && value & bits == 0))
}

/// `ct zone`, or the zone of one direction.
fn zone_key(dir: Option<CtDirection>) -> Expression<'static> {
    match dir {
        None => ct("zone"),
        Some(CtDirection::Original) => ct_dir("zone", CTDir::Original),
        Some(CtDirection::Reply) => ct_dir("zone", CTDir::Reply),
    }
}

/// Whether the action compiles to a statement only the netlink driver
/// writes: a kernel xtables target (NFQUEUE is xt_NFQUEUE), a [`Carried`]
/// statement (TCPOPTSTRIP, TPROXY, CONNSECMARK, a TOS change within a part
/// of the byte, ECN's TCP flags), a TTL/HL step (a map nft 1.0.6 refuses
/// for the IPv4 TTL), a zone taken from the mark or a NAT address range
/// that runs backwards (which nft refuses), or a timeout policy (a copy of
/// the kernel's cttimeout policy, which only that driver reads).
pub(crate) fn needs_netlink(action: &Action) -> bool {
    match action {
        Action::Xt(_)
        | Action::IpSetUpdate(_)
        | Action::TcpOptStrip(_)
        | Action::Tproxy(_)
        | Action::ConnSecMark(_)
        | Action::CtTimeout { .. }
        | Action::Queue { .. }
        | Action::CtZoneFromMark { .. } => true,
        Action::Ecn(change) => change.touches_tcp(),
        Action::SaveMark { nfmask, ctmask } => connmark_needs_xt(true, *nfmask, *ctmask),
        Action::RestoreMark { nfmask, ctmask } => connmark_needs_xt(false, *nfmask, *ctmask),
        Action::Reject(RejectKind::Icmpv6(code)) => icmpv6_code_is_carried(*code),
        Action::Tos { value, mask } => !tos_in_whole_parts(*value, *mask),
        Action::Ttl(op) | Action::HopLimit(op) => !matches!(op, TtlOp::Set(_)),
        Action::Dnat(t) | Action::Snat(t) => t.addrs.is_some_and(|(first, last)| first > last),
        Action::CtSeveral(parts) => parts.iter().any(needs_netlink),
        _ => false,
    }
}

/// `-j REJECT --reject-with ...`: `reject with tcp reset`, `reject with icmp
/// port-unreachable`, `reject with icmpv6 admin-prohibited`.
fn reject(kind: RejectKind, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    let (ty, code) = match (kind, cx.family) {
        (RejectKind::TcpReset, _) => {
            if cx.protocol() != Some(6) {
                return refuse(
                    "REJECT --reject-with tcp-reset needs -p tcp, as in iptables \
                     (nf_tables would otherwise let other packets through the rule)",
                );
            }
            (RejectType::TCPReset, None)
        }
        (RejectKind::Icmp(code), Family::Ipv4) => (RejectType::ICMP, Some(icmp_code(code)?)),
        (RejectKind::Icmpv6(code), Family::Ipv6) if icmpv6_code_is_carried(code) => {
            return Ok(Carried::Icmpv6Reject { code }.statement())
        }
        (RejectKind::Icmpv6(code), Family::Ipv6) => (RejectType::ICMPv6, Some(icmpv6_code(code)?)),
        (RejectKind::Icmp(_), Family::Ipv6) => {
            return refuse("an ICMP (IPv4) reject in an IPv6 table; use an ICMPv6 code")
        }
        (RejectKind::Icmpv6(_), Family::Ipv4) => {
            return refuse("an ICMPv6 reject in an IPv4 table; use an ICMP code")
        }
    };
    Ok(Statement::Reject(Some(Reject::new(Some(ty), code))))
}

/// Whether an ICMPv6 reject code is a [`Carried`] reject: policy-fail (5)
/// and reject-route (6), which nft knows and the nftables crate does not.
fn icmpv6_code_is_carried(code: u8) -> bool {
    matches!(code, 5 | 6)
}

/// The destination-unreachable codes iptables' REJECT sends.
fn icmp_code(code: u8) -> Result<RejectCode, CompileError> {
    Ok(match code {
        0 => RejectCode::NetUnreach,
        1 => RejectCode::HostUnreach,
        2 => RejectCode::ProtUnreach,
        3 => RejectCode::PortUnreach,
        9 => RejectCode::NetProhibited,
        10 => RejectCode::HostProhibited,
        13 => RejectCode::AdminProhibited,
        _ => {
            return refuse(format!(
                "REJECT cannot send ICMP destination-unreachable code {code}"
            ))
        }
    })
}

/// The ICMPv6 destination-unreachable codes nf_tables can send.
fn icmpv6_code(code: u8) -> Result<RejectCode, CompileError> {
    Ok(match code {
        0 => RejectCode::NoRoute,
        1 => RejectCode::AdminProhibited,
        3 => RejectCode::AddrUnreach,
        4 => RejectCode::PortUnreach,
        _ => return refuse(format!(
            "REJECT with ICMPv6 code {code} is not one ip6tables sends (no-route, adm-prohibited, addr-unreachable, port-unreachable, policy-fail, reject-route)"
        )),
    })
}

fn check_prefix(prefix: Option<&str>) -> Result<Option<Cow<'static, str>>, CompileError> {
    match prefix {
        Some(p) if p.len() > LOG_PREFIX_MAX => refuse(format!(
            "log prefix {p:?} is longer than {LOG_PREFIX_MAX} bytes"
        )),
        Some(p) => Ok(Some(Cow::Owned(p.to_string()))),
        None => Ok(None),
    }
}

/// `-j LOG`: `log prefix "..." level warn flags tcp sequence,...`.
fn log(
    prefix: Option<&str>,
    level: u8,
    flags: LogFlags,
) -> Result<Statement<'static>, CompileError> {
    let level = match level {
        0 => LogLevel::Emerg,
        1 => LogLevel::Alert,
        2 => LogLevel::Crit,
        3 => LogLevel::Err,
        4 => LogLevel::Warn,
        5 => LogLevel::Notice,
        6 => LogLevel::Info,
        7 => LogLevel::Debug,
        _ => return refuse(format!("log level {level} is not a syslog level (0 to 7)")),
    };
    let wanted = [
        (flags.tcp_sequence, LogFlag::TCPSequence),
        (flags.tcp_options, LogFlag::TCPOptions),
        (flags.ip_options, LogFlag::IPOptions),
        (flags.uid, LogFlag::Skuid),
        (flags.macdecode, LogFlag::Ether),
    ];
    let flags: HashSet<LogFlag> = wanted
        .iter()
        .filter(|(on, _)| *on)
        .map(|&(_, f)| f)
        .collect();
    Ok(Statement::Log(Some(Log {
        prefix: check_prefix(prefix)?,
        level: Some(level),
        flags: (!flags.is_empty()).then_some(flags),
        ..Log::new(None)
    })))
}

/// `-j NFLOG`: `log group N prefix "..." snaplen S queue-threshold T`.
/// iptables sends each packet at once unless told otherwise (threshold 1);
/// nf_tables would batch up to the log instance's threshold, so 1 is explicit.
fn nflog(
    group: u16,
    prefix: Option<&str>,
    snaplen: Option<u32>,
    threshold: Option<u16>,
) -> Result<Statement<'static>, CompileError> {
    Ok(Statement::Log(Some(Log {
        prefix: check_prefix(prefix)?,
        snaplen,
        queue_threshold: Some(threshold.unwrap_or(1).into()),
        ..Log::new(Some(group.into()))
    })))
}

fn mangle(key: Expression<'static>, value: Expression<'static>) -> Statement<'static> {
    Statement::Mangle(Mangle { key, value })
}

/// `-j MARK --set-xmark VALUE/MASK` (and CONNMARK's): `new = (old & ~MASK) ^ VALUE`,
/// `meta mark set meta mark & ~MASK ^ VALUE`, or `meta mark set VALUE` when
/// every bit is replaced.
fn mark_set(key: Expression<'static>, set: MarkSet) -> Vec<Statement<'static>> {
    let MarkSet { value, mask } = set;
    if mask == u32::MAX {
        return vec![mangle(key.clone(), num(value))];
    }
    let kept = if mask == 0 {
        key.clone()
    } else {
        and(key.clone(), num(!mask))
    };
    let new = match value {
        // `(old & ~0) ^ 0`: nothing changes.
        0 if mask == 0 => return Vec::new(),
        0 => kept,
        _ => xor(kept, num(value)),
    };
    vec![mangle(key, new)]
}

/// xt_CONNMARK's modes.
const CONNMARK_SAVE: u8 = 1;
const CONNMARK_RESTORE: u8 = 2;

/// Whether a CONNMARK copy mixes bits of both marks, which one nf_tables
/// expression cannot (it combines a run-time value only with constants):
/// such a copy runs in the kernel's xt_CONNMARK, as iptables-nft runs it.
pub(crate) fn connmark_needs_xt(save: bool, nfmask: u32, ctmask: u32) -> bool {
    if save {
        nfmask != 0 && ctmask != u32::MAX
    } else {
        ctmask != 0 && nfmask != u32::MAX
    }
}

/// xt_CONNMARK revision 1: `struct xt_connmark_tginfo1 { __u32 ctmark,
/// ctmask, nfmask; __u8 mode; }`.
fn connmark_xt(mode: u8, nfmask: u32, ctmask: u32) -> Statement<'static> {
    let word = if mode == CONNMARK_SAVE {
        "save"
    } else {
        "restore"
    };
    super::xt::target_statement(&XtExtension::new(
        "CONNMARK",
        1,
        XtLayout::new()
            .u32(0)
            .u32(ctmask)
            .u32(nfmask)
            .u8(mode)
            .finish(),
        format!("-j CONNMARK --{word}-mark --nfmask {nfmask:#x} --ctmask {ctmask:#x}"),
    ))
}

/// `-j CONNMARK --save-mark`: `ct = (ct & ~ctmask) ^ (mark & nfmask)`.
fn save_mark(nfmask: u32, ctmask: u32) -> Statement<'static> {
    let ct_mark = || ct("mark");
    if connmark_needs_xt(true, nfmask, ctmask) {
        connmark_xt(CONNMARK_SAVE, nfmask, ctmask)
    } else if nfmask == 0 {
        mangle(ct_mark(), masked(ct_mark(), !ctmask))
    } else {
        mangle(ct_mark(), masked(meta(MetaKey::Mark), nfmask))
    }
}

/// `-j CONNMARK --restore-mark`: `mark = (mark & ~nfmask) ^ (ct & ctmask)`.
fn restore_mark(nfmask: u32, ctmask: u32) -> Statement<'static> {
    let mark = || meta(MetaKey::Mark);
    if connmark_needs_xt(false, nfmask, ctmask) {
        connmark_xt(CONNMARK_RESTORE, nfmask, ctmask)
    } else if ctmask == 0 {
        mangle(mark(), masked(mark(), !nfmask))
    } else {
        mangle(mark(), masked(ct("mark"), ctmask))
    }
}

/// `-j SYNPROXY`: `synproxy mss N wscale N timestamp sack-perm`, for TCP only.
fn synproxy(o: SynProxyOptions, cx: &Cx) -> Result<Statement<'static>, CompileError> {
    if cx.protocol() != Some(6) {
        return refuse("SYNPROXY answers TCP handshakes: the rule needs -p tcp");
    }
    let mut flags = HashSet::new();
    if o.timestamp {
        flags.insert(SynProxyFlag::Timestamp);
    }
    if o.sack_perm {
        flags.insert(SynProxyFlag::SackPerm);
    }
    Ok(Statement::SynProxy(SynProxy {
        mss: o.mss.map(u32::from),
        wscale: o.wscale.map(u32::from),
        flags: (!flags.is_empty()).then_some(flags),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{action_json, canonical, compile_json, v4, v6};
    use moat_model::{Action, LogFlags, LogLevel, MarkSet, Match, RejectKind, Rule};

    #[test]
    fn tos_sets_whole_dscp_and_ecn_parts_and_carries_the_rest() {
        let tos = |value, mask| Action::Tos { value, mask };
        let ecn = json!({"mangle": {"key": {"payload": {"protocol": "ip6", "field": "ecn"}}, "value": 2}});
        assert_eq!(action_json(tos(0x02, 0x03), v6()), json!([ecn]));
        let both = action_json(tos(0xb9, 0xff), v4());
        assert_eq!(both[0]["mangle"]["value"], json!(0x2e));
        assert_eq!(both[1]["mangle"]["value"], json!(1));
        for (value, mask) in [(0x10, 0x3f), (0x01, 0x00), (0x00, 0xf0)] {
            let rewrite = json!({"xt": {"type": "tos rewrite", "value": value, "mask": mask}});
            assert_eq!(action_json(tos(value, mask), v4()), json!([rewrite]));
        }
    }

    #[test]
    fn notrack_is_finished_into_an_object() {
        assert_eq!(
            action_json(Action::NoTrack, v4()),
            json!([{"notrack": null}])
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(action_json(Action::Continue, v4()), json!([]));
        assert_eq!(action_json(Action::Accept, v4()), json!([{"accept": null}]));
        assert_eq!(action_json(Action::Return, v4()), json!([{"return": null}]));
        assert_eq!(
            action_json(Action::Goto("x".into()), v4()),
            json!([{"goto": {"target": "x"}}])
        );
    }

    #[test]
    fn reject_kinds() {
        assert_eq!(
            action_json(Action::Reject(RejectKind::Icmp(10)), v4()),
            json!([{"reject": {"type": "icmp", "expr": "host-prohibited"}}])
        );
        assert_eq!(
            action_json(Action::Reject(RejectKind::Icmpv6(1)), v6()),
            json!([{"reject": {"type": "icmpv6", "expr": "admin-prohibited"}}])
        );
        let tcp = Rule {
            matches: vec![Match::Protocol {
                proto: 6,
                negate: false,
            }],
            ..Rule::new(Action::Reject(RejectKind::TcpReset))
        };
        assert_eq!(
            compile_json(&tcp, v4()).unwrap()[2],
            json!({"reject": {"type": "tcp reset"}})
        );
        let no_tcp = Rule::new(Action::Reject(RejectKind::TcpReset));
        assert!(compile_json(&no_tcp, v4()).is_err());
        assert!(compile_json(&Rule::new(Action::Reject(RejectKind::Icmp(3))), v6()).is_err());
        assert!(compile_json(&Rule::new(Action::Reject(RejectKind::Icmp(4))), v4()).is_err());
    }

    #[test]
    fn log_and_nflog() {
        let log = Action::Log {
            prefix: Some("drop: ".into()),
            level: LogLevel(7),
            flags: LogFlags {
                tcp_sequence: true,
                uid: true,
                ..LogFlags::default()
            },
        };
        assert_eq!(
            canonical(action_json(log, v4())),
            json!([{"log": {"prefix": "drop: ", "level": "debug", "flags": ["skuid", "tcp sequence"]}}])
        );
        let nflog = Action::NfLog {
            group: 5,
            prefix: None,
            snaplen: Some(128),
            threshold: None,
        };
        assert_eq!(
            action_json(nflog, v4()),
            json!([{"log": {"group": 5, "snaplen": 128, "queue-threshold": 1}}])
        );
    }

    #[test]
    fn marks() {
        let meta_mark = json!({"meta": {"key": "mark"}});
        assert_eq!(
            action_json(
                Action::SetMark(MarkSet {
                    value: 5,
                    mask: u32::MAX
                }),
                v4()
            ),
            json!([{"mangle": {"key": meta_mark, "value": 5}}])
        );
        assert_eq!(
            action_json(
                Action::SetMark(MarkSet {
                    value: 0x100,
                    mask: 0xff00
                }),
                v4()
            ),
            json!([{"mangle": {"key": meta_mark,
                "value": {"^": [{"&": [meta_mark, 0xffff00ffu32]}, 0x100]}}}])
        );
        let ct_mark = json!({"ct": {"key": "mark"}});
        assert_eq!(
            action_json(Action::SetConnMark(MarkSet { value: 1, mask: 0 }), v4()),
            json!([{"mangle": {"key": ct_mark, "value": {"^": [ct_mark, 1]}}}])
        );
        assert_eq!(
            action_json(
                Action::SaveMark {
                    nfmask: 0xff,
                    ctmask: u32::MAX
                },
                v4()
            ),
            json!([{"mangle": {"key": ct_mark, "value": {"&": [meta_mark, 255]}}}])
        );
        assert_eq!(
            action_json(
                Action::RestoreMark {
                    nfmask: u32::MAX,
                    ctmask: u32::MAX
                },
                v4()
            ),
            json!([{"mangle": {"key": meta_mark, "value": ct_mark}}])
        );
        // Masks that mix both marks run as xt_CONNMARK (revision 1: ctmark,
        // ctmask, nfmask, mode), which only the netlink driver writes.
        let partial = Action::SaveMark {
            nfmask: 0xff,
            ctmask: 0xff00,
        };
        assert!(super::needs_netlink(&partial));
        let xt = super::save_mark(0xff, 0xff00);
        let xt = super::super::xt::parse_statement(&xt).unwrap();
        assert_eq!((xt.name.as_str(), xt.rev, xt.target), ("CONNMARK", 1, true));
        let words: Vec<u32> = xt.info[..12]
            .chunks(4)
            .map(|w| u32::from_ne_bytes(w.try_into().unwrap()))
            .collect();
        assert_eq!(words, [0, 0xff00, 0xff]);
        assert_eq!(xt.info[12], super::CONNMARK_SAVE);
        assert!(!super::needs_netlink(&Action::SaveMark {
            nfmask: u32::MAX,
            ctmask: u32::MAX
        }));
    }
}
