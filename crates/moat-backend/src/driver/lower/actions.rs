//! Statements that are not matches: counters, verdicts, limits, logging,
//! reject, notrack, marks being set, and address translation ([`nat`]).

use moat_model::Family;
use moat_nft::rule::carried::Carried;
use nftables::expr::{BinaryOperation, Expression, MetaKey, NamedExpression};
use nftables::stmt::{
    Counter, Limit, Log, LogFlag, LogLevel, QuotaOrQuotaRef, Reject, RejectType, Statement,
};
use nftables::types::RejectCode;

use super::super::expr::{LogExpr, NlExpr};
use super::nat::{self, Local, Translate};
use super::rewrite;
use crate::netlink::consts::*;

/// The longest log prefix nf_tables keeps (NF_LOG_PREFIXLEN - 1).
const LOG_PREFIX_MAX: usize = 127;

/// The expressions of a non-match statement, or None when this driver does
/// not write it. `l4` is the layer-4 protocol the rule has established.
pub(super) fn lower(stmt: &Statement<'_>, family: Family, l4: Option<u8>) -> Option<Vec<NlExpr>> {
    let verdict = |code| vec![NlExpr::Verdict { code, chain: None }];
    let jump = |code, target: &str| {
        let ok = !target.is_empty() && !target.contains('\0');
        ok.then(|| {
            vec![NlExpr::Verdict {
                code,
                chain: Some(target.to_string()),
            }]
        })
    };
    Some(match stmt {
        Statement::Counter(Counter::Anonymous(counts)) => {
            let counts = counts.clone().unwrap_or_default();
            let wide = |n: Option<usize>| u64::try_from(n.unwrap_or(0)).unwrap_or(u64::MAX);
            vec![NlExpr::Counter {
                packets: wide(counts.packets),
                bytes: wide(counts.bytes),
            }]
        }
        Statement::Accept(_) => verdict(NF_ACCEPT),
        Statement::Drop(_) => verdict(NF_DROP),
        Statement::Continue(_) => verdict(NFT_CONTINUE),
        Statement::Return(_) => verdict(NFT_RETURN),
        Statement::Jump(t) => jump(NFT_JUMP, &t.target)?,
        Statement::Goto(t) => jump(NFT_GOTO, &t.target)?,
        Statement::Limit(limit) => vec![self::limit(limit)?],
        Statement::Quota(QuotaOrQuotaRef::Quota(quota)) if quota.used.is_none() => {
            vec![NlExpr::Quota {
                bytes: moat_nft::rule::quota_bytes(quota)?,
                inv: quota.inv == Some(true),
            }]
        }
        Statement::Log(log) => vec![NlExpr::Log(self::log(log.as_ref())?)],
        Statement::Reject(Some(reject)) => vec![self::reject(reject, family, l4)?],
        Statement::Notrack => vec![NlExpr::Notrack],
        Statement::CTHelper(name) => vec![NlExpr::ObjRef {
            ty: NFT_OBJECT_CT_HELPER,
            name: name.to_string(),
        }],
        Statement::CTTimeout(Expression::String(name)) => vec![NlExpr::ObjRef {
            ty: NFT_OBJECT_CT_TIMEOUT,
            name: name.to_string(),
        }],
        Statement::SynProxy(s) => vec![synproxy(s)?],
        Statement::Mangle(mangle) => match &mangle.key {
            Expression::Named(NamedExpression::TcpOption(_)) => {
                rewrite::tcp_option(&mangle.key, &mangle.value)?
            }
            Expression::Named(NamedExpression::Payload(_)) => {
                rewrite::payload_set(&mangle.key, &mangle.value, family)?
            }
            Expression::Named(NamedExpression::Meta(m)) if m.key != MetaKey::Mark => {
                rewrite::meta_set(&mangle.key, &mangle.value)?
            }
            Expression::Named(NamedExpression::CT(c)) if c.key == "zone" => {
                rewrite::ct_zone_set(&mangle.key, &mangle.value)?
            }
            Expression::Named(NamedExpression::CT(c)) if c.key == "event" => {
                rewrite::ct_event_set(&mangle.value)?
            }
            _ => self::mangle(&mangle.key, &mangle.value)?,
        },
        Statement::SNAT(n) => nat::translate(Translate::Snat, n.as_ref()?, family, l4)?,
        Statement::DNAT(n) => nat::translate(Translate::Dnat, n.as_ref()?, family, l4)?,
        Statement::Masquerade(n) => nat::local(Local::Masquerade, n.as_ref(), family, l4)?,
        Statement::Redirect(n) => nat::local(Local::Redirect, n.as_ref(), family, l4)?,
        Statement::XT(_) => {
            match Carried::of(stmt) {
                Some(Carried::TcpOptionReset { kind }) => {
                    return Some(vec![NlExpr::TcpOptReset { kind }])
                }
                Some(Carried::TosRewrite { value, mask }) => {
                    return Some(rewrite::tos(value, mask, family))
                }
                Some(Carried::TcpFlagsRewrite { mask, value }) => {
                    return Some(rewrite::tcp_flags(mask, value))
                }
                Some(Carried::SecMarkCopy(copy)) => return Some(rewrite::secmark_copy(copy)),
                Some(Carried::Icmpv6Reject { code }) if family == Family::Ipv6 => {
                    return Some(vec![NlExpr::Reject {
                        ty: NFT_REJECT_ICMP_UNREACH,
                        code: Some(code),
                    }])
                }
                Some(Carried::Icmpv6Reject { .. }) => return None,
                // A jump to a bound chain, which lower_rule declares.
                Some(Carried::Tproxy(_)) => return None,
                None => {}
            }
            let xt = moat_nft::rule::xt::parse_statement(stmt)?;
            if xt.target {
                vec![NlExpr::XtTarget {
                    name: xt.name,
                    rev: xt.rev,
                    info: xt.info,
                    proto: l4,
                }]
            } else {
                vec![NlExpr::XtMatch {
                    name: xt.name,
                    rev: xt.rev,
                    info: xt.info,
                    proto: l4,
                }]
            }
        }
        _ => return None,
    })
}

