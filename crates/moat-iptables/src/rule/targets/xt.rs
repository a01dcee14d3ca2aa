//! Targets the kernel's own xtables modules run through `nft_compat`, as
//! iptables-nft runs them: AUDIT records the packet in the audit log,
//! IDLETIMER restarts a timer whose expiry user space sees in sysfs, TEE
//! sends a copy of the packet to another host. All go on to the next rule.

use std::net::IpAddr;

use moat_model::{Action, XtLayout};

use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, parse_addr, parse_iface, reads_back_unquoted, AddrSyntax};
use moat_model::addr_text::ip_text;

/// The action of target `name` with argument bytes `info`.
pub(super) fn ext(name: &str, revision: u32, info: Vec<u8>, options: &dyn Extension) -> Action {
    Action::Xt(kernel_ext("-j", name, revision, info, options))
}

/// AUDIT's record types, in the kernel's order.
const AUDIT_TYPES: [&str; 3] = ["accept", "drop", "reject"];

/// `-j AUDIT --type accept|drop|reject` (xt_AUDIT, revision 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Audit {
    kind: Option<u8>,
}

impl Audit {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let info = XtLayout::new().u8(self.kind.unwrap_or(0)).finish();
        ext("AUDIT", 0, info, self)
    }

    fn word(&self) -> &'static str {
        AUDIT_TYPES[usize::from(self.kind.unwrap_or(0))]
    }
}

impl Extension for Audit {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--type", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.kind, "--type")?;
        let v = o.value().to_ascii_lowercase();
        match AUDIT_TYPES.iter().position(|t| *t == v) {
            Some(i) => self.kind = Some(i as u8),
            None => {
                return fail(format!(
                    "AUDIT --type {}: give accept, drop or reject",
                    o.value()
                ))
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.kind.is_none() {
            return fail("AUDIT: option \"--type\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        out.push_str(&format!(" --type {}", self.word()));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(&format!(" AUDIT {}", self.word()));
    }
}

/// The label field, its terminating zero included.
const LABEL_FIELD: usize = 28;
/// The longest timeout the kernel takes, in seconds (`INT_MAX / 1000`).
const MAX_TIMEOUT: u64 = i32::MAX as u64 / 1000 - 1;

/// `-j IDLETIMER --timeout SECONDS --label NAME [--alarm]` (xt_IDLETIMER,
/// revision 1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct IdleTimer {
    timeout: Option<u32>,
    label: Option<String>,
    alarm: bool,
}

impl IdleTimer {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let label = self.label.as_deref().unwrap_or_default();
        let mut layout = XtLayout::new();
        layout
            .u32(self.timeout.unwrap_or(0))
            .bytes(label.as_bytes(), LABEL_FIELD)
            .u8(0)
            .u8(u8::from(self.alarm))
            // The kernel's pointer to the timer, 8-byte aligned.
            .align(8)
            .bytes(&[], 8);
        ext("IDLETIMER", 1, layout.finish(), self)
    }
}

impl Extension for IdleTimer {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--timeout", 1, false),
            opt("--label", 1, false),
            opt("--alarm", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--timeout" => {
                once(&self.timeout, "--timeout")?;
                self.timeout = Some(number_in(o.value(), "--timeout", 1, MAX_TIMEOUT)? as u32);
            }
            "--label" => {
                once(&self.label, "--label")?;
                // iptables keeps the first 27 bytes.
                let label: String = o.value().chars().take(LABEL_FIELD - 1).collect();
                if label.is_empty() || label.len() >= LABEL_FIELD || label.contains('/') {
                    return fail(format!(
                        "IDLETIMER --label \"{}\": give a name without '/' (it names a file in sysfs)",
                        o.value()
                    ));
                }
                if !reads_back_unquoted(&label) {
                    return fail(format!(
                        "IDLETIMER --label \"{label}\": give a name without spaces or quotes \
                         (iptables saves it unquoted and could not read it back)"
                    ));
                }
                self.label = Some(label);
            }
            _ => self.alarm = true,
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        match (&self.timeout, &self.label) {
            (None, _) => fail("IDLETIMER: option \"--timeout\" must be specified"),
            (_, None) => fail("IDLETIMER: option \"--label\" must be specified"),
            _ => Ok(()),
        }
    }

    fn save(&self, out: &mut String) {
        if let (Some(timeout), Some(label)) = (self.timeout, &self.label) {
            out.push_str(&format!(" --timeout {timeout} --label {label}"));
        }
        if self.alarm {
            out.push_str(" --alarm");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let (Some(timeout), Some(label)) = (self.timeout, &self.label) {
            out.push_str(&format!(" timeout:{timeout} label:{label}"));
        }
        if self.alarm {
            out.push_str(" alarm");
        }
    }
}

/// An interface name field (`IFNAMSIZ`).
const IFACE_FIELD: usize = 16;

/// `-j TEE --gateway ADDR [--oif NAME]` (xt_TEE, revision 1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Tee {
    gateway: Option<IpAddr>,
    oif: Option<String>,
}

impl Tee {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let gateway = match self.gateway {
            Some(IpAddr::V4(a)) => a.octets().to_vec(),
            Some(IpAddr::V6(a)) => a.octets().to_vec(),
            None => Vec::new(),
        };
        let oif = self.oif.as_deref().unwrap_or_default();
        let mut layout = XtLayout::new();
        layout
            .bytes(&gateway, 16)
            .bytes(oif.as_bytes(), IFACE_FIELD)
            // The kernel's own state, 8-byte aligned.
            .align(8)
            .bytes(&[], 8);
        ext("TEE", 1, layout.finish(), self)
    }
}

impl Extension for Tee {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--gateway", 1, false), opt("--oif", 1, false)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        if o.name == "--gateway" {
            once(&self.gateway, "--gateway")?;
            let gateway = parse_addr(o.value(), o.family, "TEE --gateway", AddrSyntax::Resolver)?;
            if gateway.is_unspecified() {
                return fail("TEE --gateway: give the address of the host that gets the copies");
            }
            self.gateway = Some(gateway);
        } else {
            once(&self.oif, "--oif")?;
            let name = o.value().to_string();
            match parse_iface(&name, "TEE --oif", o.warnings)? {
                Some(name) => self.oif = Some(name),
                None => return fail("TEE --oif needs one interface name"),
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.gateway.is_none() {
            return fail("TEE: option \"--gateway\" must be specified");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(gateway) = self.gateway {
            out.push_str(&format!(" --gateway {}", ip_text(gateway)));
        }
        if let Some(oif) = &self.oif {
            out.push_str(&format!(" --oif {oif}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some(gateway) = self.gateway {
            out.push_str(&format!(" TEE gw:{}", ip_text(gateway)));
        }
        if let Some(oif) = &self.oif {
            out.push_str(&format!(" oif={oif}"));
        }
    }
}
