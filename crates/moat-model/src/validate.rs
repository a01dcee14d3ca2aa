//! Checks a rule can pass in the place it is put, before anything reaches the kernel.

use std::net::IpAddr;

use thiserror::Error;

use crate::action::{Action, MssValue, NatSide};
use crate::matches::Match;
use crate::ruleset::{Family, Hook, Rule, Stage};
use crate::xt::XtExtension;

/// Why a rule cannot work where it was put.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    /// An input-interface match at a hook whose packets have no input interface.
    #[error("{hook} packets have no input interface, so an input-interface match can never be true there")]
    NoInputInterface { hook: String },
    /// An output-interface match at a hook whose packets have no output interface yet.
    #[error("{hook} packets have no output interface yet, so an output-interface match can never be true there")]
    NoOutputInterface { hook: String },
    /// An address of the other family.
    #[error("address {addr} is not an {family} address")]
    WrongFamily { addr: String, family: &'static str },
    /// An action that is only allowed at some hooks.
    #[error("{action} is only valid in {allowed}")]
    WrongPlace {
        action: &'static str,
        allowed: &'static str,
    },
    /// A match that is only allowed at some hooks.
    #[error("{what} can only be tested in {allowed}")]
    MatchWrongPlace {
        what: &'static str,
        allowed: &'static str,
    },
    /// An xtables extension used where its kernel module refuses to work.
    #[error("{text}: the kernel's {name} module only works in {allowed}")]
    XtWrongPlace {
        text: String,
        name: String,
        allowed: String,
    },
    /// A CT action with several settings that holds fewer than two, or
    /// something other than a zone, helper, event mask or timeout policy.
    #[error("a CT target with several settings needs two or more of --zone, --helper, --ctevents and --timeout")]
    BadCtSettings,
}

impl RuleError {
    /// Whether iptables learns of it only when the kernel refuses the rule
    /// (a target or match where its module does not work), as against a
    /// check of its own command line (interfaces, addresses).
    pub fn found_by_kernel(&self) -> bool {
        matches!(
            self,
            RuleError::WrongPlace { .. }
                | RuleError::MatchWrongPlace { .. }
                | RuleError::XtWrongPlace { .. }
        )
    }
}

/// Checks an xtables extension is in its table and reached only from its
/// hooks, and, in a built-in chain (`base_chain`), from the hooks its
/// module takes as the rule is added.
fn check_xt(
    ext: &XtExtension,
    stage: Stage,
    hooks: &[Hook],
    base_chain: bool,
) -> Result<(), RuleError> {
    let table_ok = ext.stage.is_none_or(|s| s == stage);
    let within = |allowed: &[Hook]| allowed.is_empty() || hooks.iter().all(|h| allowed.contains(h));
    let limit = if within(&ext.hooks) && base_chain && !within(&ext.builtin_hooks) {
        &ext.builtin_hooks
    } else {
        &ext.hooks
    };
    if table_ok && within(limit) {
        return Ok(());
    }
    let chains: Vec<String> = limit.iter().map(|&h| hook_name(h)).collect();
    let allowed = match (ext.stage, chains.is_empty()) {
        (Some(s), true) => format!("the {} table", s.name()),
        (Some(s), false) => format!("the {} table's {} chains", s.name(), chains.join(", ")),
        (None, _) => format!("the {} chains", chains.join(", ")),
    };
    Err(RuleError::XtWrongPlace {
        text: ext.text.clone(),
        name: ext.name.clone(),
        allowed,
    })
}

fn hook_name(hook: Hook) -> String {
    crate::ruleset::hook_chain_name(hook).to_string()
}

fn check_family(addr: IpAddr, family: Family) -> Result<(), RuleError> {
    match (addr, family) {
        (IpAddr::V4(_), Family::Ipv4) | (IpAddr::V6(_), Family::Ipv6) => Ok(()),
        (_, Family::Ipv4) => Err(RuleError::WrongFamily {
            addr: addr.to_string(),
            family: "IPv4",
        }),
        (_, Family::Ipv6) => Err(RuleError::WrongFamily {
            addr: addr.to_string(),
            family: "IPv6",
        }),
    }
}

