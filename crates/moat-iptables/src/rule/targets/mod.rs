//! Targets (`-j NAME` / `-g CHAIN`): each one's options, `-S` and `-L` text and lowering.

mod checksum;
mod classify;
mod connsecmark;
mod ct;
mod dscp;
mod ecn;
mod hmark;
mod log;
mod mark;
mod nat;
mod netmap;
mod queue;
mod rateest;
mod reject;
mod set;
mod synproxy;
mod tcpmss;
mod tcpoptstrip;
mod tos;
mod tproxy;
mod trace;
mod ttl;
mod xt;

use moat_model::{Action, Family};

use super::error::{fail, Res};
use super::ext::{Cx, Extension, Opt};
use super::options::OptDef;

use nat::{Nat, NatKind};

/// The built-in verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// ACCEPT.
    Accept,
    /// DROP.
    Drop,
    /// RETURN.
    Return,
}

/// The target of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetSpec {
    /// ACCEPT, DROP or RETURN.
    Verdict(Verdict),
    /// A user-defined chain: `-j NAME`, or `-g NAME` when `goto`.
    Chain {
        /// The chain.
        name: String,
        /// Whether the rule uses `-g`.
        goto: bool,
    },
    /// REJECT.
    Reject(reject::Reject),
    /// LOG.
    Log(log::Log),
    /// NFLOG.
    NfLog(log::NfLog),
    /// MARK or CONNMARK.
    Mark(mark::MarkTarget),
    /// NOTRACK or CT.
    Ct(ct::CtTarget),
    /// SNAT, DNAT, MASQUERADE or REDIRECT.
    Nat(Nat),
    /// TCPMSS.
    TcpMss(tcpmss::TcpMss),
    /// TCPOPTSTRIP.
    TcpOptStrip(tcpoptstrip::TcpOptStrip),
    /// TRACE.
    Trace(trace::Trace),
    /// SYNPROXY.
    SynProxy(synproxy::SynProxy),
    /// NETMAP.
    Netmap(netmap::Netmap),
    /// NFQUEUE.
    Queue(queue::Queue),
    /// CLASSIFY.
    Classify(classify::Classify),
    /// TTL or HL.
    Ttl(ttl::Ttl),
    /// DSCP.
    Dscp(dscp::Dscp),
    /// TOS.
    Tos(tos::Tos),
    /// AUDIT.
    Audit(xt::Audit),
    /// IDLETIMER.
    IdleTimer(xt::IdleTimer),
    /// RATEEST.
    RateEst(rateest::RateEstTarget),
    /// TEE.
    Tee(xt::Tee),
    /// HMARK.
    Hmark(hmark::Hmark),
    /// TPROXY.
    Tproxy(tproxy::Tproxy),
    /// ECN (IPv4).
    Ecn(ecn::Ecn),
    /// CHECKSUM (kept and counted; nf_tables cannot fill in checksums).
    Checksum(checksum::Checksum),
    /// CONNSECMARK.
    ConnSecMark(connsecmark::ConnSecMark),
    /// SET (the kernel's ipsets).
    Set(set::SetTarget),
}

/// Targets moat supports, for suggestions.
pub(crate) const SUPPORTED: &[&str] = &[
    "ACCEPT",
    "DROP",
    "RETURN",
    "REJECT",
    "LOG",
    "NFLOG",
    "MARK",
    "CONNMARK",
    "NOTRACK",
    "CT",
    "SNAT",
    "DNAT",
    "MASQUERADE",
    "REDIRECT",
    "TCPMSS",
    "TCPOPTSTRIP",
    "TRACE",
    "NETMAP",
    "NFQUEUE",
    "CLASSIFY",
    "TTL",
    "HL",
    "DSCP",
    "TOS",
    "SYNPROXY",
    "AUDIT",
    "IDLETIMER",
    "TEE",
    "HMARK",
    "TPROXY",
    "ECN",
    "CHECKSUM",
    "RATEEST",
    "CONNSECMARK",
    "SET",
];

