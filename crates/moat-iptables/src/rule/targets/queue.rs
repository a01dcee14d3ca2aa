//! The NFQUEUE target: hands the packet to a userspace program, which
//! decides its fate.

use moat_model::Action;

use crate::rule::error::{fail, Res};
use crate::rule::ext::{Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j NFQUEUE [--queue-num N | --queue-balance A:B [--queue-cpu-fanout]]
/// [--queue-bypass]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Queue {
    /// `--queue-num N`.
    num: Option<u16>,
    /// `--queue-balance A:B`.
    balance: Option<(u16, u16)>,
    /// `--queue-bypass`: accept the packet when no program reads the queue.
    bypass: bool,
    /// `--queue-cpu-fanout`: pick the queue by CPU instead of by flow.
    fanout: bool,
}

const OPTIONS: &[OptDef] = &[
    opt("--queue-num", 1, false),
    opt("--queue-balance", 1, false),
    opt("--queue-bypass", 0, false),
    opt("--queue-cpu-fanout", 0, false),
];

const OPT_NUM: &str = "NFQUEUE --queue-num";
const OPT_BALANCE: &str = "NFQUEUE --queue-balance";

/// `A:B` (`A:` up to 65535, `:B` from 0), with A below B.
fn parse_balance(s: &str) -> Res<(u16, u16)> {
    let Some((a, b)) = s.split_once(':') else {
        return fail(format!(
            "{OPT_BALANCE} needs a range FIRST:LAST of queue numbers, not \"{s}\""
        ));
    };
    let bound = |t: &str, default: u16| -> Res<u16> {
        if t.is_empty() {
            Ok(default)
        } else {
            number_in(t, OPT_BALANCE, 0, 65535).map(|n| n as u16)
        }
    };
    let (first, last) = (bound(a, 0)?, bound(b, u16::MAX)?);
    if first >= last {
        return fail(format!(
            "{OPT_BALANCE} {s}: the first queue must be below the last (use --queue-num for one queue)"
        ));
    }
    Ok((first, last))
}

impl Queue {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let (first, last) = self.queues();
        Action::Queue {
            first,
            last,
            bypass: self.bypass,
            fanout: self.fanout,
        }
    }

    fn queues(&self) -> (u16, u16) {
        let num = self.num.unwrap_or(0);
        self.balance.unwrap_or((num, num))
    }
}

impl Extension for Queue {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let twice = match o.name {
            "--queue-num" => self.num.is_some(),
            "--queue-balance" => self.balance.is_some(),
            "--queue-bypass" => self.bypass,
            _ => self.fanout,
        };
        if twice {
            return fail(format!("NFQUEUE {} given twice", o.name));
        }
        match o.name {
            "--queue-num" => self.num = Some(number_in(o.value(), OPT_NUM, 0, 65535)? as u16),
            "--queue-balance" => self.balance = Some(parse_balance(o.value())?),
            "--queue-bypass" => self.bypass = true,
            _ => self.fanout = true,
        }
        if self.num.is_some() && self.balance.is_some() {
            return fail("NFQUEUE takes --queue-num or --queue-balance, not both");
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.fanout && self.balance.is_none() {
            return fail("NFQUEUE --queue-cpu-fanout needs --queue-balance");
        }
        if self.balance.is_none() && self.num.is_none() {
            self.num = Some(0);
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        match self.balance {
            Some((a, b)) => out.push_str(&format!(" --queue-balance {a}:{b}")),
            None => out.push_str(&format!(" --queue-num {}", self.num.unwrap_or(0))),
        }
        if self.bypass {
            out.push_str(" --queue-bypass");
        }
        if self.fanout {
            out.push_str(" --queue-cpu-fanout");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        match self.balance {
            Some((a, b)) => out.push_str(&format!(" NFQUEUE balance {a}:{b}")),
            None => out.push_str(&format!(" NFQUEUE num {}", self.num.unwrap_or(0))),
        }
        if self.bypass {
            out.push_str(" bypass");
        }
        if self.fanout {
            out.push_str(" cpu-fanout");
        }
    }
}
