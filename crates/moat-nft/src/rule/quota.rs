//! `-m quota`: an anonymous nf_tables quota.
//!
//! iptables' quota matches a packet when the bytes counted so far plus the
//! packet's still fit in the budget, and once one does not fit, no packet
//! matches again. nf_tables' `quota until N bytes` adds each packet's bytes
//! and matches while the sum stays below N, so `--quota B` is
//! `quota until B+1 bytes` (and `! --quota B` is `quota over B+1 bytes`).
//!
//! The nftables crate writes the byte count as a 32-bit number; a larger
//! one is carried in the unit (`moat-bytes:N`) and put right by
//! [`super::finish_json`] or read back with [`quota_bytes`].

use std::borrow::Cow;

use moat_model::Family;
use nftables::stmt::{Quota, QuotaOrQuotaRef, Statement};
use serde_json::{Map, Value};

use super::build::never;

/// The unit prefix that carries a byte count over 32 bits.
const BYTES_MARKER: &str = "moat-bytes:";

/// The largest quota the kernel keeps (it refuses more than `i64::MAX`).
const KERNEL_MAX: u64 = i64::MAX as u64;

/// Compiles `--quota bytes` (`negate` for `! --quota`).
pub(super) fn compile(bytes: u64, negate: bool, family: Family) -> Vec<Statement<'static>> {
    let until = bytes.saturating_add(1);
    if until > KERNEL_MAX {
        // A budget of more than 8 EiB: no rule ever sees it used up.
        return if negate {
            vec![never(family)]
        } else {
            Vec::new()
        };
    }
    let (val, val_unit) = match u32::try_from(until) {
        Ok(val) => (val, Cow::Borrowed("bytes")),
        Err(_) => (0, Cow::Owned(format!("{BYTES_MARKER}{until}"))),
    };
    vec![Statement::Quota(QuotaOrQuotaRef::Quota(Quota {
        val,
        val_unit,
        used: None,
        used_unit: None,
        inv: negate.then_some(true),
    }))]
}

/// The byte count of an anonymous quota statement compiled here (`None`
/// for units other than bytes).
pub fn quota_bytes(quota: &Quota<'_>) -> Option<u64> {
    match quota.val_unit.as_ref() {
        "bytes" => Some(u64::from(quota.val)),
        unit => unit.strip_prefix(BYTES_MARKER)?.parse().ok(),
    }
}

/// Puts a carried byte count of a quota statement's JSON object in place.
pub(super) fn finish(quota: &mut Map<String, Value>) {
    let carried = quota
        .get("val_unit")
        .and_then(Value::as_str)
        .and_then(|u| u.strip_prefix(BYTES_MARKER))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(bytes) = carried {
        quota.insert("val".into(), Value::from(bytes));
        quota.insert("val_unit".into(), Value::from("bytes"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{matches_json, v4, v6};
    use moat_model::Match;

    #[test]
    fn the_budget_is_one_below_nft_s_limit() {
        let m = Match::Quota {
            bytes: 1000,
            negate: false,
        };
        assert_eq!(
            matches_json(&[m], v4()),
            json!([{"quota": {"val": 1001, "val_unit": "bytes"}}])
        );
        let m = Match::Quota {
            bytes: 10_737_418_240,
            negate: true,
        };
        assert_eq!(
            matches_json(&[m], v6()),
            json!([{"quota": {"val": 10_737_418_241u64, "val_unit": "bytes", "inv": true}}])
        );
    }

    #[test]
    fn budgets_beyond_the_kernel_never_run_out() {
        let m = Match::Quota {
            bytes: u64::MAX,
            negate: false,
        };
        assert_eq!(matches_json(&[m], v4()), json!([]));
    }
}