/// Checks that `rule` can work in a chain of `stage` in `family`.
///
/// `hooks` are the hooks whose packets can reach the chain: one for a base
/// chain, possibly none for a user chain nothing jumps to yet. As in
/// iptables, an interface the hook's packets cannot have is refused in a
/// built-in chain only (`base_chain`): a user chain may be reached from
/// several hooks (Docker's DOCKER chain from PREROUTING and OUTPUT), and its
/// `-i` then matches the packets that have one. The kernel's own hook limits
/// (MAC addresses, REJECT, NAT) hold wherever the chain is reached from.
pub fn validate_rule(
    rule: &Rule,
    family: Family,
    stage: Stage,
    hooks: &[Hook],
    base_chain: bool,
) -> Result<(), RuleError> {
    for m in &rule.matches {
        validate_match(m, family, hooks, base_chain)?;
        match m {
            Match::Xt(ext) => check_xt(ext, stage, hooks, base_chain)?,
            Match::RpFilter { .. } if !matches!(stage, Stage::Raw | Stage::Mangle) => {
                return Err(RuleError::MatchWrongPlace {
                    what: "the reverse path",
                    allowed: "the raw and mangle tables' PREROUTING chains",
                })
            }
            _ => {}
        }
    }
    validate_action(&rule.action, family, stage, hooks, base_chain)
}

fn validate_match(
    m: &Match,
    family: Family,
    hooks: &[Hook],
    base_chain: bool,
) -> Result<(), RuleError> {
    match m {
        Match::SourceNet { net, .. } | Match::DestNet { net, .. } => {
            check_family(net.addr(), family)
        }
        Match::AddrMask { addr, mask, .. } => {
            check_family(*addr, family)?;
            check_family(*mask, family)
        }
        Match::SourceRange { from, to, .. } | Match::DestRange { from, to, .. } => {
            check_family(*from, family)?;
            check_family(*to, family)
        }
        Match::ConnAddr { net, .. } => check_family(net.addr(), family),
        Match::InInterface { .. } if base_chain => {
            match hooks.iter().find(|h| !h.has_input_interface()) {
                Some(&h) => Err(RuleError::NoInputInterface { hook: hook_name(h) }),
                None => Ok(()),
            }
        }
        Match::OutInterface { .. } if base_chain => {
            match hooks.iter().find(|h| !h.has_output_interface()) {
                Some(&h) => Err(RuleError::NoOutputInterface { hook: hook_name(h) }),
                None => Ok(()),
            }
        }
        Match::SourceMac { .. } => {
            if hooks
                .iter()
                .all(|h| matches!(h, Hook::Prerouting | Hook::Input | Hook::Forward))
            {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the source MAC address",
                    allowed: "PREROUTING, INPUT and FORWARD",
                })
            }
        }
        // xt_devgroup checks its hooks as the rule is added, so iptables
        // takes it in a user chain whatever reaches it (nf_tables then finds
        // no interface, and no group, where there is none).
        Match::DeviceGroup { .. } if !base_chain => Ok(()),
        Match::DeviceGroup { output: false, .. } => {
            if hooks.iter().all(|h| h.has_input_interface()) {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the input interface's group",
                    allowed: "PREROUTING, INPUT and FORWARD",
                })
            }
        }
        Match::DeviceGroup { output: true, .. } => {
            if hooks.iter().all(|h| h.has_output_interface()) {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the output interface's group",
                    allowed: "FORWARD, OUTPUT and POSTROUTING",
                })
            }
        }
        Match::AddrType {
            limit_iface_in: true,
            ..
        } if !hooks.iter().all(|h| h.has_input_interface()) => Err(RuleError::MatchWrongPlace {
            what: "an address type on the input interface (--limit-iface-in)",
            allowed: "PREROUTING, INPUT and FORWARD",
        }),
        Match::AddrType {
            limit_iface_out: true,
            ..
        } if !hooks.iter().all(|h| h.has_output_interface()) => Err(RuleError::MatchWrongPlace {
            what: "an address type on the output interface (--limit-iface-out)",
            allowed: "FORWARD, OUTPUT and POSTROUTING",
        }),
        Match::Realm { .. } => {
            if hooks.iter().all(|h| *h != Hook::Prerouting) {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the route's realm",
                    allowed: "INPUT, FORWARD, OUTPUT and POSTROUTING (after routing)",
                })
            }
        }
        Match::RpFilter { .. } => {
            if hooks.iter().all(|h| *h == Hook::Prerouting) {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the reverse path",
                    allowed: "PREROUTING (of the raw and mangle tables)",
                })
            }
        }
        Match::SocketUid { .. } | Match::SocketGid { .. } => {
            if hooks
                .iter()
                .all(|h| matches!(h, Hook::Output | Hook::Postrouting))
            {
                Ok(())
            } else {
                Err(RuleError::MatchWrongPlace {
                    what: "the sending socket's owner",
                    allowed: "OUTPUT and POSTROUTING",
                })
            }
        }
        _ => Ok(()),
    }
}

