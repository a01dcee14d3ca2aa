//! Extensions moat hands to the kernel's own xtables modules through
//! `nft_compat`, exactly as iptables-nft does, because nf_tables has no
//! native expression that behaves the same: each module here only parses
//! the options, prints them as iptables does and lays out the argument
//! structure the kernel module reads.

mod helper;
mod physdev;
mod policy;
mod socket;
mod string;

use moat_model::Match;

use super::error::Res;
use super::ext::{Cx, Extension, Opt};
use super::options::OptDef;

/// A match module run by the kernel's xtables module of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XtMatch {
    /// string.
    String(string::StringMatch),
    /// physdev.
    Physdev(physdev::Physdev),
    /// policy.
    Policy(policy::Policy),
    /// helper.
    Helper(helper::Helper),
    /// socket.
    Socket(socket::Socket),
}

impl XtMatch {
    /// Loads match module `name`, if it is one of these.
    pub(crate) fn load(name: &str) -> Option<XtMatch> {
        Some(match name {
            "string" => XtMatch::String(Default::default()),
            "physdev" => XtMatch::Physdev(Default::default()),
            "policy" => XtMatch::Policy(Default::default()),
            "helper" => XtMatch::Helper(Default::default()),
            "socket" => XtMatch::Socket(Default::default()),
            _ => return None,
        })
    }

    /// The name `-m` takes.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            XtMatch::String(_) => "string",
            XtMatch::Physdev(_) => "physdev",
            XtMatch::Policy(_) => "policy",
            XtMatch::Helper(_) => "helper",
            XtMatch::Socket(_) => "socket",
        }
    }

    fn module(&self) -> &dyn Extension {
        match self {
            XtMatch::String(m) => m,
            XtMatch::Physdev(m) => m,
            XtMatch::Policy(m) => m,
            XtMatch::Helper(m) => m,
            XtMatch::Socket(m) => m,
        }
    }

    fn module_mut(&mut self) -> &mut dyn Extension {
        match self {
            XtMatch::String(m) => m,
            XtMatch::Physdev(m) => m,
            XtMatch::Policy(m) => m,
            XtMatch::Helper(m) => m,
            XtMatch::Socket(m) => m,
        }
    }

    /// The model condition.
    pub(crate) fn lower(&self) -> Match {
        Match::Xt(match self {
            XtMatch::String(m) => m.ext(),
            XtMatch::Physdev(m) => m.ext(),
            XtMatch::Policy(m) => m.ext(),
            XtMatch::Helper(m) => m.ext(),
            XtMatch::Socket(m) => m.ext(),
        })
    }
}

impl Extension for XtMatch {
    fn options(&self) -> &'static [OptDef] {
        self.module().options()
    }

    fn parse(&mut self, opt: &mut Opt<'_>) -> Res<()> {
        self.module_mut().parse(opt)
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        self.module_mut().finish(cx)
    }

    fn save(&self, out: &mut String) {
        self.module().save(out)
    }

    fn print(&self, out: &mut String, numeric: bool) {
        self.module().print(out, numeric)
    }
}
