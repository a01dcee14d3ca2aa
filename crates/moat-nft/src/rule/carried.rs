//! Statements nf_tables has that the `nftables` crate cannot express, each
//! carried as moat's own tagged object inside the crate's xtables
//! statement (as xtables extensions are, see [`super::xt`]) for the
//! netlink driver to lower; the `nft` driver cannot send such a rule.
//!
//! - TCPOPTSTRIP is `reset tcp option KIND`, which overwrites an option of
//!   that kind with no-op options and fixes the checksum;
//! - a TOS change that keeps some bits of the DSCP or ECN part (the
//!   symbolic `--set-tos Minimize-Delay` is `0x10/0x3f`, `--or-tos`,
//!   `--xor-tos`) is the TOS byte (IPv6 traffic class) loaded, combined as
//!   `(byte & !mask) ^ value` and written back with the header checksum
//!   updated, which nft 1.0.6 cannot write; ECN's change of the TCP ECE
//!   and CWR flags is the same on the TCP header's flags byte;
//! - ip6tables' REJECT --reject-with icmp6-policy-fail / icmp6-reject-route
//!   is `reject with icmpv6 policy-fail` / `reject-route`, codes the crate's
//!   reject statement has no name for;
//! - CONNSECMARK is `ct secmark set meta secmark` (`meta secmark set ct
//!   secmark`) behind tests that the target's side is unmarked and the
//!   other marked, which nft 1.0.6 cannot write (it compares security
//!   marks with no constants);
//! - TPROXY is a jump to a chain bound to the rule: `jump { tproxy to
//!   ADDR:PORT meta mark set ... accept; drop }`, since nf_tables' tproxy
//!   goes on to the next rule when no socket takes the packet, where
//!   xt_TPROXY drops it.

use std::net::IpAddr;

use moat_model::{SecMarkCopy, TproxyTarget};
use nftables::stmt::Statement;
use serde_json::{json, Value};

/// The tag of a TCP option reset.
const TCP_OPTION_RESET: &str = "tcp option reset";
/// The tag of a TOS rewrite.
const TOS_REWRITE: &str = "tos rewrite";
/// The tag of a TCP flags rewrite.
const TCP_FLAGS_REWRITE: &str = "tcp flags rewrite";
/// The tag of an ICMPv6 reject.
const ICMPV6_REJECT: &str = "icmpv6 reject";
/// The tag of a TPROXY hand-over.
const TPROXY: &str = "tproxy";
/// The tag of a security mark copy.
const SECMARK_COPY: &str = "secmark copy";

/// A statement carried as moat's own object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Overwrite the TCP option of this kind with no-ops.
    TcpOptionReset {
        /// The option kind.
        kind: u8,
    },
    /// The TOS byte (IPv6 traffic class) becomes `(byte & !mask) ^ value`.
    TosRewrite {
        /// The bits set (or flipped outside `mask`).
        value: u8,
        /// The bits replaced.
        mask: u8,
    },
    /// The TCP flags byte becomes `(byte & mask) ^ value`.
    TcpFlagsRewrite {
        /// The bits kept.
        mask: u8,
        /// The bits then flipped.
        value: u8,
    },
    /// Refuse the packet with an ICMPv6 destination-unreachable of this code.
    Icmpv6Reject {
        /// The code (5 policy-fail, 6 reject-route).
        code: u8,
    },
    /// Hand the packet to a transparent socket and accept it, else drop it.
    Tproxy(TproxyTarget),
    /// Copy a security mark between the packet and its connection.
    SecMarkCopy(SecMarkCopy),
}