fn validate_action(
    action: &Action,
    family: Family,
    stage: Stage,
    hooks: &[Hook],
    base_chain: bool,
) -> Result<(), RuleError> {
    let all_in = |allowed: &[Hook]| hooks.iter().all(|h| allowed.contains(h));
    let only_in = |table: Stage, action: &'static str, allowed: &'static str| {
        if stage == table {
            Ok(())
        } else {
            Err(RuleError::WrongPlace { action, allowed })
        }
    };
    match action {
        // The kernel's REJECT target works in the filter table only.
        Action::Reject(_) => {
            if stage == Stage::Filter && all_in(&[Hook::Input, Hook::Forward, Hook::Output]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "REJECT",
                    allowed: "the filter table's INPUT, FORWARD and OUTPUT chains",
                })
            }
        }
        Action::Dnat(t) => {
            if let Some((a, b)) = t.addrs {
                check_family(a, family)?;
                check_family(b, family)?;
            }
            if stage == Stage::Nat && all_in(&[Hook::Prerouting, Hook::Output]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "DNAT",
                    allowed: "the nat table's PREROUTING and OUTPUT chains",
                })
            }
        }
        Action::Redirect { .. } => {
            if stage == Stage::Nat && all_in(&[Hook::Prerouting, Hook::Output]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "REDIRECT",
                    allowed: "the nat table's PREROUTING and OUTPUT chains",
                })
            }
        }
        Action::Snat(t) => {
            if let Some((a, b)) = t.addrs {
                check_family(a, family)?;
                check_family(b, family)?;
            }
            if stage == Stage::Nat && all_in(&[Hook::Postrouting, Hook::Input]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "SNAT",
                    allowed: "the nat table's POSTROUTING and INPUT chains",
                })
            }
        }
        Action::Masquerade { .. } => {
            if stage == Stage::Nat && all_in(&[Hook::Postrouting]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "MASQUERADE",
                    allowed: "the nat table's POSTROUTING chain",
                })
            }
        }
        Action::NoTrack => only_in(Stage::Raw, "NOTRACK", "the raw table"),
        Action::CtZone { .. }
        | Action::CtZoneFromMark { .. }
        | Action::CtHelper { .. }
        | Action::CtEvents { .. }
        | Action::CtTimeout { .. } => only_in(Stage::Raw, "CT", "the raw table"),
        Action::CtSeveral(parts) => {
            if parts.len() < 2 || !parts.iter().all(is_single_ct_setting) {
                return Err(RuleError::BadCtSettings);
            }
            only_in(Stage::Raw, "CT", "the raw table")
        }
        Action::TcpOptStrip(_) => only_in(Stage::Mangle, "TCPOPTSTRIP", "the mangle table"),
        Action::Ecn(_) if family == Family::Ipv6 => Err(RuleError::WrongPlace {
            action: "ECN",
            allowed: "IPv4 tables",
        }),
        Action::Ecn(_) => only_in(Stage::Mangle, "ECN", "the mangle table"),
        Action::ChecksumFill => only_in(Stage::Mangle, "CHECKSUM", "the mangle table"),
        Action::IpSetUpdate(_) => Ok(()),
        Action::ConnSecMark(_) => match stage {
            Stage::Mangle | Stage::Security => Ok(()),
            _ => Err(RuleError::WrongPlace {
                action: "CONNSECMARK",
                allowed: "the mangle and security tables",
            }),
        },
        Action::Tproxy(t) => {
            check_family(t.addr, family)?;
            if stage == Stage::Mangle && all_in(&[Hook::Prerouting]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "TPROXY",
                    allowed: "the mangle table's PREROUTING chain",
                })
            }
        }
        // The kernel's SYNPROXY target works at these hooks in any table.
        Action::SynProxy(_) => {
            if all_in(&[Hook::Input, Hook::Forward]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "SYNPROXY",
                    allowed: "the INPUT and FORWARD chains",
                })
            }
        }
        Action::TcpMss(MssValue::PathMtu) => {
            if all_in(&[Hook::Forward, Hook::Output, Hook::Postrouting]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "TCPMSS --clamp-mss-to-pmtu",
                    allowed:
                        "the FORWARD, OUTPUT and POSTROUTING chains (packets there have a route)",
                })
            }
        }
        Action::Dscp(_) if stage != Stage::Mangle => Err(RuleError::WrongPlace {
            action: "DSCP",
            allowed: "the mangle table",
        }),
        Action::Tos { .. } if stage != Stage::Mangle => Err(RuleError::WrongPlace {
            action: "TOS",
            allowed: "the mangle table",
        }),
        Action::Ttl(_) | Action::HopLimit(_) => {
            let (name, own) = match action {
                Action::Ttl(_) => ("TTL", Family::Ipv4),
                _ => ("HL", Family::Ipv6),
            };
            if family != own {
                Err(RuleError::WrongPlace {
                    action: name,
                    allowed: if own == Family::Ipv4 {
                        "IPv4 tables (ip6tables uses HL)"
                    } else {
                        "IPv6 tables (iptables uses TTL)"
                    },
                })
            } else if stage != Stage::Mangle {
                Err(RuleError::WrongPlace {
                    action: name,
                    allowed: "the mangle table",
                })
            } else {
                Ok(())
            }
        }
        Action::Xt(ext) => check_xt(ext, stage, hooks, base_chain),
        Action::Classify(_) => {
            if all_in(&[Hook::Output, Hook::Forward, Hook::Postrouting]) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "CLASSIFY",
                    allowed: "the OUTPUT, FORWARD and POSTROUTING chains",
                })
            }
        }
        Action::Netmap { to, side } => {
            check_family(to.addr(), family)?;
            let (allowed, what) = match side {
                NatSide::Destination => (
                    &[Hook::Prerouting, Hook::Output],
                    "the nat table's PREROUTING and OUTPUT chains (where it maps destinations) or POSTROUTING and INPUT chains (sources), not both",
                ),
                NatSide::Source => (
                    &[Hook::Postrouting, Hook::Input],
                    "the nat table's POSTROUTING and INPUT chains (where it maps sources) or PREROUTING and OUTPUT chains (destinations), not both",
                ),
            };
            if stage != Stage::Nat {
                Err(RuleError::WrongPlace {
                    action: "NETMAP",
                    allowed: "the nat table",
                })
            } else if all_in(allowed) {
                Ok(())
            } else {
                Err(RuleError::WrongPlace {
                    action: "NETMAP",
                    allowed: what,
                })
            }
        }
        _ => Ok(()),
    }
}

