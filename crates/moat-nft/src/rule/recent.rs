//! `-m recent`: lists of recently seen addresses, kept by the kernel's own
//! xt_recent module (revision 1) through `nft_compat`, as iptables-nft
//! does.
//!
//! The lists are the kernel's: shared by name by every rule of every table
//! in the namespace, listed and edited in `/proc/net/xt_recent/NAME`, with
//! every option iptables has (`--hitcount`, `--rttl`, `--reap`, `--mask`, a
//! different `--seconds` per rule). nf_tables sets cannot count hits per
//! address or compare stored times, so no native form behaves the same.

use std::net::IpAddr;

use moat_model::{RecentAction, SetSide, XtExtension, XtLayout};
use nftables::stmt::Statement;

use super::{refuse, CompileError};

/// The longest list name (`XT_RECENT_NAME_LEN` less its terminating zero).
const NAME_FIELD: usize = 200;
/// xt_recent's `check_set` bits.
const CHECK: u8 = 0x01;
const SET: u8 = 0x02;
const UPDATE: u8 = 0x04;
const REMOVE: u8 = 0x08;
const TTL: u8 = 0x10;
const REAP: u8 = 0x20;

/// The parameters of a `-m recent` match.
pub(super) struct RecentSpec<'a> {
    /// The list's name.
    pub name: &'a str,
    /// What the match does with the list.
    pub action: RecentAction,
    /// `--seconds`: only entries seen this recently count.
    pub seconds: Option<u32>,
    /// `--hitcount`: entries must have been seen this often.
    pub hitcount: Option<u32>,
    /// Which address is listed.
    pub side: SetSide,
    /// The match is inverted.
    pub negate: bool,
    /// `--rttl`.
    pub rttl: bool,
    /// `--reap`.
    pub reap: bool,
    /// `--mask`, when not every bit.
    pub mask: Option<IpAddr>,
}

/// The address mask as the structure's 16-byte field. Without a mask every
/// byte is set, in IPv4 too, as iptables fills it: the kernel keeps one
/// mask per list name, from the rule that made the list, and applies all 16
/// bytes to the IPv6 addresses a list of the same name also holds.
fn mask_field(mask: Option<IpAddr>) -> [u8; 16] {
    let mut field = [0u8; 16];
    match mask {
        Some(IpAddr::V4(m)) => field[..4].copy_from_slice(&m.octets()),
        Some(IpAddr::V6(m)) => field.copy_from_slice(&m.octets()),
        None => field.fill(0xff),
    }
    field
}

/// Compiles a recently-seen-list match.
pub(super) fn compile(spec: &RecentSpec) -> Result<Vec<Statement<'static>>, CompileError> {
    if spec.name.is_empty() || spec.name.len() >= NAME_FIELD || spec.name.contains('/') {
        return refuse(format!(
            "recent: \"{}\" is not a usable list name (1 to {} characters, no /)",
            spec.name,
            NAME_FIELD - 1
        ));
    }
    let mut check_set = match spec.action {
        RecentAction::Set => SET,
        RecentAction::Check => CHECK,
        RecentAction::Update => UPDATE,
        RecentAction::Remove => REMOVE,
    };
    if spec.rttl {
        check_set |= TTL;
    }
    if spec.reap {
        check_set |= REAP;
    }
    let info = XtLayout::new()
        .u32(spec.seconds.unwrap_or(0))
        .u32(spec.hitcount.unwrap_or(0))
        .u8(check_set)
        .u8(u8::from(spec.negate))
        .bytes(spec.name.as_bytes(), NAME_FIELD)
        .u8(match spec.side {
            SetSide::Source => 0,
            SetSide::Destination => 1,
        })
        .align(4)
        .bytes(&mask_field(spec.mask), 16)
        .finish();
    let ext = XtExtension::new("recent", 1, info, String::new());
    Ok(vec![super::xt::statement(&ext)])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{compile, v4};
    use super::super::xt::parse_statement;
    use moat_model::{Action, Match, RecentAction, Rule, SetSide};

    fn recent(action: RecentAction, seconds: Option<u32>, hitcount: Option<u32>) -> Rule {
        Rule {
            matches: vec![Match::Recent {
                name: "ssh".into(),
                action,
                seconds,
                hitcount,
                side: SetSide::Source,
                negate: false,
                rttl: false,
                reap: false,
                mask: None,
            }],
            ..Rule::new(Action::Drop)
        }
    }

    #[test]
    fn the_structure_is_xt_recents_revision_1() {
        let rule = recent(RecentAction::Update, Some(60), Some(4));
        let compiled = compile(&rule, v4()).unwrap();
        assert!(compiled.sets.is_empty());
        let xt = parse_statement(&compiled.stmts[0]).unwrap();
        let info = xt.info;
        assert_eq!((xt.name.as_str(), xt.rev, info.len()), ("recent", 1, 232));
        assert_eq!(u32::from_ne_bytes(info[0..4].try_into().unwrap()), 60);
        assert_eq!(u32::from_ne_bytes(info[4..8].try_into().unwrap()), 4);
        assert_eq!(info[8], 0x04);
        assert_eq!(&info[10..14], b"ssh\0");
        // No --mask: all 16 bytes set, in IPv4 too, as iptables fills it.
        assert_eq!(&info[212..228], &[0xff; 16]);
    }

    #[test]
    fn unusable_names_are_refused() {
        let mut rule = recent(RecentAction::Set, None, None);
        if let Match::Recent { name, .. } = &mut rule.matches[0] {
            *name = "a/b".into();
        }
        assert!(compile(&rule, v4()).is_err());
    }
}
