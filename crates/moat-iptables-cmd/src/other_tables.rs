//! Rules other programs keep in the kernel beside moat's: they still act on
//! packets, but no listing of moat's shows them. Tables of legacy iptables
//! (x_tables) are warned about as iptables-nft warns; iptables-nft's own
//! tables, left from before moat, get a note where a person reads it.

use moat_backend::Backend;
use moat_model::{Family, Stage};

use crate::advice;

/// Writes iptables-nft's warning to stderr when `family` has legacy tables
/// in this network namespace; `save` names iptables-legacy-save.
pub fn warn_legacy(family: Family, save: bool) {
    let (names, tool) = match family {
        Family::Ipv4 => ("/proc/net/ip_tables_names", "iptables"),
        Family::Ipv6 => ("/proc/net/ip6_tables_names", "ip6tables"),
    };
    let present = std::fs::read_to_string(names).is_ok_and(|t| !t.trim().is_empty());
    if present {
        let suffix = if save { "-save" } else { "" };
        tell!("# Warning: {tool}-legacy tables present, use {tool}-legacy{suffix} to see them");
    }
}

/// Notes, where moat's advice is wanted, each of `stages` whose table of
/// the same name (iptables-nft's: `ip filter`, `ip6 nat`, ...) is in the
/// kernel beside moat's.
pub fn note_iptables_nft(program: &str, backend: &dyn Backend, family: Family, stages: &[Stage]) {
    if !advice::wanted() {
        return;
    }
    let (word, tool) = match family {
        Family::Ipv4 => ("ip", "iptables-nft"),
        Family::Ipv6 => ("ip6", "ip6tables-nft"),
    };
    for &stage in stages {
        let name = stage.name();
        if let Ok(Some(true)) = backend.table_exists(family, name) {
            tell!(
                "{program}: note: iptables-nft's table `{word} {name}' is in the kernel too: its \
                 rules act on packets beside moat's and are not listed here (`{tool} -t {name} -S`)"
            );
        }
    }
}
