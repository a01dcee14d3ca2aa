//! Extensions moat hands to the kernel's own xtables modules through
//! `nft_compat`, exactly as iptables-nft does, because nf_tables has no
//! native expression that behaves the same: each module here only parses
//! the options, prints them as iptables does and lays out the argument
//! structure the kernel module reads.

mod bpf;
mod cgroup;
mod cluster;
mod connlabel;
mod eui64;
mod frag;
mod helper;
mod ipv6header;
mod ipvs;
mod mh;
mod nfacct;
mod opts;
mod osf;
mod physdev;
mod policy;
mod range;
mod rateest;
mod rt;
mod socket;
mod spi;
mod srh;
mod string;
mod tcpmss;
mod time;
mod u32;

use std::net::IpAddr;

use moat_model::{Family, Match, XtExtension};

use super::error::{fail, Res};
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
    /// frag (IPv6).
    Frag(frag::Frag),
    /// rt (IPv6).
    Rt(rt::Rt),
    /// hbh or dst (IPv6).
    Opts(opts::OptsHeader),
    /// ipv6header (IPv6).
    Ipv6Header(ipv6header::Ipv6Header),
    /// esp or ah.
    Spi(spi::SpiMatch),
    /// mh (IPv6).
    Mh(mh::Mh),
    /// u32.
    U32(u32::U32),
    /// tcpmss.
    TcpMss(tcpmss::TcpMssMatch),
    /// time.
    Time(time::TimeMatch),
    /// cluster.
    Cluster(cluster::Cluster),
    /// cgroup.
    Cgroup(cgroup::Cgroup),
    /// connlabel.
    ConnLabel(connlabel::ConnLabel),
    /// bpf.
    Bpf(bpf::Bpf),
    /// rateest.
    RateEst(rateest::RateEst),
    /// eui64 (IPv6).
    Eui64(eui64::Eui64),
    /// srh (IPv6).
    Srh(srh::Srh),
    /// nfacct.
    NfAcct(nfacct::NfAcct),
    /// osf.
    Osf(osf::Osf),
    /// ipvs.
    Ipvs(ipvs::Ipvs),
}

/// The match modules that only ip6tables has.
const IPV6_ONLY: &[&str] = &[
    "frag",
    "rt",
    "hbh",
    "dst",
    "ipv6header",
    "mh",
    "eui64",
    "srh",
];

/// The kernel extension `name` that works at every hook of every table,
/// its text the option (`-m` or `-j`), the name and `module`'s options.
pub(crate) fn kernel_ext(
    option: &str,
    name: &str,
    revision: u32,
    info: Vec<u8>,
    module: &dyn Extension,
) -> XtExtension {
    let mut text = format!("{option} {name}");
    module.save(&mut text);
    XtExtension::new(name, revision, info, text)
}

/// A value of a match and whether `!` inverts it.
pub(crate) type Field<T> = Option<(T, bool)>;

/// The "given" and "inverted" bit masks of a kernel structure whose
/// options each have a bit in both: for each option, whether it was given
/// inverted (`Some(true)`), given plainly or not at all, and its bit.
pub(crate) fn given_and_inverted(options: &[(Option<bool>, u8)]) -> (u8, u8) {
    options
        .iter()
        .fold((0, 0), |(given, inverted), &(option, bit)| match option {
            Some(true) => (given | bit, inverted | bit),
            Some(false) => (given | bit, inverted),
            None => (given, inverted),
        })
}

/// The 16-byte address field (`union nf_inet_addr`) of `addr`.
pub(crate) fn addr_field(addr: IpAddr) -> [u8; 16] {
    let mut field = [0u8; 16];
    match addr {
        IpAddr::V4(a) => field[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => field.copy_from_slice(&a.octets()),
    }
    field
}

/// Runs `$body` with `$m` bound to the module inside an [`XtMatch`].
macro_rules! each_module {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            XtMatch::String($m) => $body,
            XtMatch::Physdev($m) => $body,
            XtMatch::Policy($m) => $body,
            XtMatch::Helper($m) => $body,
            XtMatch::Socket($m) => $body,
            XtMatch::Frag($m) => $body,
            XtMatch::Rt($m) => $body,
            XtMatch::Opts($m) => $body,
            XtMatch::Ipv6Header($m) => $body,
            XtMatch::Spi($m) => $body,
            XtMatch::Mh($m) => $body,
            XtMatch::U32($m) => $body,
            XtMatch::TcpMss($m) => $body,
            XtMatch::Time($m) => $body,
            XtMatch::Cluster($m) => $body,
            XtMatch::Cgroup($m) => $body,
            XtMatch::ConnLabel($m) => $body,
            XtMatch::Bpf($m) => $body,
            XtMatch::RateEst($m) => $body,
            XtMatch::Eui64($m) => $body,
            XtMatch::Srh($m) => $body,
            XtMatch::NfAcct($m) => $body,
            XtMatch::Osf($m) => $body,
            XtMatch::Ipvs($m) => $body,
        }
    };
}

