//! The user data the driver writes (see [`Udata`]): rule and element
//! comments, and the byte orders of port maps' maps.

use crate::netlink::consts::*;
use crate::netlink::udata::Udata;

/// A comment (of a rule or an element) as one NUL-terminated text TLV of
/// `kind`; None when it holds a NUL or does not fit the kernel's limit.
pub(crate) fn comment(kind: u8, text: &str) -> Option<Vec<u8>> {
    if text.len() + 3 > USERDATA_MAXLEN || text.contains('\0') {
        return None;
    }
    let mut out = Udata::default();
    out.string(kind, text);
    Some(out.0)
}

/// What nft 1.0.6 stores with a map whose keys and values are big-endian
/// (ports and addresses): both byte orders, and that values are not intervals.
pub(crate) fn big_endian_map() -> Vec<u8> {
    let mut out = Udata::default();
    out.u32(UDATA_SET_KEYBYTEORDER, BYTEORDER_BIG_ENDIAN);
    out.u32(UDATA_SET_DATABYTEORDER, BYTEORDER_BIG_ENDIAN);
    out.u32(UDATA_SET_DATA_INTERVAL, 0);
    out.0
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