/// Target extensions iptables has that moat does not support.
const UNSUPPORTED: &[&str] = &[
    "CLUSTERIP",
    "DNPT",
    "LED",
    "QUEUE",
    "SECMARK",
    "SNPT",
    "ULOG",
];

/// The longest chain name iptables accepts.
const MAX_CHAIN_NAME: usize = 28;

/// Checks a user chain name given to `-j`/`-g` (whether the chain exists,
/// and which target a missing one may be a misspelling of, is known only
/// with the table: OpenWrt names a chain `reject`, so `-j reject` may be
/// right).
fn check_chain_name(name: &str, opt: &str) -> Res<()> {
    if name.is_empty() {
        return fail(format!("{opt} needs a target or chain name"));
    }
    if name.starts_with('-') || name == "!" {
        return fail(format!(
            "{opt} needs a target or chain name, not \"{name}\""
        ));
    }
    if name.len() > MAX_CHAIN_NAME {
        return fail(format!(
            "{opt}: chain name \"{name}\" is longer than {MAX_CHAIN_NAME} characters"
        ));
    }
    Ok(())
}

macro_rules! each_ext {
    ($value:expr, $t:ident => $body:expr, $none:expr) => {
        match $value {
            TargetSpec::Reject($t) => $body,
            TargetSpec::Log($t) => $body,
            TargetSpec::NfLog($t) => $body,
            TargetSpec::Mark($t) => $body,
            TargetSpec::Ct($t) => $body,
            TargetSpec::Nat($t) => $body,
            TargetSpec::TcpMss($t) => $body,
            TargetSpec::TcpOptStrip($t) => $body,
            TargetSpec::Trace($t) => $body,
            TargetSpec::SynProxy($t) => $body,
            TargetSpec::Netmap($t) => $body,
            TargetSpec::Queue($t) => $body,
            TargetSpec::Classify($t) => $body,
            TargetSpec::Ttl($t) => $body,
            TargetSpec::Dscp($t) => $body,
            TargetSpec::Tos($t) => $body,
            TargetSpec::Audit($t) => $body,
            TargetSpec::IdleTimer($t) => $body,
            TargetSpec::RateEst($t) => $body,
            TargetSpec::Tee($t) => $body,
            TargetSpec::Hmark($t) => $body,
            TargetSpec::Tproxy($t) => $body,
            TargetSpec::Ecn($t) => $body,
            TargetSpec::Checksum($t) => $body,
            TargetSpec::ConnSecMark($t) => $body,
            TargetSpec::Set($t) => $body,
            TargetSpec::Verdict(_) | TargetSpec::Chain { .. } => $none,
        }
    };
}

