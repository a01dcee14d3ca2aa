//! moat-iptables: moat's iptables personalities alone, for the symlinks
//! named `iptables`, `ip6tables`, `iptables-save`, `iptables-restore`,
//! `ip6tables-save` and `ip6tables-restore` (Debian's `-nft` and `-legacy`
//! names and `xtables-nft-multi` too). It holds none of the daemon's code,
//! so each command maps less of the binary than `moat` would.

use std::process::ExitCode;

fn main() -> ExitCode {
    moat_iptables_cmd::end_quietly_on_closed_pipe();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    moat_iptables_cmd::run_by_name(&argv0, args.collect()).unwrap_or_else(|| {
        eprintln!(
            "moat-iptables: call it as iptables, ip6tables, iptables-save, iptables-restore, \
             ip6tables-save or ip6tables-restore (a symlink of that name), or give one of \
             those names first: moat-iptables iptables -S"
        );
        ExitCode::from(2)
    })
}
