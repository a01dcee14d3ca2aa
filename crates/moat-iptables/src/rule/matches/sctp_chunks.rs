//! sctp's `--chunk-types any|all|only CHUNK[:FLAGS],...`: which chunks an
//! SCTP packet holds, run in the kernel's xt_sctp as iptables-nft runs it
//! (nf_tables can test that a chunk exists, not that only the listed ones
//! do).

use moat_model::XtLayout;

use crate::rule::error::{fail, Res};
use crate::rule::suggest::did_you_mean;

/// The chunk types iptables names, by number.
const CHUNKS: &[(&str, u8)] = &[
    ("DATA", 0),
    ("INIT", 1),
    ("INIT_ACK", 2),
    ("SACK", 3),
    ("HEARTBEAT", 4),
    ("HEARTBEAT_ACK", 5),
    ("ABORT", 6),
    ("SHUTDOWN", 7),
    ("SHUTDOWN_ACK", 8),
    ("ERROR", 9),
    ("COOKIE_ECHO", 10),
    ("COOKIE_ACK", 11),
    ("ECN_ECNE", 12),
    ("ECN_CWR", 13),
    ("SHUTDOWN_COMPLETE", 14),
    ("I_DATA", 64),
    ("ASCONF_ACK", 128),
    ("RE_CONFIG", 130),
    ("PAD", 132),
    ("FORWARD_TSN", 192),
    ("ASCONF", 193),
    ("I_FORWARD_TSN", 194),
];

/// The flag letters of the chunks that have them, highest bit first.
fn flag_letters(chunk: u8) -> &'static [(char, u8)] {
    match chunk {
        0 => &[('I', 0x08), ('U', 0x04), ('B', 0x02), ('E', 0x01)],
        6 | 14 => &[('T', 0x01)],
        _ => &[],
    }
}

/// The match modes, as iptables writes them.
const MODES: [&str; 3] = ["any", "all", "only"];

/// The most chunk types with flags xt_sctp holds.
const MAX_FLAGGED: usize = 4;

/// A parsed `--chunk-types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkTypes {
    /// Index into [`MODES`].
    mode: usize,
    /// A bit per chunk type.
    map: [u32; 8],
    /// Chunk types with flag tests: the type, the flags set, the flags tested.
    flagged: Vec<(u8, u8, u8)>,
}

impl ChunkTypes {
    /// Parses the mode word and the list.
    pub(crate) fn parse(mode: &str, list: &str) -> Res<ChunkTypes> {
        let lower = mode.to_ascii_lowercase();
        let Some(mode) = MODES.iter().position(|m| *m == lower) else {
            return fail(format!(
                "--chunk-types: \"{mode}\" is not a match mode (give any, all or only)"
            ));
        };
        let mut types = ChunkTypes {
            mode,
            map: [0; 8],
            flagged: Vec::new(),
        };
        match list {
            "ALL" => types.map = [u32::MAX; 8],
            "NONE" => {}
            _ => {
                for item in list.split(',') {
                    types.add(item)?;
                }
            }
        }
        Ok(types)
    }