/// `synproxy mss N wscale N timestamp sack-perm`: as nft writes it, the
/// flags say which of mss and wscale are given.
fn synproxy(s: &nftables::stmt::SynProxy) -> Option<NlExpr> {
    use nftables::types::SynProxyFlag;
    let mss = s.mss.map(u16::try_from).transpose().ok()?;
    let wscale = s.wscale.map(u8::try_from).transpose().ok()?;
    let mut flags = 0;
    if mss.is_some() {
        flags |= NF_SYNPROXY_OPT_MSS;
    }
    if wscale.is_some() {
        flags |= NF_SYNPROXY_OPT_WSCALE;
    }
    for flag in s.flags.iter().flatten() {
        flags |= match flag {
            SynProxyFlag::SackPerm => NF_SYNPROXY_OPT_SACK_PERM,
            SynProxyFlag::Timestamp => NF_SYNPROXY_OPT_TIMESTAMP,
        };
    }
    Some(NlExpr::Synproxy { mss, wscale, flags })
}

/// `limit rate [over] N/UNIT burst B packets`.
pub(super) fn limit(limit: &Limit<'_>) -> Option<NlExpr> {
    let bytes = match (limit.rate_unit.as_deref(), limit.burst_unit.as_deref()) {
        (None | Some("packets"), None) => false,
        (Some("bytes"), Some("bytes")) => true,
        _ => return None,
    };
    let unit = match limit.per.as_deref()? {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 604_800,
        _ => return None,
    };
    Some(NlExpr::Limit {
        rate: u64::from(limit.rate),
        unit,
        burst: limit.burst?,
        bytes,
        inv: limit.inv == Some(true),
    })
}

fn level_number(level: LogLevel) -> Option<u32> {
    Some(match level {
        LogLevel::Emerg => 0,
        LogLevel::Alert => 1,
        LogLevel::Crit => 2,
        LogLevel::Err => 3,
        LogLevel::Warn => 4,
        LogLevel::Notice => 5,
        LogLevel::Info => 6,
        LogLevel::Debug => 7,
        LogLevel::Audit => return None,
    })
}

/// `log ...`: a kernel log line, or with a group an nflog message.
fn log(log: Option<&Log<'_>>) -> Option<LogExpr> {
    let Some(log) = log else {
        return Some(LogExpr::default());
    };
    let prefix = match log.prefix.as_deref() {
        Some(p) if p.len() > LOG_PREFIX_MAX || p.contains('\0') => return None,
        p => p.map(str::to_string),
    };
    let mut flags = 0;
    for flag in log.flags.iter().flatten() {
        flags |= match flag {
            LogFlag::TCPSequence => NF_LOG_TCPSEQ,
            LogFlag::TCPOptions => NF_LOG_TCPOPT,
            LogFlag::IPOptions => NF_LOG_IPOPT,
            LogFlag::Skuid => NF_LOG_UID,
            LogFlag::Ether => NF_LOG_MACDECODE,
            LogFlag::All => {
                NF_LOG_TCPSEQ | NF_LOG_TCPOPT | NF_LOG_IPOPT | NF_LOG_UID | NF_LOG_MACDECODE
            }
        };
    }
    match log.group {
        Some(group) => {
            if log.level.is_some() || flags != 0 {
                return None;
            }
            Some(LogExpr {
                prefix,
                group: Some(u16::try_from(group).ok()?),
                snaplen: log.snaplen,
                qthreshold: log.queue_threshold.map(u16::try_from).transpose().ok()?,
                ..LogExpr::default()
            })
        }
        None => {
            if log.snaplen.is_some() || log.queue_threshold.is_some() {
                return None;
            }
            let level = log
                .level
                .map(level_number)
                .map(|l| l.ok_or(()))
                .transpose()
                .ok()?;
            Some(LogExpr {
                prefix,
                level,
                flags,
                ..LogExpr::default()
            })
        }
    }
}

