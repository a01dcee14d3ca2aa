//! `-m set` and `-j SET` on the kernel's ipsets: the kernel's xt_set
//! module does the work (through `nft_compat`, as under iptables-nft),
//! given the sets' indexes, which only the kernel knows (see
//! `moat_backend::find_ipset`).

use moat_model::{
    IpSetUpdate, Match, SetCounterTest, SetMatchOptions, SetSide, XtExtension, XtLayout,
};

/// The index of no set (`IPSET_INVALID_ID`), for a target's unused sets.
const NO_SET: u16 = 0xffff;
/// xt_SET's flag of `--exist` (`IPSET_FLAG_EXIST`).
const EXIST: u32 = 1;
/// The timeout of an element added without `--timeout` (`IPSET_NO_TIMEOUT`).
const NO_TIMEOUT: u32 = u32::MAX;

/// The bits of `sides` that name the source (`IPSET_DIM_*_SRC`).
fn source_bits(sides: &[SetSide]) -> u8 {
    sides
        .iter()
        .enumerate()
        .filter(|(_, side)| **side == SetSide::Source)
        .fold(0, |bits, (i, _)| bits | 1 << (i + 1))
}

/// `struct xt_set_info` of the set of kernel index `index` looked up with
/// `sides` (none: no set), with `extra` flags.
fn set_info(layout: &mut XtLayout, index: Option<u16>, sides: &[SetSide], extra: u8) {
    let dim = u8::try_from(sides.len()).unwrap_or(0);
    match index {
        Some(index) => layout.u16(index).u8(dim).u8(source_bits(sides) | extra),
        None => layout.u16(NO_SET).u8(0).u8(0),
    };
}

/// The xt_SET target (revision 3) that `update` is, given the kernel
/// indexes of its sets (`add`, `del`, in that order).
pub fn ipset_update_target(
    update: &IpSetUpdate,
    add: Option<u16>,
    del: Option<u16>,
) -> XtExtension {
    let sides = |set: &Option<(String, Vec<SetSide>)>| {
        set.as_ref().map(|(_, s)| s.clone()).unwrap_or_default()
    };
    let mut layout = XtLayout::new();
    set_info(&mut layout, add, &sides(&update.add), 0);
    set_info(&mut layout, del, &sides(&update.del), 0);
    // No --map-set.
    set_info(&mut layout, None, &[], 0);
    layout
        .u32(if update.exist { EXIST } else { 0 })
        .u32(update.timeout.unwrap_or(NO_TIMEOUT));
    XtExtension::new(
        "SET",
        3,
        layout.finish(),
        format!("-j SET{}", update.text(false)),
    )
}

/// xt_set's flag of a negated match (`IPSET_INV_MATCH`).
const INV_MATCH: u8 = 1;
/// Its flags of the options (`IPSET_FLAG_*`).
const SKIP_COUNTER_UPDATE: u32 = 1 << 3;
const SKIP_SUBCOUNTER_UPDATE: u32 = 1 << 4;
const RETURN_NOMATCH: u32 = 1 << 7;

/// The counter test as xt_set numbers it (`IPSET_COUNTER_*`; 0 is none).
fn counter_op(test: Option<(SetCounterTest, u64)>) -> (u8, u64) {
    match test {
        None => (0, 0),
        Some((SetCounterTest::Equal, n)) => (1, n),
        Some((SetCounterTest::NotEqual, n)) => (2, n),
        Some((SetCounterTest::Less, n)) => (3, n),
        Some((SetCounterTest::Greater, n)) => (4, n),
    }
}

