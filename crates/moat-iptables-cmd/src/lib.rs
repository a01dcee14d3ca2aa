//! moat's iptables personalities: `iptables`, `ip6tables`, `iptables-save`,
//! `ip6tables-save`, `iptables-restore` and `ip6tables-restore` (and
//! Debian's `-nft`/`-legacy` names and `xtables-nft-multi`) on moat's
//! tables, each command one transaction. The `moat` binary runs them by
//! its program name or as subcommands; the lean `moat-iptables` binary
//! runs only them. `install` makes them the host's iptables.

/// `eprintln!` that never panics: with standard error closed or full
/// (`2>/dev/full`), iptables writes nothing there and ends with the exit
/// status it would have, and so does moat.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod advice;
mod error;
pub mod install;
pub mod iptables;
mod lock;
mod other_tables;
mod personality;
pub mod restore;
mod restore_reads;
pub mod save;
mod stdout;

pub use advice::ADVICE_VAR;
pub use error::CommandError;
pub use personality::{end_quietly_on_closed_pipe, personality_about, run_by_name};
