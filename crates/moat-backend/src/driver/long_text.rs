//! Rule texts longer than a rule's user data holds.
//!
//! moat keeps each rule's iptables text with the rule, in its user data,
//! which the kernel limits to 256 bytes: 253 bytes of text. A longer text
//! (a 250-character `--comment`, a hashlimit with every option) keeps its
//! first 253 bytes there and the rest in xt_comment matches placed after
//! the rule's verdict, 255 bytes each: the kernel stops at the verdict, so
//! they cost packets nothing, and they are what iptables-nft uses for
//! comments itself. Reading a rule joins the pieces again.

use super::expr::NlExpr;
use crate::netlink::consts::USERDATA_MAXLEN;
use moat_model::text::first_bytes;

/// The most text a rule's user data holds: less the TLV's type, length and NUL.
pub(crate) const TEXT_IN_UDATA: usize = USERDATA_MAXLEN - 3;
/// The size of xt_comment's argument, `char comment[256]`, NUL-terminated.
const COMMENT_INFO: usize = 256;
/// The xtables match that carries the pieces.
const COMMENT_MATCH: &str = "comment";

/// Splits `text` into the part the user data holds and the matches that
/// carry the rest (none for a text that fits).
pub(crate) fn split(text: &str) -> (&str, Vec<NlExpr>) {
    let head = first_bytes(text, TEXT_IN_UDATA);
    let mut rest = &text[head.len()..];
    let mut pieces = Vec::new();
    while !rest.is_empty() {
        let piece = first_bytes(rest, COMMENT_INFO - 1);
        let mut info = piece.as_bytes().to_vec();
        info.resize(COMMENT_INFO, 0);
        pieces.push(NlExpr::XtMatch {
            name: COMMENT_MATCH.to_string(),
            rev: 0,
            info,
            proto: None,
        });
        rest = &rest[piece.len()..];
    }
    (head, pieces)
}

/// The piece of rule text a dumped xtables match carries, when it is an
/// xt_comment match (its name and argument as dumped).
pub(crate) fn piece(name: &[u8], info: &[u8]) -> Option<String> {
    let name = name.split(|&b| b == 0).next()?;
    if name != COMMENT_MATCH.as_bytes() {
        return None;
    }
    let text = info.split(|&b| b == 0).next()?;
    Some(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(text: &str) -> String {
        let (head, matches) = split(text);
        let mut out = head.to_string();
        for m in &matches {
            let NlExpr::XtMatch { name, info, .. } = m else {
                panic!("{m:?}")
            };
            assert_eq!(info.len(), COMMENT_INFO);
            assert_eq!(info.last(), Some(&0));
            out.push_str(&piece(name.as_bytes(), info).unwrap());
        }
        out
    }

    #[test]
    fn long_texts_split_and_join_on_character_boundaries() {
        assert!(split(&"x".repeat(253)).1.is_empty());
        assert_eq!(split(&"x".repeat(254)).1.len(), 1);
        assert_eq!(split(&"x".repeat(253 + 255 + 1)).1.len(), 2);
        for text in [
            "x".repeat(254),
            "é".repeat(300),
            format!("-m comment --comment \"{}\" -j ACCEPT", "ü€".repeat(90)),
        ] {
            assert_eq!(joined(&text), text);
        }
        assert_eq!(piece(b"string\0", b"x\0"), None);
    }
}
