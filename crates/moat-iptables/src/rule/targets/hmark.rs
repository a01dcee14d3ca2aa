//! `-j HMARK` (xt_HMARK, revision 0, run by the kernel's module): sets the
//! packet mark to a hash of the fields chosen (addresses under a prefix,
//! ports, SPI and protocol under masks, or the conntrack tuple's), modulo
//! `--hmark-mod`, plus `--hmark-offset`; then goes on to the next rule.

use moat_model::{Action, Family, XtLayout};

use crate::rule::compat::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, parse_number};

/// The kernel's flag bits (`XT_HMARK_*`), as iptables sets them.
mod flag {
    pub const SADDR_MASK: u32 = 1 << 0;
    pub const DADDR_MASK: u32 = 1 << 1;
    pub const SPI: u32 = 1 << 2;
    pub const SPI_MASK: u32 = 1 << 3;
    pub const SPORT: u32 = 1 << 4;
    pub const DPORT: u32 = 1 << 5;
    pub const SPORT_MASK: u32 = 1 << 6;
    pub const DPORT_MASK: u32 = 1 << 7;
    pub const PROTO_MASK: u32 = 1 << 8;
    pub const RND: u32 = 1 << 9;
    pub const MODULUS: u32 = 1 << 10;
    pub const OFFSET: u32 = 1 << 11;
    pub const CT: u32 = 1 << 12;
}

/// Sets `slot` to what `read` gives, unless option `name` came before.
fn put<T>(slot: &mut Option<T>, name: &str, read: impl FnOnce() -> Res<T>) -> Res<()> {
    once(slot, name)?;
    *slot = Some(read()?);
    Ok(())
}

/// A prefix length, or for IPv4 also a dotted mask; IPv4 takes any
/// length as iptables does, longer ones (and masks with holes) meaning /32.
fn parse_prefix(ipv6: bool, value: &str, name: &str) -> Res<u8> {
    let full: u8 = if ipv6 { 128 } else { 32 };
    let bad = || -> Res<u8> {
        fail(format!(
            "HMARK {name} {value}: give a prefix length (0-{full}){}",
            if ipv6 { "" } else { " or a network mask" }
        ))
    };
    if let Some(n) = parse_number(value) {
        // iptables reads an unsigned int and caps an IPv4 prefix at 32.
        if (ipv6 && n > 128) || n > u64::from(u32::MAX) {
            return bad();
        }
        return Ok(n.min(u64::from(full)) as u8);
    }
    match value.parse::<std::net::Ipv4Addr>() {
        // A mask whose ones do not come first means /32, as in iptables.
        Ok(mask) if !ipv6 => {
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() == 32 {
                Ok(bits.leading_ones() as u8)
            } else {
                Ok(32)
            }
        }
        _ => bad(),
    }
}

/// `-j HMARK` with its options; each field is `None` until given (or set
/// by a `--hmark-tuple` member).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Hmark {
    ipv6: bool,
    src_prefix: Option<u8>,
    dst_prefix: Option<u8>,
    sport_mask: Option<u16>,
    dport_mask: Option<u16>,
    spi_mask: Option<u32>,
    sport: Option<u16>,
    dport: Option<u16>,
    spi: Option<u32>,
    proto_mask: Option<u16>,
    rnd: Option<u32>,
    modulus: Option<u32>,
    offset: Option<u32>,
    /// Whether `--hmark-tuple` came, while the options are read (a rule
    /// is what its fields say, however they were given).
    tuple_seen: bool,
    ct: bool,
}

impl Hmark {
    /// The longest prefix of the rule's family.
    fn full_prefix(&self) -> u8 {
        if self.ipv6 {
            128
        } else {
            32
        }
    }