impl Carried {
    /// The statement that carries it.
    pub(super) fn statement(self) -> Statement<'static> {
        Statement::XT(Some(match self {
            Carried::TcpOptionReset { kind } => json!({ "type": TCP_OPTION_RESET, "kind": kind }),
            Carried::TosRewrite { value, mask } => {
                json!({ "type": TOS_REWRITE, "value": value, "mask": mask })
            }
            Carried::TcpFlagsRewrite { mask, value } => {
                json!({ "type": TCP_FLAGS_REWRITE, "mask": mask, "value": value })
            }
            Carried::Icmpv6Reject { code } => json!({ "type": ICMPV6_REJECT, "code": code }),
            Carried::Tproxy(t) => json!({
                "type": TPROXY,
                "addr": t.addr.to_string(),
                "port": t.port,
                "mark": t.mark,
                "mask": t.mask,
            }),
            Carried::SecMarkCopy(copy) => json!({ "type": SECMARK_COPY, "to": copy.word() }),
        }))
    }

    /// What `stmt` carries, if it is one of these.
    pub fn of(stmt: &Statement<'_>) -> Option<Carried> {
        let Statement::XT(Some(object)) = stmt else {
            return None;
        };
        let number = |name: &str| object.get(name).and_then(Value::as_u64);
        let byte = |name: &str| u8::try_from(number(name)?).ok();
        let word = |name: &str| u32::try_from(number(name)?).ok();
        match object.get("type")?.as_str()? {
            TCP_OPTION_RESET => Some(Carried::TcpOptionReset {
                kind: byte("kind")?,
            }),
            TOS_REWRITE => Some(Carried::TosRewrite {
                value: byte("value")?,
                mask: byte("mask")?,
            }),
            TCP_FLAGS_REWRITE => Some(Carried::TcpFlagsRewrite {
                mask: byte("mask")?,
                value: byte("value")?,
            }),
            ICMPV6_REJECT => Some(Carried::Icmpv6Reject {
                code: byte("code")?,
            }),
            TPROXY => Some(Carried::Tproxy(TproxyTarget {
                addr: object.get("addr")?.as_str()?.parse::<IpAddr>().ok()?,
                port: u16::try_from(number("port")?).ok()?,
                mark: word("mark")?,
                mask: word("mask")?,
            })),
            SECMARK_COPY => Some(Carried::SecMarkCopy(match object.get("to")?.as_str()? {
                "save" => SecMarkCopy::Save,
                "restore" => SecMarkCopy::Restore,
                _ => return None,
            })),
            _ => None,
        }
    }
}

/// The statements of `-j TCPOPTSTRIP --strip-options KINDS`: one reset per kind.
pub(super) fn strip_statements(kinds: &[u8]) -> Vec<Statement<'static>> {
    kinds
        .iter()
        .map(|&kind| Carried::TcpOptionReset { kind }.statement())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_carried_statement_is_read_back_as_itself() {
        let stmts = strip_statements(&[4, 8]);
        let kinds: Vec<Option<Carried>> = stmts.iter().map(Carried::of).collect();
        assert_eq!(
            kinds,
            vec![
                Some(Carried::TcpOptionReset { kind: 4 }),
                Some(Carried::TcpOptionReset { kind: 8 })
            ]
        );
        let tos = Carried::TosRewrite {
            value: 0x10,
            mask: 0x3f,
        };
        assert_eq!(Carried::of(&tos.statement()), Some(tos));
        let flags = Carried::TcpFlagsRewrite {
            mask: 0x3f,
            value: 0x80,
        };
        assert_eq!(Carried::of(&flags.statement()), Some(flags));
        let reject = Carried::Icmpv6Reject { code: 6 };
        assert_eq!(Carried::of(&reject.statement()), Some(reject));
        let tproxy = Carried::Tproxy(TproxyTarget {
            addr: "::1".parse().unwrap(),
            port: 3128,
            mark: 1,
            mask: u32::MAX,
        });
        assert_eq!(Carried::of(&tproxy.statement()), Some(tproxy));
        for copy in [SecMarkCopy::Save, SecMarkCopy::Restore] {
            let carried = Carried::SecMarkCopy(copy);
            assert_eq!(Carried::of(&carried.statement()), Some(carried));
        }
        assert_eq!(Carried::of(&Statement::Accept(None)), None);
        let xt = Statement::XT(Some(json!({ "type": "target", "name": "AUDIT" })));
        assert_eq!(Carried::of(&xt), None);
        let damaged = Statement::XT(Some(
            json!({ "type": TOS_REWRITE, "value": 300, "mask": 1 }),
        ));
        assert_eq!(Carried::of(&damaged), None);
    }
}
