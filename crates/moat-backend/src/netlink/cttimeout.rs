//! Conntrack timeout policies (`nfct add timeout NAME ...`): the kernel's
//! nfnetlink_cttimeout subsystem keeps them by name, outside nf_tables.
//! `CT --timeout NAME` rules get an nf_tables ct timeout object that copies
//! the policy; its timeouts are the same nested attributes in both places,
//! so a copy can be read back from the object once the policy is gone.

use super::consts::*;
use super::socket::{none_if_missing, NfSocket};
use super::wire::{nft_type, Attrs};
use super::NetlinkError;

/// A timeout policy as the kernel keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutPolicy {
    /// The layer-4 protocol number the policy is for.
    pub l4proto: u8,
    /// Its timeouts: the nested attributes of the policy's data, as is.
    pub data: Vec<u8>,
}

impl TimeoutPolicy {
    /// The policy of `attrs`, whose protocol and timeouts are attributes
    /// `l4proto` and `data` (nfct's policy and nf_tables' object number
    /// them differently); `what` names them should they be damaged.
    fn from_attrs(
        attrs: Attrs<'_>,
        l4proto: u16,
        data: u16,
        what: &str,
    ) -> Result<TimeoutPolicy, NetlinkError> {
        let damaged = || NetlinkError::Malformed(format!("a damaged {what}"));
        Ok(TimeoutPolicy {
            l4proto: *attrs
                .get(l4proto)
                .and_then(|v| v.first())
                .ok_or_else(damaged)?,
            data: attrs.get(data).ok_or_else(damaged)?.to_vec(),
        })
    }
}

impl NfSocket {
    /// The timeout policy named `name`; `None` when there is none.
    pub fn timeout_policy(&mut self, name: &str) -> Result<Option<TimeoutPolicy>, NetlinkError> {
        let ty = (NFNL_SUBSYS_CTNETLINK_TIMEOUT << 8) | IPCTNL_MSG_TIMEOUT_GET;
        let mut policy = None;
        let asked = self.exchange_typed(
            ty,
            NLM_F_ACK,
            0,
            &|w| w.attr_str(CTA_TIMEOUT_NAME, name),
            &mut |msg| {
                let attrs = msg.attrs().checked()?;
                let what = "timeout policy";
                let found =
                    TimeoutPolicy::from_attrs(attrs, CTA_TIMEOUT_L4PROTO, CTA_TIMEOUT_DATA, what)?;
                policy = Some(found);
                Ok::<(), NetlinkError>(())
            },
        );
        Ok(none_if_missing(asked)?.and(policy))
    }

    /// The timeouts that ct timeout object `name` of nf_tables table
    /// `table` (family `proto`) holds; `None` when there is no such object.
    pub fn timeout_object(
        &mut self,
        proto: u8,
        table: &str,
        name: &str,
    ) -> Result<Option<TimeoutPolicy>, NetlinkError> {
        let mut policy = None;
        let asked = self.exchange_typed(
            nft_type(NFT_MSG_GETOBJ),
            NLM_F_ACK,
            proto,
            &|w| {
                w.attr_str(NFTA_OBJ_TABLE, table);
                w.attr_str(NFTA_OBJ_NAME, name);
                w.attr_u32(NFTA_OBJ_TYPE, NFT_OBJECT_CT_TIMEOUT);
            },
            &mut |msg| {
                let attrs: Attrs<'_> = msg.attrs().checked()?;
                let what = "ct timeout object";
                let object = Attrs(attrs.get(NFTA_OBJ_DATA).unwrap_or_default());
                let found = TimeoutPolicy::from_attrs(
                    object,
                    NFTA_CT_TIMEOUT_L4PROTO,
                    NFTA_CT_TIMEOUT_DATA,
                    what,
                )?;
                policy = Some(found);
                Ok::<(), NetlinkError>(())
            },
        );
        Ok(none_if_missing(asked)?.and(policy))
    }
}
