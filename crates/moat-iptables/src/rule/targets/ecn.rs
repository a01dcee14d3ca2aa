//! The ECN target (IPv4): sets the ECN codepoint of the IP header and the
//! ECE and CWR flags of the TCP header, to work around hosts that mishandle
//! explicit congestion notification.

use moat_model::{Action, EcnChange};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// `-j ECN --ecn-tcp-remove | --ecn-tcp-ece 0|1 | --ecn-tcp-cwr 0|1 | --ecn-ip-ect 0-3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ecn {
    change: EcnChange,
    /// `--ecn-tcp-remove` was given (parse-time state, cleared by `finish`
    /// so that rules meaning the same compare equal).
    remove: bool,
}

const OPTIONS: &[OptDef] = &[
    opt("--ecn-tcp-remove", 0, false),
    opt("--ecn-tcp-ece", 1, false),
    opt("--ecn-tcp-cwr", 1, false),
    opt("--ecn-ip-ect", 1, false),
];

impl Ecn {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::Ecn(self.change)
    }

    /// Whether it clears both TCP flags and nothing else, which iptables
    /// prints as `--ecn-tcp-remove`.
    fn is_removal(&self) -> bool {
        let c = &self.change;
        c.ece == Some(false) && c.cwr == Some(false) && c.ip_ect.is_none()
    }
}

/// `--ecn-tcp-remove` cannot go with the flag options.
fn not_with_remove(remove: bool, opt: &str) -> Res<()> {
    if remove {
        return fail(format!(
            "ECN: --ecn-tcp-remove cannot be used together with {opt}"
        ));
    }
    Ok(())
}

impl Extension for Ecn {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let flag = |o: &Opt<'_>| number_in(o.value(), &format!("ECN {}", o.name), 0, 1);
        match o.name {
            "--ecn-tcp-remove" => {
                for (given, opt) in [
                    (self.change.ece, "--ecn-tcp-ece"),
                    (self.change.cwr, "--ecn-tcp-cwr"),
                ] {
                    not_with_remove(given.is_some(), opt)?;
                }
                // As iptables: the removal replaces what was asked before
                // (an earlier --ecn-ip-ect too).
                self.remove = true;
                self.change = EcnChange {
                    ip_ect: None,
                    ece: Some(false),
                    cwr: Some(false),
                };
            }
            "--ecn-tcp-ece" => {
                not_with_remove(self.remove, "--ecn-tcp-ece")?;
                once(&self.change.ece, "ECN --ecn-tcp-ece")?;
                self.change.ece = Some(flag(o)? == 1);
            }
            "--ecn-tcp-cwr" => {
                not_with_remove(self.remove, "--ecn-tcp-cwr")?;
                once(&self.change.cwr, "ECN --ecn-tcp-cwr")?;
                self.change.cwr = Some(flag(o)? == 1);
            }
            _ => {
                once(&self.change.ip_ect, "ECN --ecn-ip-ect")?;
                self.change.ip_ect = Some(number_in(o.value(), "ECN --ecn-ip-ect", 0, 3)? as u8);
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        self.remove = false;
        let c = &self.change;
        if c.ip_ect.is_none() && !c.touches_tcp() {
            return fail(
                "ECN needs --ecn-tcp-remove, --ecn-tcp-ece, --ecn-tcp-cwr or --ecn-ip-ect",
            );
        }
        if c.touches_tcp() && cx.plain_proto() != Some(6) {
            return refused_by_kernel("ECN --ecn-tcp-* changes TCP flags: add -p tcp");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.is_removal() {
            out.push_str(" --ecn-tcp-remove");
            return;
        }
        let c = &self.change;
        for (opt, value) in [("--ecn-tcp-ece", c.ece), ("--ecn-tcp-cwr", c.cwr)] {
            if let Some(on) = value {
                out.push_str(&format!(" {opt} {}", u8::from(on)));
            }
        }
        if let Some(ect) = c.ip_ect {
            out.push_str(&format!(" --ecn-ip-ect {ect}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" ECN");
        if self.is_removal() {
            out.push_str(" TCP remove");
            return;
        }
        let c = &self.change;
        for (name, value) in [("ECE", c.ece), ("CWR", c.cwr)] {
            if let Some(on) = value {
                out.push_str(&format!(" {name}={}", u8::from(on)));
            }
        }
        if let Some(ect) = c.ip_ect {
            out.push_str(&format!(" ECT codepoint={ect}"));
        }
    }
}
