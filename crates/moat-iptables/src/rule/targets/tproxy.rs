//! The TPROXY target: hands a packet to a local transparent socket without
//! changing its addresses (transparent proxies: Squid, Envoy, Clash).

use moat_model::addr_text::AddrText;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use moat_model::{Action, Family, TproxyTarget};

use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{any_service_port, family_name, parse_mark};

/// `-j TPROXY --on-port PORT [--on-ip ADDR] [--tproxy-mark VALUE[/MASK]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tproxy {
    port: Option<u16>,
    addr: Option<IpAddr>,
    /// (value, mask).
    mark: Option<(u32, u32)>,
}

const OPTIONS: &[OptDef] = &[
    opt("--on-port", 1, false),
    opt("--on-ip", 1, false),
    opt("--tproxy-mark", 1, false),
];

/// A port as iptables reads `--on-port` (getaddrinfo's service): decimal
/// digits, which the C library keeps in an `int` (a number that is
/// negative there is no port) and cuts to 16 bits, or a service name.
fn service(s: &str) -> Res<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n = s.parse::<u64>().unwrap_or(u64::MAX);
        if (n as u32 as i32) < 0 {
            return fail(format!("TPROXY --on-port: {s} is no port"));
        }
        return Ok((n & 0xffff) as u16);
    }
    match any_service_port(s) {
        Some(port) => Ok(port),
        None => fail(format!(
            "TPROXY --on-port: \"{s}\" is neither a port number nor a known service name"
        )),
    }
}

impl Tproxy {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let (mark, mask) = self.mark.unwrap_or((0, 0));
        Action::Tproxy(TproxyTarget {
            addr: self.addr(),
            port: self.port.unwrap_or(0),
            mark,
            mask,
        })
    }

    /// The listener's address (unspecified unless given; set by `finish`).
    fn addr(&self) -> IpAddr {
        self.addr.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl Extension for Tproxy {
    fn options(&self) -> &'static [OptDef] {
        OPTIONS
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--on-port" => {
                once(&self.port, "TPROXY --on-port")?;
                self.port = Some(service(v)?);
            }
            "--on-ip" => {
                once(&self.addr, "TPROXY --on-ip")?;
                let (family, tool) = family_name(o.family);
                let addr = v.parse::<IpAddr>().ok().filter(|a| match a {
                    IpAddr::V4(_) => o.family == Family::Ipv4,
                    IpAddr::V6(_) => o.family == Family::Ipv6,
                });
                let Some(addr) = addr else {
                    return fail(format!(
                        "TPROXY --on-ip: \"{v}\" is not an {family} address ({tool} takes one address, no network or host name)"
                    ));
                };
                self.addr = Some(addr);
            }
            _ => {
                once(&self.mark, "TPROXY --tproxy-mark")?;
                let (value, mask) = parse_mark(v, "TPROXY --tproxy-mark")?;
                self.mark = Some((value, mask.unwrap_or(u32::MAX)));
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.port.is_none() {
            return fail("TPROXY needs --on-port PORT (0 keeps the packet's port)");
        }
        if !matches!(cx.plain_proto(), Some(6 | 17)) {
            return refused_by_kernel(
                "TPROXY works on TCP and UDP packets only: add -p tcp or -p udp",
            );
        }
        self.addr.get_or_insert(match cx.family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        self.mark.get_or_insert((0, 0));
        Ok(())
    }

    fn save(&self, out: &mut String) {
        let (mark, mask) = self.mark.unwrap_or((0, 0));
        out.push_str(&format!(
            " --on-port {} --on-ip {} --tproxy-mark {mark:#x}/{mask:#x}",
            self.port.unwrap_or(0),
            AddrText(self.addr())
        ));
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        let (mark, mask) = self.mark.unwrap_or((0, 0));
        out.push_str(&format!(
            " TPROXY redirect {}:{} mark {mark:#x}/{mask:#x}",
            AddrText(self.addr()),
            self.port.unwrap_or(0)
        ));
    }
}
