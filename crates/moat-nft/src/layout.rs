//! How moat lays out its nf_tables objects: one table per stage and family,
//! a base chain per hook that jumps to the user-visible chain of the same
//! hook, then counts the packets its policy decides.
//!
//! ```text
//! table ip moat_filter {
//!     chain moat-input {                      # base chain, hook input priority 0
//!         type filter hook input priority filter; policy drop;
//!         jump INPUT
//!         counter                             # policy hits (iptables' policy counters)
//!     }
//!     chain INPUT { ...rules... }             # the chain users see and edit
//! }
//! ```

use moat_model::{Family, Hook, Stage};
use nftables::types::{NfChainType, NfFamily, NfHook};

/// Prefix of moat's base chains; user chains may not start with it.
pub const BASE_CHAIN_PREFIX: &str = moat_model::RESERVED_CHAIN_PREFIX;

/// Prefix of the sets in moat's tables that copy a moat block list, for
/// `-m set --match-set NAME` rules (the block-list tool keeps them filled).
pub const BLOCKLIST_SET_PREFIX: &str = "blocklist.";

/// The set a `-m set --match-set name` rule looks up: block list `name`'s
/// copy in the rule's table (`blocklist.cn`).
pub fn blocklist_set_name(list: &str) -> String {
    format!("{BLOCKLIST_SET_PREFIX}{list}")
}

/// The nf_tables table that holds `stage` for `family` (e.g. `moat_filter`).
pub fn table_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Filter => "moat_filter",
        Stage::Nat => "moat_nat",
        Stage::Mangle => "moat_mangle",
        Stage::Raw => "moat_raw",
        Stage::Security => "moat_security",
    }
}

/// The word nft uses for `family`'s tables: `ip` or `ip6`.
pub fn family_word(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    }
}

/// The nf_tables family of `family`.
pub fn nf_family(family: Family) -> NfFamily {
    match family {
        Family::Ipv4 => NfFamily::IP,
        Family::Ipv6 => NfFamily::IP6,
    }
}

/// The name of moat's base chain at `hook` (e.g. `moat-input`).
pub fn base_chain_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Prerouting => "moat-prerouting",
        Hook::Input => "moat-input",
        Hook::Forward => "moat-forward",
        Hook::Output => "moat-output",
        Hook::Postrouting => "moat-postrouting",
    }
}

/// The hook of base chain `name`, if it is one of moat's base chains.
pub fn hook_of_base_chain(name: &str) -> Option<Hook> {
    [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ]
    .into_iter()
    .find(|&h| base_chain_name(h) == name)
}

/// The nf_tables hook of `hook`.
pub fn nf_hook(hook: Hook) -> NfHook {
    match hook {
        Hook::Prerouting => NfHook::Prerouting,
        Hook::Input => NfHook::Input,
        Hook::Forward => NfHook::Forward,
        Hook::Output => NfHook::Output,
        Hook::Postrouting => NfHook::Postrouting,
    }
}

/// The nf_tables chain type of `stage`'s base chain at `hook`.
pub fn chain_type(stage: Stage, hook: Hook) -> NfChainType {
    match (stage, hook) {
        (Stage::Nat, _) => NfChainType::NAT,
        (Stage::Mangle, Hook::Output) => NfChainType::Route,
        _ => NfChainType::Filter,
    }
}

/// The priority just after connection tracking (`NF_IP_PRI_CONNTRACK + 1`),
/// where moat's raw table runs when it assigns conntrack helpers: nf_tables
/// gives a helper only to a connection conntrack has made (iptables' CT
/// target attaches it to a template before conntrack instead, which
/// xt_CT does only in a table named `raw`).
pub const AFTER_CONNTRACK_PRIORITY: i32 = -199;

/// The ct helper object of a table that `CT --helper helper` rules for
/// layer-4 protocol `proto` refer to (`helper-ftp-6`).
pub fn ct_helper_object_name(helper: &str, proto: u8) -> String {
    format!("helper-{helper}-{proto}")
}

/// The ct timeout object of a table that `CT --timeout policy` rules for
/// layer-4 protocol `proto` refer to (`timeout-dns-17`), a copy of the
/// kernel's timeout policy of that name.
pub fn ct_timeout_object_name(policy: &str, proto: u8) -> String {
    format!("timeout-{policy}-{proto}")
}

/// The table that runs a copy of moat's raw table just after connection
/// tracking, for a raw table that both acts before conntrack and assigns
/// helpers (see [`needs_after_conntrack_copy`]).
pub const AFTER_CONNTRACK_COPY: &str = "moat_raw_ct";

/// Whether `action` works only on a connection conntrack has made (a
/// helper, an event mask; a timeout policy is moved after conntrack with
/// them).
pub fn works_after_conntrack(action: &moat_model::Action) -> bool {
    action.ct_settings().iter().any(|setting| {
        matches!(
            setting,
            moat_model::Action::CtHelper { .. }
                | moat_model::Action::CtEvents { .. }
                | moat_model::Action::CtTimeout { .. }
        )
    })
}

/// Whether `action` works only before conntrack (NOTRACK, zones).
pub fn works_before_conntrack(action: &moat_model::Action) -> bool {
    action.ct_settings().iter().any(|setting| {
        matches!(
            setting,
            moat_model::Action::NoTrack
                | moat_model::Action::CtZone { .. }
                | moat_model::Action::CtZoneFromMark { .. }
        )
    })
}

fn raw_has(table: &moat_model::Table, kind: fn(&moat_model::Action) -> bool) -> bool {
    table.stage == Stage::Raw
        && table
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .any(|r| kind(&r.action))
}

/// Whether `table`'s base chains run after connection tracking: a raw
/// table that assigns conntrack helpers, event masks or timeout policies
/// to new connections and does nothing that must come before conntrack
/// (see [`AFTER_CONNTRACK_PRIORITY`]).
pub fn runs_after_conntrack(table: &moat_model::Table) -> bool {
    raw_has(table, works_after_conntrack) && !raw_has(table, works_before_conntrack)
}

/// Whether `table` is a raw table that does both: it runs where iptables'
/// raw table runs, and a copy of it ([`AFTER_CONNTRACK_COPY`]) runs after
/// conntrack to assign the helpers, events and timeouts. Each copy does
/// only its own side's actions (the kernel ignores a helper before
/// conntrack, a zone or NOTRACK after it) and keeps the verdicts, so both
/// walk the rules alike.
pub fn needs_after_conntrack_copy(table: &moat_model::Table) -> bool {
    raw_has(table, works_after_conntrack) && raw_has(table, works_before_conntrack)
}

/// The hook priority of `table`'s base chain at `hook`.
pub fn base_priority(table: &moat_model::Table, hook: Hook) -> i32 {
    if runs_after_conntrack(table) {
        AFTER_CONNTRACK_PRIORITY
    } else {
        table.stage.priority(hook)
    }
}
