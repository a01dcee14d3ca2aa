//! Map lookups as translation values: `KEY map @NAME` loads KEY, a header
//! field, into a register and looks it up in map NAME, whose value takes
//! the key's place in that register. This is what nft 1.0.6 writes for a
//! port map's `dnat to tcp dport map @addresses : tcp dport map @ports`.

use moat_model::Family;
use nftables::expr::{Expression, Map};

use super::super::expr::NlExpr;
use super::fields::{self, Load};

/// The expressions that leave in register `reg` the value `map` gives its
/// key. None unless the key is a whole header field (whose layer-4
/// protocol, if it has one, `l4` has established) and the map is named.
pub(super) fn lookup(
    map: &Map<'_>,
    family: Family,
    l4: Option<u8>,
    reg: u32,
) -> Option<Vec<NlExpr>> {
    let Expression::String(data) = &map.data else {
        return None;
    };
    let set = data
        .strip_prefix('@')
        .filter(|name| !name.is_empty() && !name.contains('\0'))?;
    let field = fields::field(&map.key, family)?;
    if field.high_nibble || field.l4.is_some_and(|needed| Some(needed) != l4) {
        return None;
    }
    let Load::Payload { base, offset, len } = field.load else {
        return None;
    };
    Some(vec![
        NlExpr::Payload {
            reg,
            base,
            offset,
            len,
        },
        NlExpr::Lookup {
            reg,
            set: set.to_string(),
            set_id: None,
        },
    ])
}
