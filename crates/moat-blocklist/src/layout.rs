//! How block lists are laid out in the kernel.
//!
//! ```text
//! table inet moat_block {
//!     set _any.v4 { type ipv4_addr; flags interval; ... }   # guard: every list's addresses (2+ lists)
//!     set cn.v4 { type ipv4_addr; flags interval; comment "moat list cn: country cn from /zones"; elements = {...} }
//!     set cn.v4.except { type ipv4_addr; flags interval; comment "moat list cn: exceptions"; }
//!     set cn.v6 { ... }  set cn.v6.except { ... }
//!     chain input {     # hook input priority -200, policy accept
//!         ip saddr != @_any.v4 ip daddr != @_any.v4 return     # guard (and one for ip6)
//!         ip saddr @cn.v4 ip saddr != @cn.v4.except counter drop comment "moat list cn: in"
//!         ip6 saddr @cn.v6 ip6 saddr != @cn.v6.except counter drop comment "moat list cn: in"
//!     }
//!     chain forward { ... saddr (forward) and daddr (out) rules ... }
//!     chain output { ... daddr (out) rules ... }
//! }
//! ```
//!
//! One table holds every list, so lists never touch moat's iptables tables
//! or anyone else's. Each list is one interval set per family and one rule
//! per direction and family, not one rule per network. With two lists or
//! more, a guard comes first in each chain: an interval set per family
//! holding the union of all lists, looked up (inverted) for both addresses,
//! returning at once for packets in no list — nearly all packets — so they
//! cost two lookups however many lists there are. Exceptions are a second interval set, looked up
//! (inverted) only for packets that matched the list, so an exception
//! skips only its own list's drop — unlike an accept, which would end the
//! whole base chain and skip the other lists too.
//!
//! The base chains run at priority -200 on the input, forward and output
//! hooks: before moat's (and iptables') mangle (-150) and filter (0)
//! chains, so blocked packets never reach the firewall's rules or its
//! counters. A drop is final whatever the order, so the priority is about
//! cost and counters, not correctness; at -200 the chains come after
//! connection tracking has seen the packet on prerouting, and on output
//! they share conntrack's priority, which is harmless for a drop.
//!
//! State lives in the kernel, per network namespace: a list's source is
//! the comment of its sets, its directions are its rules, its exceptions
//! are its exception sets, and its counters are its rules' counters.

use moat_model::Hook;

use crate::BlocklistError;

/// The table that holds every block list.
pub const TABLE: &str = "moat_block";
/// Comment of the table.
pub const TABLE_COMMENT: &str = "moat block lists (moat block list)";
/// Priority of the base chains (see the module documentation).
pub const PRIORITY: i32 = -200;
/// Longest list name.
pub const MAX_NAME_LEN: usize = 40;
/// Prefix of every comment moat puts on a list's sets and rules.
pub const COMMENT_PREFIX: &str = "moat list ";

/// Which traffic a list blocks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets from the list's addresses to this host (input hook, source address).
    In,
    /// Packets from the list's addresses routed through this host (forward hook, source address).
    Forward,
    /// Packets to the list's addresses, from this host (output hook) or
    /// routed through it (forward hook), by destination address.
    Out,
}

impl Direction {
    /// All directions.
    pub const ALL: [Direction; 3] = [Direction::In, Direction::Forward, Direction::Out];

    /// The word users type and listings show.
    pub fn word(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Forward => "forward",
            Direction::Out => "out",
        }
    }

    /// Parses `in`, `forward` or `out` (also `input`, `fwd`, `output`, `inbound`, `outbound`).
    pub fn parse(word: &str) -> Result<Direction, BlocklistError> {
        match word.to_ascii_lowercase().as_str() {
            "in" | "input" | "inbound" => Ok(Direction::In),
            "forward" | "fwd" | "forwarded" => Ok(Direction::Forward),
            "out" | "output" | "outbound" => Ok(Direction::Out),
            _ => Err(BlocklistError::BadDirection(word.to_string())),
        }
    }

    /// The (chain, address field) pairs that carry this direction's rules.
    pub fn slots(self) -> &'static [Slot] {
        match self {
            Direction::In => &[Slot {
                chain: BaseChain::Input,
                field: Field::Source,
            }],
            Direction::Forward => &[Slot {
                chain: BaseChain::Forward,
                field: Field::Source,
            }],
            Direction::Out => &[
                Slot {
                    chain: BaseChain::Output,
                    field: Field::Destination,
                },
                Slot {
                    chain: BaseChain::Forward,
                    field: Field::Destination,
                },
            ],
        }
    }
}

/// The directions a new list gets when none are given: traffic from the
/// listed addresses to the host and through it.
pub const DEFAULT_DIRECTIONS: [Direction; 2] = [Direction::In, Direction::Forward];

/// Which address of the packet a rule tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The source address.
    Source,
    /// The destination address.
    Destination,
}

/// The base chains of [`TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BaseChain {
    /// `input`, at the input hook.
    Input,
    /// `forward`, at the forward hook.
    Forward,
    /// `output`, at the output hook.
    Output,
}

impl BaseChain {
    /// All base chains.
    pub const ALL: [BaseChain; 3] = [BaseChain::Input, BaseChain::Forward, BaseChain::Output];