    /// The kernel's flags for what is set.
    fn flags(&self) -> u32 {
        [
            (self.src_prefix.is_some(), flag::SADDR_MASK),
            (self.dst_prefix.is_some(), flag::DADDR_MASK),
            (self.spi.is_some(), flag::SPI),
            (self.spi_mask.is_some(), flag::SPI_MASK),
            (self.sport.is_some(), flag::SPORT),
            (self.dport.is_some(), flag::DPORT),
            (self.sport_mask.is_some(), flag::SPORT_MASK),
            (self.dport_mask.is_some(), flag::DPORT_MASK),
            (self.proto_mask.is_some(), flag::PROTO_MASK),
            (self.rnd.is_some(), flag::RND),
            (self.modulus.is_some(), flag::MODULUS),
            (self.offset.is_some(), flag::OFFSET),
            (self.ct, flag::CT),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .fold(0, |flags, (_, bit)| flags | bit)
    }

    /// An address mask of `prefix` bits as the kernel reads it: IPv4's in
    /// the first four bytes (all sixteen set for /32, as iptables writes it).
    fn mask(&self, prefix: Option<u8>) -> [u8; 16] {
        let Some(prefix) = prefix else {
            return [0; 16];
        };
        if !self.ipv6 && prefix >= 32 {
            return [0xff; 16];
        }
        let bits = if self.ipv6 {
            u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
        } else {
            u128::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)) << 96
        };
        bits.to_be_bytes()
    }

    /// Ports (or an SPI) as the kernel's `union hmark_ports`, in network order.
    fn ports(ports: (Option<u16>, Option<u16>), spi: Option<u32>) -> [u8; 4] {
        match spi {
            Some(spi) => spi.to_be_bytes(),
            None => {
                let (src, dst) = (ports.0.unwrap_or(0), ports.1.unwrap_or(0));
                (u32::from(src) << 16 | u32::from(dst)).to_be_bytes()
            }
        }
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let mut layout = XtLayout::new();
        layout
            .bytes(&self.mask(self.src_prefix), 16)
            .bytes(&self.mask(self.dst_prefix), 16)
            .bytes(
                &Self::ports((self.sport_mask, self.dport_mask), self.spi_mask),
                4,
            )
            .bytes(&Self::ports((self.sport, self.dport), self.spi), 4)
            .u32(self.flags())
            .u16(self.proto_mask.unwrap_or(0))
            .align(4)
            .u32(self.rnd.unwrap_or(0))
            .u32(self.modulus.unwrap_or(0))
            .u32(self.offset.unwrap_or(0))
            .align(8);
        Action::Xt(kernel_ext("-j", "HMARK", 0, layout.finish(), self))
    }

    /// `--hmark-tuple`'s members, each standing for its field at full width.
    fn parse_tuple(&mut self, list: &str) -> Res<()> {
        for member in list.split(',') {
            match member.to_ascii_lowercase().as_str() {
                "src" => self.src_prefix = Some(self.full_prefix()),
                "dst" => self.dst_prefix = Some(self.full_prefix()),
                "sport" => self.sport_mask = Some(u16::MAX),
                "dport" => self.dport_mask = Some(u16::MAX),
                "spi" => self.spi_mask = Some(u32::MAX),
                "proto" => self.proto_mask = Some(u16::MAX),
                "ct" => self.ct = true,
                _ => {
                    return fail(format!(
                        "HMARK --hmark-tuple: unknown member \"{member}\" (give src, dst, sport, dport, spi, proto or ct, separated by commas)"
                    ))
                }
            }
        }
        self.tuple_seen = true;
        Ok(())
    }

    /// The `-L` and `-S` words, in iptables' order: `(option, -S value, -L value)`.
    fn words(&self) -> Vec<(&'static str, String, String)> {
        let prefix = |p: u8| {
            // ip6tables -L prints nothing for a full-length IPv6 prefix.
            let shown = if self.ipv6 && p == 128 {
                String::new()
            } else {
                p.to_string()
            };
            (p.to_string(), shown)
        };
        let hex16 = |v: u16| (format!("0x{v:04x}"), format!("0x{v:x}"));
        let hex32 = |v: u32| (format!("0x{v:08x}"), format!("0x{v:x}"));
        let byte = |v: u16| (format!("0x{v:02x}"), format!("0x{v:x}"));
        [
            ("src-prefix", self.src_prefix.map(prefix)),
            ("dst-prefix", self.dst_prefix.map(prefix)),
            ("sport-mask", self.sport_mask.map(hex16)),
            ("dport-mask", self.dport_mask.map(hex16)),
            ("spi-mask", self.spi_mask.map(hex32)),
            ("sport", self.sport.map(hex16)),
            ("dport", self.dport.map(hex16)),
            ("spi", self.spi.map(hex32)),
            ("proto-mask", self.proto_mask.map(byte)),
            ("rnd", self.rnd.map(hex32)),
        ]
        .into_iter()
        .filter_map(|(name, words)| words.map(|(save, list)| (name, save, list)))
        .collect()
    }
}

