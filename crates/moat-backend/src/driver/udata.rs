//! User data as libnftnl writes it: TLVs (a one-byte type, a one-byte
//! length, the value) the kernel keeps with a rule, a set or an element
//! without reading them.

use super::consts::*;

/// Appends a TLV of `kind` holding `value`.
fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) -> Option<()> {
    out.extend_from_slice(&[kind, u8::try_from(value.len()).ok()?]);
    out.extend_from_slice(value);
    Some(())
}

/// A comment (of a rule or an element) as one NUL-terminated text TLV of
/// `kind`; None when it holds a NUL or does not fit the kernel's limit.
pub(crate) fn comment(kind: u8, text: &str) -> Option<Vec<u8>> {
    if text.len() + 3 > USERDATA_MAXLEN || text.contains('\0') {
        return None;
    }
    let mut value = Vec::with_capacity(text.len() + 1);
    value.extend_from_slice(text.as_bytes());
    value.push(0);
    let mut out = Vec::with_capacity(value.len() + 2);
    tlv(&mut out, kind, &value)?;
    Some(out)
}

/// What nft 1.0.6 stores with a map whose keys and values are big-endian
/// (ports and addresses): both byte orders, and that values are not intervals.
pub(crate) fn big_endian_map() -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    for (kind, value) in [
        (UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG_ENDIAN),
        (UDATA_SET_DATABYTEORDER, BYTEORDER_BIG_ENDIAN),
        (UDATA_SET_DATA_INTERVAL, 0),
    ] {
        let _ = tlv(&mut out, kind, &value.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_is_a_nul_terminated_tlv_and_bounded() {
        assert_eq!(comment(0, "hello").unwrap(), b"\x00\x06hello\x00");
        assert!(comment(0, &"x".repeat(253)).is_some());
        assert!(comment(0, &"x".repeat(254)).is_none());
        assert!(comment(0, "a\0b").is_none());
    }

    #[test]
    fn map_userdata_is_what_nft_sends() {
        let two = 2u32.to_ne_bytes();
        let mut expected = vec![0, 4];
        expected.extend_from_slice(&two);
        expected.extend_from_slice(&[1, 4]);
        expected.extend_from_slice(&two);
        expected.extend_from_slice(&[6, 4, 0, 0, 0, 0]);
        assert_eq!(big_endian_map(), expected);
    }
}