    /// The chain's name.
    pub fn name(self) -> &'static str {
        match self {
            BaseChain::Input => "input",
            BaseChain::Forward => "forward",
            BaseChain::Output => "output",
        }
    }

    /// The chain's hook.
    pub fn hook(self) -> Hook {
        match self {
            BaseChain::Input => Hook::Input,
            BaseChain::Forward => Hook::Forward,
            BaseChain::Output => Hook::Output,
        }
    }

    /// The base chain called `name`.
    pub fn from_name(name: &str) -> Option<BaseChain> {
        BaseChain::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Where one rule of a list sits: its base chain and the address it tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    /// The base chain.
    pub chain: BaseChain,
    /// The tested address.
    pub field: Field,
}

impl Slot {
    /// The direction this slot belongs to.
    pub fn direction(self) -> Direction {
        match (self.chain, self.field) {
            (BaseChain::Input, _) => Direction::In,
            (BaseChain::Forward, Field::Source) => Direction::Forward,
            _ => Direction::Out,
        }
    }
}

/// Byte offset of the tested address in the network header.
pub fn address_offset(v6: bool, field: Field) -> u32 {
    match (v6, field) {
        (false, Field::Source) => 12,
        (false, Field::Destination) => 16,
        (true, Field::Source) => 8,
        (true, Field::Destination) => 24,
    }
}

/// The field at a network-header offset, for the given family.
pub fn field_at(v6: bool, offset: u32) -> Option<Field> {
    [Field::Source, Field::Destination]
        .into_iter()
        .find(|&f| address_offset(v6, f) == offset)
}

/// Checks a list name: letters, digits, `_` and `-`, starting with a letter
/// or digit, at most [`MAX_NAME_LEN`] characters, and not `country`.
pub fn check_name(name: &str) -> Result<(), BlocklistError> {
    let ok = moat_backend::netlink::is_plain_name(name, MAX_NAME_LEN, b"_-") && name != "country";
    if ok {
        Ok(())
    } else {
        Err(BlocklistError::BadName(name.to_string()))
    }
}

/// The set of list `name` for one family (`cn.v4`, `cn.v6`).
pub fn set_name(name: &str, v6: bool) -> String {
    format!("{name}.{}", if v6 { "v6" } else { "v4" })
}

/// The exception set of list `name` for one family (`cn.v4.except`).
pub fn except_set_name(name: &str, v6: bool) -> String {
    format!("{}.except", set_name(name, v6))
}

/// The list and family a main set name belongs to (`cn.v4` → (`cn`, false)).
pub fn parse_set_name(set: &str) -> Option<(&str, bool)> {
    if let Some(name) = set.strip_suffix(".v4") {
        Some((name, false))
    } else {
        set.strip_suffix(".v6").map(|name| (name, true))
    }
}

/// Comment of a list's rules.
pub fn rule_comment(name: &str, direction: Direction) -> String {
    format!("{COMMENT_PREFIX}{name}: {}", direction.word())
}

/// Comment of a list's exception sets.
pub fn except_comment(name: &str) -> String {
    format!("{COMMENT_PREFIX}{name}: exceptions")
}

/// From how many lists on the table keeps a guard: an interval set per
/// family holding every address of every list, looked up (inverted) by a
/// first rule in each chain that returns at once for packets from and to
/// addresses in no list — most packets — so they cost two lookups, not one
/// per list.
pub const GUARD_MIN_LISTS: usize = 2;

/// The guard set for one family (`_any.v4`); list names cannot start with `_`.
pub fn guard_set_name(v6: bool) -> &'static str {
    if v6 {
        "_any.v6"
    } else {
        "_any.v4"
    }
}

/// Whether a set of [`TABLE`] is a guard set.
pub fn is_guard_set(name: &str) -> bool {
    name.starts_with('_')
}

/// Comment of the guard sets.
pub const GUARD_COMMENT: &str =
    "moat: every address of every list, so packets in none skip the lists at once";

/// Prefix of the name of a list's copy in one of moat's iptables tables.
pub const COPY_PREFIX: &str = moat_nft::layout::BLOCKLIST_SET_PREFIX;

/// The name of list `name`'s copy in one of moat's iptables tables
/// (`blocklist.cn`): what a `-m set --match-set cn` rule looks up.
pub fn copy_set_name(name: &str) -> String {
    moat_nft::layout::blocklist_set_name(name)
}

/// Comment of a list's copy in one of moat's iptables tables.
pub fn copy_comment(name: &str) -> String {
    format!("{COMMENT_PREFIX}{name}: copy for iptables rules (moat block keeps it current)")
}

/// The list a set in one of moat's iptables tables is a copy of, by its name.
pub fn copy_of(set: &str) -> Option<&str> {
    set.strip_prefix(COPY_PREFIX)
        .filter(|name| check_name(name).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("cn").is_ok());
        assert!(check_name("spamhaus-drop_v2").is_ok());
        for bad in ["", "-x", "a.b", "a b", "country", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(set_name("cn", true), "cn.v6");
        assert_eq!(except_set_name("cn", false), "cn.v4.except");
        assert_eq!(parse_set_name("cn.v4"), Some(("cn", false)));
        assert_eq!(parse_set_name("cn.v4.except"), None);
    }

    #[test]
    fn directions_map_to_slots() {
        for d in Direction::ALL {
            for s in d.slots() {
                assert_eq!(s.direction(), d);
            }
            assert_eq!(Direction::parse(d.word()).unwrap(), d);
        }
        assert_eq!(field_at(true, 24), Some(Field::Destination));
        assert_eq!(field_at(false, 9), None);
    }
}