/// The ICMP destination-unreachable code of a reject.
fn icmp_code(code: &RejectCode) -> Option<u8> {
    Some(match code {
        RejectCode::NetUnreach => 0,
        RejectCode::HostUnreach => 1,
        RejectCode::ProtUnreach => 2,
        RejectCode::PortUnreach => 3,
        RejectCode::NetProhibited => 9,
        RejectCode::HostProhibited => 10,
        RejectCode::AdminProhibited => 13,
        _ => return None,
    })
}

/// The ICMPv6 destination-unreachable code of a reject.
fn icmpv6_code(code: &RejectCode) -> Option<u8> {
    Some(match code {
        RejectCode::NoRoute => 0,
        RejectCode::AdminProhibited => 1,
        RejectCode::AddrUnreach => 3,
        RejectCode::PortUnreach => 4,
        _ => return None,
    })
}

/// `reject with tcp reset`, `reject with icmp CODE`, `reject with icmpv6 CODE`.
fn reject(reject: &Reject, family: Family, l4: Option<u8>) -> Option<NlExpr> {
    let (ty, code) = match (reject._type?, family) {
        // nft would add `meta l4proto tcp` itself; moat's rules always have it.
        (RejectType::TCPReset, _) if l4 == Some(6) && reject.expr.is_none() => {
            (NFT_REJECT_TCP_RST, None)
        }
        (RejectType::ICMP, Family::Ipv4) => (
            NFT_REJECT_ICMP_UNREACH,
            Some(icmp_code(reject.expr.as_ref()?)?),
        ),
        (RejectType::ICMPv6, Family::Ipv6) => (
            NFT_REJECT_ICMP_UNREACH,
            Some(icmpv6_code(reject.expr.as_ref()?)?),
        ),
        _ => return None,
    };
    Some(NlExpr::Reject { ty, code })
}

/// A mark key (`meta mark`, `ct mark`): the expression that loads it and
/// the one that stores register 1 into it.
fn mark_key(expr: &Expression<'_>) -> Option<(NlExpr, NlExpr)> {
    match expr {
        Expression::Named(NamedExpression::Meta(m)) if m.key == MetaKey::Mark => Some((
            NlExpr::Meta { key: NFT_META_MARK },
            NlExpr::MetaSet { key: NFT_META_MARK },
        )),
        Expression::Named(NamedExpression::CT(ct))
            if ct.key == "mark" && ct.dir.is_none() && ct.family.is_none() =>
        {
            Some((
                NlExpr::Ct {
                    key: NFT_CT_MARK,
                    dir: None,
                },
                NlExpr::CtSet {
                    key: NFT_CT_MARK,
                    dir: None,
                },
            ))
        }
        _ => None,
    }
}

fn mark_word(expr: &Expression<'_>) -> Option<Vec<u8>> {
    match expr {
        Expression::Number(n) => Some(n.to_ne_bytes().to_vec()),
        _ => None,
    }
}

/// `KEY set VALUE` for the packet and connection marks, where VALUE is a
/// number, a mark, or a mark `& MASK`, `^ BITS` or `& MASK ^ BITS`
/// (one bitwise expression, as nft folds them).
fn mangle(key: &Expression<'_>, value: &Expression<'_>) -> Option<Vec<NlExpr>> {
    let (_, store) = mark_key(key)?;
    if let Some(word) = mark_word(value) {
        return Some(vec![
            NlExpr::Immediate {
                reg: NFT_REG_1,
                data: word,
            },
            store,
        ]);
    }
    let (source, mask, xor) = match value {
        Expression::BinaryOperation(op) => match op.as_ref() {
            BinaryOperation::AND(inner, mask) => (inner, mark_word(mask)?, vec![0; 4]),
            BinaryOperation::XOR(inner, bits) => match inner {
                Expression::BinaryOperation(inner_op) => match inner_op.as_ref() {
                    BinaryOperation::AND(source, mask) => {
                        (source, mark_word(mask)?, mark_word(bits)?)
                    }
                    _ => return None,
                },
                source => (source, vec![0xff; 4], mark_word(bits)?),
            },
            _ => return None,
        },
        source => {
            let (load, _) = mark_key(source)?;
            return Some(vec![load, store]);
        }
    };
    let (load, _) = mark_key(source)?;
    Some(vec![
        load,
        NlExpr::Bitwise {
            reg: NFT_REG_1,
            mask,
            xor,
        },
        store,
    ])
}
