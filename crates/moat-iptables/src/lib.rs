//! The iptables front-end: iptables command lines, iptables-save files and
//! iptables listings, into and out of the moat ruleset model.

mod address_list;
mod c_number;
pub mod chains_read;
pub mod command;
pub mod engine;
mod help;
mod ipset;
pub mod listing;
mod lock_options;
mod parallel;
pub mod rule;
mod rule_id;
pub mod save;
mod shared_limits;
pub mod state;

pub use chains_read::ChainsRead;
pub use command::{
    parse_command_line, Command, CommandError, Display, Invocation, Wait, ZeroAfter,
};
pub use engine::{
    apply, chain_line, execute, execute_owned, Applied, EngineError, Outcome, Problem, BAD_RULE,
    NO_CHAIN,
};
pub use help::{help_text, icmp_help};
pub use ipset::{ipset_match, ipset_update_target};
pub use rule_id::{family_word, rule_id};
pub use state::{StoredChain, StoredRule, TableState};