impl TargetSpec {
    /// Loads the target `-j name` (or the chain `-g name` when `goto`).
    pub(crate) fn load(name: &str, goto: bool, family: Family) -> Res<TargetSpec> {
        let opt = if goto { "-g" } else { "-j" };
        if goto {
            if SUPPORTED.contains(&name) || UNSUPPORTED.contains(&name) {
                return fail(format!(
                    "-g needs a user-defined chain; {name} is a target (use -j {name})"
                ));
            }
            check_chain_name(name, opt)?;
            return Ok(TargetSpec::Chain {
                name: name.to_string(),
                goto,
            });
        }
        Ok(match name {
            "ACCEPT" => TargetSpec::Verdict(Verdict::Accept),
            "DROP" => TargetSpec::Verdict(Verdict::Drop),
            "RETURN" => TargetSpec::Verdict(Verdict::Return),
            "REJECT" => TargetSpec::Reject(reject::Reject::new(family)),
            "LOG" => TargetSpec::Log(Default::default()),
            "NFLOG" => TargetSpec::NfLog(Default::default()),
            "MARK" => TargetSpec::Mark(mark::MarkTarget::new(false)),
            "CONNMARK" => TargetSpec::Mark(mark::MarkTarget::new(true)),
            "NOTRACK" => TargetSpec::Ct(ct::CtTarget::new(false)),
            "CT" => TargetSpec::Ct(ct::CtTarget::new(true)),
            "SNAT" => TargetSpec::Nat(Nat::new(NatKind::Snat)),
            "DNAT" => TargetSpec::Nat(Nat::new(NatKind::Dnat)),
            "MASQUERADE" => TargetSpec::Nat(Nat::new(NatKind::Masquerade)),
            "REDIRECT" => TargetSpec::Nat(Nat::new(NatKind::Redirect)),
            "CHECKSUM" => TargetSpec::Checksum(Default::default()),
            "CONNSECMARK" => TargetSpec::ConnSecMark(Default::default()),
            "SET" => TargetSpec::Set(Default::default()),
            "TCPMSS" => TargetSpec::TcpMss(Default::default()),
            "TCPOPTSTRIP" => TargetSpec::TcpOptStrip(Default::default()),
            "TRACE" => TargetSpec::Trace(trace::Trace),
            "SYNPROXY" => TargetSpec::SynProxy(Default::default()),
            "NETMAP" => TargetSpec::Netmap(Default::default()),
            "NFQUEUE" => TargetSpec::Queue(Default::default()),
            "CLASSIFY" => TargetSpec::Classify(Default::default()),
            "TTL" => TargetSpec::Ttl(ttl::Ttl::new(false, family)?),
            "HL" => TargetSpec::Ttl(ttl::Ttl::new(true, family)?),
            "DSCP" => TargetSpec::Dscp(Default::default()),
            "TOS" => TargetSpec::Tos(Default::default()),
            "AUDIT" => TargetSpec::Audit(Default::default()),
            "IDLETIMER" => TargetSpec::IdleTimer(Default::default()),
            "RATEEST" => TargetSpec::RateEst(Default::default()),
            "TEE" => TargetSpec::Tee(Default::default()),
            "HMARK" => TargetSpec::Hmark(Default::default()),
            "TPROXY" => TargetSpec::Tproxy(Default::default()),
            // ip6tables has no ECN target: there it names a chain.
            "ECN" if family == Family::Ipv4 => TargetSpec::Ecn(Default::default()),
            _ if UNSUPPORTED.contains(&name) => {
                return fail(format!("the {name} target is not supported by moat"))
            }
            _ => {
                check_chain_name(name, opt)?;
                TargetSpec::Chain {
                    name: name.to_string(),
                    goto,
                }
            }
        })
    }

    /// The name shown in the `-L` target column.
    pub(crate) fn column_name(&self) -> &str {
        match self {
            TargetSpec::Ct(_) => "CT",
            _ => self.name(),
        }
    }

    /// The name `-j` takes (or the chain).
    pub(crate) fn name(&self) -> &str {
        match self {
            TargetSpec::Verdict(Verdict::Accept) => "ACCEPT",
            TargetSpec::Verdict(Verdict::Drop) => "DROP",
            TargetSpec::Verdict(Verdict::Return) => "RETURN",
            TargetSpec::Chain { name, .. } => name,
            TargetSpec::Reject(_) => "REJECT",
            TargetSpec::Log(_) => "LOG",
            TargetSpec::NfLog(_) => "NFLOG",
            TargetSpec::Mark(t) => t.name(),
            TargetSpec::Ct(t) => t.name(),
            TargetSpec::Nat(t) => t.name(),
            TargetSpec::TcpMss(_) => "TCPMSS",
            TargetSpec::TcpOptStrip(_) => "TCPOPTSTRIP",
            TargetSpec::Trace(_) => "TRACE",
            TargetSpec::SynProxy(_) => "SYNPROXY",
            TargetSpec::Netmap(_) => "NETMAP",
            TargetSpec::Queue(_) => "NFQUEUE",
            TargetSpec::Classify(_) => "CLASSIFY",
            TargetSpec::Ttl(t) => t.name(),
            TargetSpec::Dscp(_) => "DSCP",
            TargetSpec::Tos(_) => "TOS",
            TargetSpec::Audit(_) => "AUDIT",
            TargetSpec::IdleTimer(_) => "IDLETIMER",
            TargetSpec::RateEst(_) => "RATEEST",
            TargetSpec::Tee(_) => "TEE",
            TargetSpec::Hmark(_) => "HMARK",
            TargetSpec::Tproxy(_) => "TPROXY",
            TargetSpec::Ecn(_) => "ECN",
            TargetSpec::Checksum(_) => "CHECKSUM",
            TargetSpec::ConnSecMark(_) => "CONNSECMARK",
            TargetSpec::Set(_) => "SET",
        }
    }

