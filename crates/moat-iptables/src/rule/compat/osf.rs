//! `-m osf`: passive OS fingerprinting of TCP SYNs against the fingerprints
//! loaded into the kernel with nfnl_osf (xt_osf, revision 0).

use moat_model::text::first_bytes;
use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, refused_by_kernel, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::number_in;

/// The genre field, its terminating zero included; iptables keeps the
/// first 31 bytes of a longer genre.
const GENRE_FIELD: usize = 32;

/// The kernel's flags: a TTL test, logging, a negated genre.
const TTL: u32 = 1 << 1;
const LOG: u32 = 1 << 2;
const INVERT: u32 = 1 << 3;

/// `-m osf [!] --genre GENRE [--ttl LEVEL] [--log LEVEL]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Osf {
    genre: Option<(String, bool)>,
    ttl: Option<u32>,
    log: Option<u32>,
}

impl Osf {
    /// The kernel extension: the genre, its length, the flags, the log
    /// level and the TTL test.
    pub(crate) fn ext(&self) -> XtExtension {
        let (genre, invert) = self.genre.clone().unwrap_or_default();
        let flags = [
            (invert, INVERT),
            (self.ttl.is_some(), TTL),
            (self.log.is_some(), LOG),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(0, |flags, (_, bit)| flags | bit);
        let info = XtLayout::new()
            .bytes(genre.as_bytes(), GENRE_FIELD)
            .u32(genre.len() as u32)
            .u32(flags)
            .u32(self.log.unwrap_or_default())
            .u32(self.ttl.unwrap_or_default())
            .finish();
        kernel_ext("-m", "osf", 0, info, self)
    }
}

impl Extension for Osf {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--genre", 1, true),
            opt("--ttl", 1, false),
            opt("--log", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--genre" => {
                once(&self.genre, "--genre")?;
                self.genre = Some((first_bytes(v, GENRE_FIELD - 1).to_string(), o.invert));
            }
            "--ttl" => {
                once(&self.ttl, "--ttl")?;
                self.ttl = Some(number_in(v, "--ttl", 0, 2)? as u32);
            }
            _ => {
                once(&self.log, "--log")?;
                self.log = Some(number_in(v, "--log", 0, 2)? as u32);
            }
        }
        Ok(())
    }

    fn finish(&mut self, cx: &Cx) -> Res<()> {
        if self.genre.is_none() {
            return fail("osf: option \"--genre\" must be specified");
        }
        if cx.plain_proto() != Some(6) {
            return refused_by_kernel("osf: fingerprints TCP SYNs: give -p tcp");
        }
        Ok(())
    }

    // iptables writes the genre as it is, unquoted.
    fn save(&self, out: &mut String) {
        if let Some((genre, invert)) = &self.genre {
            let bang = if *invert { " !" } else { "" };
            out.push_str(&format!("{bang} --genre {genre}"));
        }
        if let Some(ttl) = self.ttl {
            out.push_str(&format!(" --ttl {ttl}"));
        }
        if let Some(log) = self.log {
            out.push_str(&format!(" --log {log}"));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((genre, invert)) = &self.genre {
            let bang = if *invert { "! " } else { "" };
            out.push_str(&format!(" OS fingerprint match {bang}{genre}"));
        }
    }
}
