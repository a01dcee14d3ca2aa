//! Route lookups: `fib saddr|daddr [. iif|. oif] type`, the route type of
//! an address that `-m addrtype` compiles to, and `fib saddr [. mark]
//! [. iif] oif`, the interface a reply would leave by, that `-m rpfilter`
//! compiles to. nft keeps either result as a 4-byte host-order number and
//! compares it like any other field (a set of types is a lookup in an
//! anonymous set, see [`super::sets`]).

use nftables::expr::{Fib, FibFlag, FibResult};

use super::fields::{Field, Kind, Load};
use crate::netlink::consts::*;

/// The field a `fib ... type` or `fib ... oif` expression loads: exactly
/// one address, and at most one interface it is limited to, as nft requires.
pub(super) fn field(fib: &Fib) -> Option<Field> {
    let result = match fib.result {
        FibResult::Type => NFT_FIB_RESULT_ADDRTYPE,
        FibResult::Oif => NFT_FIB_RESULT_OIF,
        _ => return None,
    };
    let mut flags = 0;
    for flag in &fib.flags {
        flags |= match flag {
            FibFlag::Saddr => NFTA_FIB_F_SADDR,
            FibFlag::Daddr => NFTA_FIB_F_DADDR,
            FibFlag::Iif => NFTA_FIB_F_IIF,
            FibFlag::Oif => NFTA_FIB_F_OIF,
            FibFlag::Mark => NFTA_FIB_F_MARK,
        };
    }
    let addrs = flags & (NFTA_FIB_F_SADDR | NFTA_FIB_F_DADDR);
    let devs = flags & (NFTA_FIB_F_IIF | NFTA_FIB_F_OIF);
    if addrs.count_ones() != 1 || devs.count_ones() > 1 {
        return None;
    }
    Some(Field {
        load: Load::Fib(result, flags),
        kind: Kind::Host(4),
        l4: None,
        high_nibble: false,
    })
}