    /// The options the target takes.
    pub(crate) fn options(&self) -> &'static [OptDef] {
        each_ext!(self, t => t.options(), &[])
    }

    /// Takes one of the target's options.
    pub(crate) fn parse(&mut self, opt: &mut Opt<'_>) -> Res<()> {
        each_ext!(self, t => t.parse(opt), Ok(()))
    }

    /// Checks the target's options against the whole rule.
    pub(crate) fn finish(&mut self, cx: &Cx) -> Res<()> {
        each_ext!(self, t => t.finish(cx), Ok(()))
    }

    /// Appends ` -j NAME options` or ` -g NAME` as `-S` prints them.
    pub(crate) fn save(&self, out: &mut String) {
        if let TargetSpec::Chain { name, goto: true } = self {
            out.push_str(" -g ");
            out.push_str(name);
            return;
        }
        out.push_str(" -j ");
        out.push_str(self.name());
        each_ext!(self, t => t.save(out), ())
    }

    /// Appends the `-L` text of the target's options.
    pub(crate) fn print(&self, out: &mut String, numeric: bool) {
        each_ext!(self, t => t.print(out, numeric), ())
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        match self {
            TargetSpec::Verdict(Verdict::Accept) => Action::Accept,
            TargetSpec::Verdict(Verdict::Drop) => Action::Drop,
            TargetSpec::Verdict(Verdict::Return) => Action::Return,
            TargetSpec::Chain { name, goto: false } => Action::Jump(name.clone()),
            TargetSpec::Chain { name, goto: true } => Action::Goto(name.clone()),
            TargetSpec::Reject(t) => t.lower(),
            TargetSpec::Log(t) => t.lower(),
            TargetSpec::NfLog(t) => t.lower(),
            TargetSpec::Mark(t) => t.lower(),
            TargetSpec::Ct(t) => t.lower(),
            TargetSpec::Nat(t) => t.lower(),
            TargetSpec::TcpMss(t) => t.lower(),
            TargetSpec::TcpOptStrip(t) => t.lower(),
            TargetSpec::Trace(_) => Action::Trace,
            TargetSpec::SynProxy(t) => t.lower(),
            TargetSpec::Netmap(t) => t.lower(),
            TargetSpec::Queue(t) => t.lower(),
            TargetSpec::Classify(t) => t.lower(),
            TargetSpec::Ttl(t) => t.lower(),
            TargetSpec::Dscp(t) => t.lower(),
            TargetSpec::Tos(t) => t.lower(),
            TargetSpec::Audit(t) => t.lower(),
            TargetSpec::IdleTimer(t) => t.lower(),
            TargetSpec::RateEst(t) => t.lower(),
            TargetSpec::Tee(t) => t.lower(),
            TargetSpec::Hmark(t) => t.lower(),
            TargetSpec::Tproxy(t) => t.lower(),
            TargetSpec::Ecn(t) => t.lower(),
            TargetSpec::Checksum(t) => t.lower(),
            TargetSpec::ConnSecMark(t) => t.lower(),
            TargetSpec::Set(t) => t.lower(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_close_to_targets_may_be_chains() {
        // A name close to a target may be a user chain (`:STATE - [0:0]`,
        // OpenWrt's `reject`): only the table knows, so the engine suggests
        // the target when no such chain exists.
        assert!(TargetSpec::load("ACCPET", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("STATE", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("reject", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("DROPS", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("LOGDROP", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("ssh_in", false, Family::Ipv4).is_ok());
        assert!(TargetSpec::load("LED", false, Family::Ipv4)
            .unwrap_err()
            .message
            .contains("not supported"));
        assert!(TargetSpec::load("ACCEPT", true, Family::Ipv4)
            .unwrap_err()
            .message
            .contains("use -j ACCEPT"));
    }
}