impl Extension for Hmark {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--hmark-tuple", 1, false),
            opt("--hmark-src-prefix", 1, false),
            opt("--hmark-dst-prefix", 1, false),
            opt("--hmark-sport-mask", 1, false),
            opt("--hmark-dport-mask", 1, false),
            opt("--hmark-spi-mask", 1, false),
            opt("--hmark-sport", 1, false),
            opt("--hmark-dport", 1, false),
            opt("--hmark-spi", 1, false),
            opt("--hmark-proto-mask", 1, false),
            opt("--hmark-rnd", 1, false),
            opt("--hmark-mod", 1, false),
            opt("--hmark-offset", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        self.ipv6 = o.family == Family::Ipv6;
        let ipv6 = self.ipv6;
        let value = o.value();
        let u16_of = |v: &str| number_in(v, o.name, 0, u64::from(u16::MAX)).map(|n| n as u16);
        let u32_of = |v: &str| number_in(v, o.name, 0, u64::from(u32::MAX)).map(|n| n as u32);
        match o.name {
            "--hmark-tuple" => {
                if self.tuple_seen {
                    return fail("HMARK: --hmark-tuple given twice");
                }
                self.parse_tuple(value)?;
            }
            "--hmark-src-prefix" => put(&mut self.src_prefix, o.name, || {
                parse_prefix(ipv6, value, o.name)
            })?,
            "--hmark-dst-prefix" => put(&mut self.dst_prefix, o.name, || {
                parse_prefix(ipv6, value, o.name)
            })?,
            "--hmark-sport-mask" => put(&mut self.sport_mask, o.name, || u16_of(value))?,
            "--hmark-dport-mask" => put(&mut self.dport_mask, o.name, || u16_of(value))?,
            "--hmark-spi-mask" => put(&mut self.spi_mask, o.name, || u32_of(value))?,
            "--hmark-sport" => put(&mut self.sport, o.name, || u16_of(value))?,
            "--hmark-dport" => put(&mut self.dport, o.name, || u16_of(value))?,
            "--hmark-spi" => put(&mut self.spi, o.name, || u32_of(value))?,
            "--hmark-proto-mask" => put(&mut self.proto_mask, o.name, || u16_of(value))?,
            "--hmark-rnd" => put(&mut self.rnd, o.name, || u32_of(value))?,
            "--hmark-mod" => put(&mut self.modulus, o.name, || {
                number_in(value, o.name, 1, u64::from(u32::MAX)).map(|n| n as u32)
            })?,
            _ => put(&mut self.offset, o.name, || u32_of(value))?,
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        self.tuple_seen = false;
        if self.modulus.is_none() {
            return fail(
                "HMARK: --hmark-mod is mandatory (the number of marks to spread packets over)",
            );
        }
        if self.rnd.is_none() {
            return fail("HMARK: --hmark-rnd is mandatory (a 32-bit seed for the hash)");
        }
        let chosen = flag::SADDR_MASK
            | flag::DADDR_MASK
            | flag::SPI
            | flag::SPI_MASK
            | flag::SPORT
            | flag::DPORT
            | flag::SPORT_MASK
            | flag::DPORT_MASK
            | flag::PROTO_MASK
            | flag::CT;
        if self.flags() & chosen == 0 {
            return fail("HMARK: say what to hash with --hmark-tuple (or prefixes and masks)");
        }
        if self.spi_mask.is_some() && (self.sport_mask.is_some() || self.dport_mask.is_some()) {
            return fail(
                "HMARK: --hmark-spi-mask and --hmark-sport-mask/--hmark-dport-mask cannot go together (the SPI takes the ports' place)",
            );
        }
        if self.spi.is_some() && (self.sport.is_some() || self.dport.is_some()) {
            return refused_by_kernel(
                "HMARK: --hmark-spi and --hmark-sport/--hmark-dport cannot go together (the kernel refuses them)",
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        for (name, value, _) in self.words() {
            out.push_str(&format!(" --hmark-{name} {value}"));
        }
        if let Some(m) = self.modulus {
            out.push_str(&format!(" --hmark-mod {m}"));
        }
        if let Some(o) = self.offset {
            out.push_str(&format!(" --hmark-offset {o}"));
        }
        if self.ct {
            out.push_str(" --hmark-tuple ct");
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        out.push_str(" HMARK ");
        if let Some(m) = self.modulus {
            out.push_str(&format!("mod {m} "));
        }
        if let Some(o) = self.offset {
            out.push_str(&format!("+ 0x{o:x} "));
        }
        if self.ct {
            out.push_str("ct, ");
        }
        for (name, _, value) in self.words() {
            out.push_str(&format!("{name} {value} "));
        }
    }
}
