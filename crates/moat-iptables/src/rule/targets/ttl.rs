//! The TTL (IPv4) and HL (IPv6) targets: set, lower or raise the packet's
//! time to live / hop limit.

use moat_model::{Action, Family, TtlOp};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j TTL --ttl-set|--ttl-dec|--ttl-inc N` or `-j HL --hl-set|--hl-dec|--hl-inc N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ttl {
    /// HL (IPv6) rather than TTL (IPv4).
    hl: bool,
    op: Option<TtlOp>,
}

const TTL_OPTIONS: &[OptDef] = &[
    opt("--ttl-set", 1, false),
    opt("--ttl-dec", 1, false),
    opt("--ttl-inc", 1, false),
];

const HL_OPTIONS: &[OptDef] = &[
    opt("--hl-set", 1, false),
    opt("--hl-dec", 1, false),
    opt("--hl-inc", 1, false),
];

impl Ttl {
    /// TTL for IPv4, HL for IPv6; refused in the other family.
    pub(crate) fn new(hl: bool, family: Family) -> Res<Self> {
        match (hl, family) {
            (false, Family::Ipv6) => fail("the TTL target is IPv4's; ip6tables uses -j HL"),
            (true, Family::Ipv4) => fail("the HL target is IPv6's; iptables uses -j TTL"),
            _ => Ok(Ttl { hl, op: None }),
        }
    }

    /// `TTL` or `HL`.
    pub(crate) fn name(&self) -> &'static str {
        if self.hl {
            "HL"
        } else {
            "TTL"
        }
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let op = self.op.unwrap_or(TtlOp::Set(0));
        if self.hl {
            Action::HopLimit(op)
        } else {
            Action::Ttl(op)
        }
    }

    fn prefix(&self) -> &'static str {
        if self.hl {
            "hl"
        } else {
            "ttl"
        }
    }
}

impl Extension for Ttl {
    fn options(&self) -> &'static [OptDef] {
        if self.hl {
            HL_OPTIONS
        } else {
            TTL_OPTIONS
        }
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if self.op.is_some() {
            let p = self.prefix();
            return fail(format!(
                "{} takes one of --{p}-set, --{p}-dec and --{p}-inc, once",
                self.name()
            ));
        }
        let what = format!("{} {}", self.name(), o.name);
        let set = o.name.ends_with("-set");
        let n = number_in(o.value(), &what, u64::from(!set), 255)? as u8;
        self.op = Some(if set {
            TtlOp::Set(n)
        } else if o.name.ends_with("-dec") {
            TtlOp::Dec(n)
        } else {
            TtlOp::Inc(n)
        });
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.op.is_none() {
            let p = self.prefix();
            return fail(format!(
                "{} needs --{p}-set, --{p}-dec or --{p}-inc",
                self.name()
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let p = self.prefix();
        match self.op {
            Some(TtlOp::Set(n)) => out.push_str(&format!(" --{p}-set {n}")),
            Some(TtlOp::Dec(n)) => out.push_str(&format!(" --{p}-dec {n}")),
            Some(TtlOp::Inc(n)) => out.push_str(&format!(" --{p}-inc {n}")),
            None => {}
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let name = self.name();
        match self.op {
            Some(TtlOp::Set(n)) => out.push_str(&format!(" {name} set to {n}")),
            Some(TtlOp::Dec(n)) => out.push_str(&format!(" {name} decrement by {n}")),
            Some(TtlOp::Inc(n)) => out.push_str(&format!(" {name} increment by {n}")),
            None => {}
        }
    }
}
