//! Rules in the kernel's legacy tables (x_tables, made by iptables-legacy)
//! still filter packets beside moat's, but no listing of moat's shows them:
//! as iptables-nft does, listings and saves warn when such tables exist.

use moat_model::Family;

/// Writes iptables-nft's warning to stderr when `family` has legacy tables
/// in this network namespace; `save` names iptables-legacy-save.
pub fn warn_if_present(family: Family, save: bool) {
    let (names, tool) = match family {
        Family::Ipv4 => ("/proc/net/ip_tables_names", "iptables"),
        Family::Ipv6 => ("/proc/net/ip6_tables_names", "ip6tables"),
    };
    let present = std::fs::read_to_string(names).is_ok_and(|t| !t.trim().is_empty());
    if present {
        let suffix = if save { "-save" } else { "" };
        eprintln!("# Warning: {tool}-legacy tables present, use {tool}-legacy{suffix} to see them");
    }
}