/// The xt_set match (revision 4) that `m`, a `-m set` match, is on the
/// ipset of kernel index `index`; None when `m` is no set match.
pub fn ipset_match(m: &Match, index: u16) -> Option<XtExtension> {
    let Match::InSet {
        sides,
        negate,
        options,
        ..
    } = m
    else {
        return None;
    };
    let SetMatchOptions {
        return_nomatch,
        skip_counter_update,
        skip_subcounter_update,
        packets,
        bytes,
    } = *options;
    let flags = [
        (return_nomatch, RETURN_NOMATCH),
        (skip_counter_update, SKIP_COUNTER_UPDATE),
        (skip_subcounter_update, SKIP_SUBCOUNTER_UPDATE),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit);
    let mut layout = XtLayout::new();
    let inverted = if *negate { INV_MATCH } else { 0 };
    set_info(&mut layout, Some(index), sides, inverted);
    // Two struct ip_set_counter_match { __aligned_u64 value; __u8 op; }.
    for test in [packets, bytes] {
        let (op, value) = counter_op(test);
        layout.u64(value).u8(op).align(8);
    }
    layout.u32(flags);
    Some(XtExtension::new(
        "set",
        4,
        layout.finish(),
        moat_model::describe::match_text(m),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(sides: Vec<SetSide>, negate: bool, options: SetMatchOptions) -> Match {
        Match::InSet {
            name: "s".into(),
            sides,
            negate,
            options,
        }
    }

    /// The bytes iptables-nft 1.8.9 sends for the same options (read back
    /// from the kernel).
    #[test]
    fn the_layout_is_xt_sets_revision_4() {
        use SetSide::*;
        let hex = |m: &Match, index| {
            ipset_match(m, index)
                .unwrap()
                .info
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        // iptables-nft's own bytes, read back from the kernel.
        let plain = set(vec![Source], false, SetMatchOptions::default());
        assert_eq!(
            hex(&plain, 0),
            "000001020000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        );
        let negated = set(vec![Destination], true, SetMatchOptions::default());
        assert_eq!(
            hex(&negated, 0),
            "000001010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        );
        let nomatch = SetMatchOptions {
            return_nomatch: true,
            ..SetMatchOptions::default()
        };
        assert_eq!(
            hex(&set(vec![Source, Destination], false, nomatch), 1),
            "010002020000000000000000000000000000000000000000000000000000000000000000000000008000000000000000"
        );
        let counters = SetMatchOptions {
            packets: Some((SetCounterTest::Greater, 5)),
            bytes: Some((SetCounterTest::Less, 100)),
            ..SetMatchOptions::default()
        };
        assert_eq!(
            hex(&set(vec![Source], false, counters), 0),
            "000001020000000005000000000000000400000000000000640000000000000003000000000000000000000000000000"
        );
        let quiet = SetMatchOptions {
            skip_counter_update: true,
            skip_subcounter_update: true,
            ..SetMatchOptions::default()
        };
        assert_eq!(
            hex(&set(vec![Source, Source, Destination], false, quiet), 0),
            "000003060000000000000000000000000000000000000000000000000000000000000000000000001800000000000000"
        );
    }

    #[test]
    fn the_set_target_is_xt_sets_revision_3() {
        let hex = |update: &IpSetUpdate, add, del| {
            ipset_update_target(update, add, del)
                .info
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        // iptables-nft's own bytes, read back from the kernel.
        let add = IpSetUpdate {
            add: Some(("s1".into(), vec![SetSide::Source])),
            del: None,
            exist: false,
            timeout: None,
        };
        assert_eq!(
            hex(&add, Some(0), None),
            "00000102ffff0000ffff000000000000ffffffff00000000"
        );
        let del = IpSetUpdate {
            add: None,
            del: Some(("s2".into(), vec![SetSide::Source, SetSide::Destination])),
            exist: false,
            timeout: None,
        };
        assert_eq!(
            hex(&del, None, Some(1)),
            "ffff000001000202ffff000000000000ffffffff00000000"
        );
        let again = IpSetUpdate {
            exist: true,
            timeout: Some(60),
            ..add
        };
        assert_eq!(
            hex(&again, Some(0), None),
            "00000102ffff0000ffff0000010000003c00000000000000"
        );
    }
}
