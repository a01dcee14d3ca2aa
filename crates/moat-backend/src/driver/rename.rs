//! Renaming a user chain nothing jumps to: one message naming the chain by
//! its handle, as iptables-nft renames.

use moat_model::{Family, Stage};
use moat_nft::layout::table_name;

use super::batch::{Batch, Origin};
use super::encode::nfproto;
use super::error::DriverError;
use crate::netlink::consts::*;
use crate::netlink::wire::{be_u32, be_u64};
use crate::netlink::NfSocket;

/// Renames user chain `from` of moat's table to `to` when no rule jumps
/// to it (the kernel counts no user of it); `Ok(false)`, changing nothing,
/// when one does or the kernel does not say.
pub(crate) fn rename_unused_chain(
    sock: &mut NfSocket,
    family: Family,
    stage: Stage,
    from: &str,
    to: &str,
) -> Result<bool, DriverError> {
    let table = table_name(stage);
    let proto = nfproto(family);
    let mut found = None;
    let build = |w: &mut crate::netlink::wire::Writer| {
        w.attr_str(NFTA_CHAIN_TABLE, table);
        w.attr_str(NFTA_CHAIN_NAME, from);
    };
    let asked = sock.request(NFT_MSG_GETCHAIN, NLM_F_ACK, proto, &build, &mut |msg| {
        let attrs = msg.attrs();
        let handle = attrs.get(NFTA_CHAIN_HANDLE).and_then(be_u64);
        let users = attrs.get(NFTA_CHAIN_USE).and_then(be_u32);
        found = found.or(handle.zip(users));
        Ok::<_, DriverError>(())
    });
    let Ok(()) = asked else {
        return Ok(false);
    };
    let Some((handle, 0)) = found else {
        return Ok(false);
    };
    let mut batch = Batch::new(sock.next_seq());
    let m = batch.begin(NFT_MSG_NEWCHAIN, 0, proto, Origin { table: 0, op: 0 });
    batch.w().attr_str(NFTA_CHAIN_TABLE, table);
    batch.w().attr_u64(NFTA_CHAIN_HANDLE, handle);
    batch.w().attr_str(NFTA_CHAIN_NAME, to);
    batch.end(m);
    let sealed = batch.seal(true);
    sock.skip_seq(sealed.end_seq);
    match sock.send_batch(&sealed.bytes, sealed.begin_seq, sealed.last_seq)? {
        None => Ok(true),
        Some(refusal) => Err(DriverError::Refused {
            what: format!("rename chain {from} to {to}"),
            errno: refusal.errno,
            detail: refusal.detail,
        }),
    }
}