    fn add(&mut self, item: &str) -> Res<()> {
        let (name, flags) = item.split_once(':').unwrap_or((item, ""));
        let upper = name.to_ascii_uppercase();
        let Some(&(_, chunk)) = CHUNKS.iter().find(|(n, _)| *n == upper) else {
            return fail(format!(
                "--chunk-types: unknown SCTP chunk \"{name}\"{}",
                did_you_mean(&upper, CHUNKS.iter().map(|(n, _)| *n))
            ));
        };
        self.map[usize::from(chunk / 32)] |= 1 << (chunk % 32);
        if flags.is_empty() {
            return Ok(());
        }
        let letters = flag_letters(chunk);
        let (mut set, mut tested) = (0, 0);
        for c in flags.chars() {
            let Some(&(_, bit)) = letters.iter().find(|(l, _)| *l == c.to_ascii_uppercase()) else {
                return fail(format!(
                    "--chunk-types: {upper} has no flag \"{c}\" (its flags: {})",
                    if letters.is_empty() {
                        "none".to_string()
                    } else {
                        letters
                            .iter()
                            .map(|(l, _)| l.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            };
            tested |= bit;
            if c.is_ascii_uppercase() {
                set |= bit;
            } else {
                set &= !bit;
            }
        }
        let full = self.flagged.len() == MAX_FLAGGED;
        match self.flagged.iter_mut().find(|(t, _, _)| *t == chunk) {
            Some(entry) => {
                entry.1 = (entry.1 & !tested) | set;
                entry.2 |= tested;
            }
            None if full => {
                return fail(format!(
                    "--chunk-types: at most {MAX_FLAGGED} chunk types can have flags"
                ))
            }
            None => self.flagged.push((chunk, set, tested)),
        }
        Ok(())
    }

    /// The mode and list as iptables prints them (`any DATA:Be,INIT`;
    /// with `numeric`, as `-n` lists them: `any 0x0000:Be,0x0001`).
    pub(crate) fn text(&self, numeric: bool) -> String {
        let list = if self.map == [u32::MAX; 8] {
            "ALL".to_string()
        } else if self.map == [0; 8] {
            "NONE".to_string()
        } else {
            CHUNKS
                .iter()
                .copied()
                .filter(|&(_, c)| self.map[usize::from(c / 32)] & (1 << (c % 32)) != 0)
                .map(|(name, c)| {
                    let name = if numeric {
                        format!("0x{c:04X}")
                    } else {
                        name.to_string()
                    };
                    self.chunk_text(&name, c)
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("{} {list}", MODES[self.mode])
    }

    fn chunk_text(&self, name: &str, chunk: u8) -> String {
        let Some(&(_, set, tested)) = self.flagged.iter().find(|(t, _, _)| *t == chunk) else {
            return name.to_string();
        };
        let letters: String = flag_letters(chunk)
            .iter()
            .filter(|(_, bit)| tested & bit != 0)
            .map(|&(l, bit)| {
                if set & bit != 0 {
                    l
                } else {
                    l.to_ascii_lowercase()
                }
            })
            .collect();
        format!("{name}:{letters}")
    }

    /// `struct xt_sctp_info` with only the chunk test set: the port ranges
    /// (unused), the chunk map (64 words, of which 8 hold the 256 types),
    /// the mode, four flag tests, their count, the flags and inversions.
    pub(crate) fn info(&self, negate: bool) -> Vec<u8> {
        const CHUNK_TYPES: u32 = 0x04;
        let mut info = XtLayout::new();
        info.u16(0).u16(0).u16(0).u16(0);
        for word in self.map {
            info.u32(word);
        }
        info.bytes(&[], 56 * 4);
        info.u32(1 << self.mode);
        for i in 0..MAX_FLAGGED {
            let (chunk, set, tested) = self.flagged.get(i).copied().unwrap_or_default();
            info.u8(chunk).u8(set).u8(tested);
        }
        info.u32(self.flagged.len() as u32)
            .u32(CHUNK_TYPES)
            .u32(if negate { CHUNK_TYPES } else { 0 });
        info.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(mode: &str, list: &str) -> String {
        ChunkTypes::parse(mode, list).unwrap().text(false)
    }

    /// Pairs read back from Debian's iptables 1.8.9.
    #[test]
    fn lists_print_as_iptables_prints_them() {
        assert_eq!(shown("any", "DATA:eB"), "any DATA:Be");
        assert_eq!(shown("ANY", "data:b"), "any DATA:b");
        assert_eq!(
            shown("any", "DATA:I,ABORT:T,SHUTDOWN_COMPLETE:T,DATA:U"),
            "any DATA:IU,ABORT:T,SHUTDOWN_COMPLETE:T"
        );
        assert_eq!(
            shown(
                "all",
                "DATA:I,COOKIE_ECHO,SHUTDOWN_COMPLETE:T,I_DATA,RE_CONFIG,PAD,FORWARD_TSN,ASCONF"
            ),
            "all DATA:I,COOKIE_ECHO,SHUTDOWN_COMPLETE:T,I_DATA,RE_CONFIG,PAD,FORWARD_TSN,ASCONF"
        );
        assert_eq!(shown("only", "ALL"), "only ALL");
        assert_eq!(shown("any", "DATA,DATA"), "any DATA");
        let listed = ChunkTypes::parse("only", "DATA:eB,ABORT:T").unwrap();
        assert_eq!(listed.text(true), "only 0x0000:Be,0x0006:T");
        assert!(ChunkTypes::parse("any", "INIT:T").is_err());
        assert!(ChunkTypes::parse("any", "FOO").is_err());
        assert!(ChunkTypes::parse("some", "DATA").is_err());
    }

    #[test]
    fn the_kernels_layout() {
        let info = ChunkTypes::parse("all", "DATA:Be,ABORT")
            .unwrap()
            .info(true);
        assert_eq!(info.len(), 296);
        let word = |at: usize| u32::from_ne_bytes(info[at..at + 4].try_into().unwrap());
        assert_eq!(word(8), 1 | 1 << 6);
        assert_eq!(word(264), 2);
        assert_eq!(info[268..271], [0, 0x02, 0x03]);
        assert_eq!((word(280), word(284), word(288)), (1, 4, 4));
    }
}