/// Whether `action` is one of the CT target's settings that
/// [`Action::CtSeveral`] combines.
fn is_single_ct_setting(action: &Action) -> bool {
    matches!(
        action,
        Action::CtZone { .. }
            | Action::CtZoneFromMark { .. }
            | Action::CtHelper { .. }
            | Action::CtEvents { .. }
            | Action::CtTimeout { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matches::Iface;

    fn iface_rule(input: bool) -> Rule {
        let iface = Iface {
            name: "eth1".into(),
            wildcard: false,
        };
        let m = if input {
            Match::InInterface {
                iface,
                negate: false,
            }
        } else {
            Match::OutInterface {
                iface,
                negate: false,
            }
        };
        Rule {
            matches: vec![m],
            ..Rule::new(Action::Accept)
        }
    }

    #[test]
    fn input_interface_is_refused_in_output() {
        let err = validate_rule(
            &iface_rule(true),
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Output],
            true,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("OUTPUT packets have no input interface"),
            "{err}"
        );
        assert!(validate_rule(
            &iface_rule(true),
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Input],
            true
        )
        .is_ok());
    }

    #[test]
    fn user_chains_take_interfaces_from_every_hook() {
        let hooks = [Hook::Prerouting, Hook::Output];
        for input in [true, false] {
            assert!(
                validate_rule(&iface_rule(input), Family::Ipv4, Stage::Nat, &hooks, false).is_ok()
            );
        }
    }

    #[test]
    fn output_interface_is_refused_in_input() {
        assert!(validate_rule(
            &iface_rule(false),
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Input],
            true
        )
        .is_err());
        assert!(validate_rule(
            &iface_rule(false),
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Forward],
            true
        )
        .is_ok());
    }

    #[test]
    fn socket_owner_only_where_local_packets_leave() {
        let rule = Rule {
            matches: vec![Match::SocketUid {
                min: 0,
                max: 0,
                negate: false,
            }],
            ..Rule::new(Action::Drop)
        };
        let at = |hooks: &[Hook]| validate_rule(&rule, Family::Ipv4, Stage::Filter, hooks, false);
        assert!(at(&[Hook::Output]).is_ok());
        assert!(at(&[Hook::Output, Hook::Postrouting]).is_ok());
        let err = at(&[Hook::Output, Hook::Input]).unwrap_err();
        assert!(err.to_string().contains("OUTPUT and POSTROUTING"), "{err}");
        assert!(at(&[Hook::Forward]).is_err());
    }

    #[test]
    fn interface_groups_only_where_the_interface_is_known() {
        let rule = |output| Rule {
            matches: vec![Match::DeviceGroup {
                output,
                value: 1,
                mask: u32::MAX,
                negate: false,
            }],
            ..Rule::new(Action::Drop)
        };
        let at =
            |output, hook| validate_rule(&rule(output), Family::Ipv4, Stage::Filter, &[hook], true);
        assert!(at(false, Hook::Forward).is_ok());
        assert!(at(false, Hook::Output).is_err());
        assert!(at(true, Hook::Postrouting).is_ok());
        let err = at(true, Hook::Input).unwrap_err();
        assert!(
            err.to_string().contains("output interface's group"),
            "{err}"
        );
        // In a user chain, as xt_devgroup under iptables-nft, whatever
        // reaches it.
        let user_chain = validate_rule(
            &rule(true),
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Input],
            false,
        );
        assert!(user_chain.is_ok());
    }

    /// The kernel's xt_addrtype refuses an interface limit where packets
    /// lack that interface, in either family (an IPv6 class test never
    /// reaches its route lookup, so nothing else would say so).
    #[test]
    fn address_types_limited_to_an_interface_where_it_exists() {
        let rule = |limit_iface_in| Rule {
            matches: vec![Match::AddrType {
                src: None,
                dst: Some((crate::AddrTypes(32), false)),
                limit_iface_in,
                limit_iface_out: !limit_iface_in,
            }],
            ..Rule::new(Action::Accept)
        };
        let at = |input, hooks: &[Hook]| {
            validate_rule(&rule(input), Family::Ipv6, Stage::Nat, hooks, false)
        };
        assert!(at(true, &[Hook::Prerouting, Hook::Input]).is_ok());
        let err = at(true, &[Hook::Prerouting, Hook::Postrouting]).unwrap_err();
        assert!(err.to_string().contains("--limit-iface-in"), "{err}");
        assert!(at(false, &[Hook::Output, Hook::Postrouting]).is_ok());
        assert!(at(false, &[Hook::Prerouting]).is_err());
    }

    #[test]
    fn ipv6_address_in_ipv4_table_is_refused() {
        let rule = Rule {
            matches: vec![Match::SourceNet {
                net: "2001:db8::/32".parse().unwrap(),
                negate: false,
            }],
            ..Rule::new(Action::Drop)
        };
        assert!(validate_rule(&rule, Family::Ipv4, Stage::Filter, &[Hook::Input], true).is_err());
        assert!(validate_rule(&rule, Family::Ipv6, Stage::Filter, &[Hook::Input], true).is_ok());
    }

    #[test]
    fn masquerade_only_in_postrouting() {
        let rule = Rule::new(Action::Masquerade {
            ports: None,
            random: false,
            fully_random: false,
        });
        assert!(validate_rule(&rule, Family::Ipv4, Stage::Nat, &[Hook::Prerouting], true).is_err());
        assert!(validate_rule(
            &rule,
            Family::Ipv4,
            Stage::Filter,
            &[Hook::Postrouting],
            true
        )
        .is_err());
        assert!(validate_rule(&rule, Family::Ipv4, Stage::Nat, &[Hook::Postrouting], true).is_ok());
    }

    #[test]
    fn mss_clamping_needs_a_route() {
        let rule = Rule::new(Action::TcpMss(MssValue::PathMtu));
        for hook in [Hook::Prerouting, Hook::Input] {
            assert!(validate_rule(&rule, Family::Ipv4, Stage::Mangle, &[hook], true).is_err());
        }
        for hook in [Hook::Forward, Hook::Output, Hook::Postrouting] {
            assert!(validate_rule(&rule, Family::Ipv6, Stage::Mangle, &[hook], true).is_ok());
        }
        let fixed = Rule::new(Action::TcpMss(MssValue::Fixed(1400)));
        assert!(validate_rule(&fixed, Family::Ipv4, Stage::Mangle, &[Hook::Input], true).is_ok());
    }

    #[test]
    fn netmap_maps_one_side_per_chain() {
        let netmap = |hooks: &[Hook]| {
            let mut rule = Rule::new(Action::Netmap {
                to: "10.2.0.0/24".parse().unwrap(),
                side: NatSide::Destination,
            });
            assert!(rule.action.depends_on_hooks());
            rule.action.place(hooks);
            validate_rule(&rule, Family::Ipv4, Stage::Nat, hooks, false).map(|_| rule.action)
        };
        assert!(!Action::Accept.depends_on_hooks());
        let side = |a: Action| match a {
            Action::Netmap { side, .. } => side,
            _ => unreachable!(),
        };
        assert_eq!(
            netmap(&[Hook::Prerouting, Hook::Output]).map(side),
            Ok(NatSide::Destination)
        );
        assert_eq!(
            netmap(&[Hook::Postrouting, Hook::Input]).map(side),
            Ok(NatSide::Source)
        );
        let err = netmap(&[Hook::Prerouting, Hook::Postrouting]).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let rule = Rule::new(Action::Netmap {
            to: "10.2.0.0/24".parse().unwrap(),
            side: NatSide::Destination,
        });
        assert!(validate_rule(
            &rule,
            Family::Ipv4,
            Stage::Mangle,
            &[Hook::Prerouting],
            true
        )
        .is_err());
        assert!(validate_rule(&rule, Family::Ipv6, Stage::Nat, &[Hook::Prerouting], true).is_err());
    }

    #[test]
    fn classify_only_on_the_way_out() {
        let rule = Rule::new(Action::Classify(0x10002));
        assert!(validate_rule(&rule, Family::Ipv4, Stage::Mangle, &[Hook::Input], true).is_err());
        assert!(validate_rule(&rule, Family::Ipv4, Stage::Filter, &[Hook::Forward], true).is_ok());
    }

    #[test]
    fn ttl_and_hl_only_in_mangle_of_their_family() {
        let ttl = Rule::new(Action::Ttl(crate::TtlOp::Set(64)));
        let hl = Rule::new(Action::HopLimit(crate::TtlOp::Dec(1)));
        let at = |rule: &Rule, family, stage| {
            validate_rule(rule, family, stage, &[Hook::Prerouting], true).is_ok()
        };
        assert!(at(&ttl, Family::Ipv4, Stage::Mangle));
        assert!(!at(&ttl, Family::Ipv4, Stage::Filter));
        assert!(!at(&ttl, Family::Ipv6, Stage::Mangle));
        assert!(at(&hl, Family::Ipv6, Stage::Mangle));
        assert!(!at(&hl, Family::Ipv6, Stage::Raw));
    }
}