impl XtMatch {
    /// Loads match module `name` for `family`, if it is one of these.
    pub(crate) fn load(name: &str, family: Family) -> Option<Res<XtMatch>> {
        if family == Family::Ipv4 && IPV6_ONLY.contains(&name) {
            return Some(fail(format!(
                "the {name} match tests an IPv6 header; use it with ip6tables"
            )));
        }
        if family == Family::Ipv6 && name == "osf" {
            return Some(fail(
                "the osf match fingerprints IPv4 TCP SYNs; use it with iptables",
            ));
        }
        Some(Ok(match name {
            "string" => XtMatch::String(Default::default()),
            "physdev" => XtMatch::Physdev(Default::default()),
            "policy" => XtMatch::Policy(Default::default()),
            "helper" => XtMatch::Helper(Default::default()),
            "socket" => XtMatch::Socket(Default::default()),
            "frag" => XtMatch::Frag(Default::default()),
            "rt" => XtMatch::Rt(Default::default()),
            "hbh" => XtMatch::Opts(opts::OptsHeader::new("hbh")),
            "dst" => XtMatch::Opts(opts::OptsHeader::new("dst")),
            "ipv6header" => XtMatch::Ipv6Header(Default::default()),
            "esp" | "ah" | "ipcomp" => XtMatch::Spi(spi::SpiMatch::new(name, family)),
            "eui64" => XtMatch::Eui64(eui64::Eui64),
            "srh" => XtMatch::Srh(Default::default()),
            "mh" => XtMatch::Mh(Default::default()),
            "u32" => XtMatch::U32(Default::default()),
            "tcpmss" => XtMatch::TcpMss(Default::default()),
            "time" => XtMatch::Time(Default::default()),
            "cluster" => XtMatch::Cluster(Default::default()),
            "cgroup" => XtMatch::Cgroup(Default::default()),
            "connlabel" => XtMatch::ConnLabel(Default::default()),
            "bpf" => XtMatch::Bpf(Default::default()),
            "rateest" => XtMatch::RateEst(Default::default()),
            "nfacct" => XtMatch::NfAcct(Default::default()),
            "osf" => XtMatch::Osf(Default::default()),
            "ipvs" => XtMatch::Ipvs(Default::default()),
            _ => return None,
        }))
    }

    /// The name `-m` takes.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            XtMatch::String(_) => "string",
            XtMatch::Physdev(_) => "physdev",
            XtMatch::Policy(_) => "policy",
            XtMatch::Helper(_) => "helper",
            XtMatch::Socket(_) => "socket",
            XtMatch::Frag(_) => "frag",
            XtMatch::Rt(_) => "rt",
            XtMatch::Opts(m) => m.name(),
            XtMatch::Ipv6Header(_) => "ipv6header",
            XtMatch::Spi(m) => m.name(),
            XtMatch::Mh(_) => "mh",
            XtMatch::U32(_) => "u32",
            XtMatch::TcpMss(_) => "tcpmss",
            XtMatch::Time(_) => "time",
            XtMatch::Cluster(_) => "cluster",
            XtMatch::Cgroup(_) => "cgroup",
            XtMatch::ConnLabel(_) => "connlabel",
            XtMatch::Bpf(_) => "bpf",
            XtMatch::RateEst(_) => "rateest",
            XtMatch::Eui64(_) => "eui64",
            XtMatch::Srh(_) => "srh",
            XtMatch::NfAcct(_) => "nfacct",
            XtMatch::Osf(_) => "osf",
            XtMatch::Ipvs(_) => "ipvs",
        }
    }

    fn module(&self) -> &dyn Extension {
        each_module!(self, m => m)
    }

    fn module_mut(&mut self) -> &mut dyn Extension {
        each_module!(self, m => m)
    }

    /// The model condition.
    pub(crate) fn lower(&self) -> Match {
        Match::Xt(each_module!(self, m => m.ext()))
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
