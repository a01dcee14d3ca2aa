//! The kernel's verdicts in its replies: `NLMSG_ERROR` messages (errors
//! and acknowledgements) and the code at the end of a dump.

use netlink_packet_core::NetlinkBuffer;

use super::consts::{NLMSGERR_ATTR_MSG, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use super::wire::{align4, string, Attrs, Message, NLMSG_HDRLEN};
use super::NetlinkError;

/// An `NLMSG_ERROR` message: the error code (0 for an acknowledgement), the
/// sequence number of the request it answers, and the kernel's extended-ack
/// text if it gave one.
pub(crate) fn parse_error(msg: &Message<'_>) -> Result<(i32, u32, Option<String>), NetlinkError> {
    let damaged = || NetlinkError::Malformed("a damaged error message from the kernel".into());
    let p = msg.payload;
    let code = p
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .ok_or_else(damaged)?;
    let request = NetlinkBuffer::new(p.get(4..4 + NLMSG_HDRLEN).ok_or_else(damaged)?);
    let mut detail = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // With NETLINK_CAP_ACK the request is not echoed: only its header.
        let tlvs = if msg.flags & NLM_F_CAPPED != 0 {
            4 + NLMSG_HDRLEN
        } else {
            4 + align4(request.length() as usize)
        };
        detail = p
            .get(tlvs..)
            .and_then(|t| Attrs(t).get(NLMSGERR_ATTR_MSG))
            .map(string);
    }
    Ok((code, request.sequence_number(), detail))
}

/// The error code at the end of a dump (`NLMSG_DONE`); 0 when it went well.
pub(crate) fn done_code(msg: &Message<'_>) -> i32 {
    msg.payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_error_gives_code_sequence_and_text() {
        let mut payload = (-libc::ENOENT).to_ne_bytes().to_vec();
        let mut request = [0u8; NLMSG_HDRLEN];
        request[8..12].copy_from_slice(&77u32.to_ne_bytes());
        payload.extend_from_slice(&request);
        payload.extend_from_slice(&[8, 0, 1, 0, b'n', b'o', 0, 0]);
        let mut msg = Message {
            ty: 2,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 77,
            payload: &payload,
        };
        let (code, seq, detail) = parse_error(&msg).unwrap();
        assert_eq!(
            (code, seq, detail.as_deref()),
            (-libc::ENOENT, 77, Some("no"))
        );
        msg.payload = &payload[..10];
        assert!(parse_error(&msg).is_err());
        assert_eq!(done_code(&msg), -libc::ENOENT);
    }
}
