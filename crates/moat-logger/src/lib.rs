//! moat's packet logger: the daemon job that reads the kernel's packet log
//! (nfnetlink_log groups) over netlink and writes one line per packet —
//! JSON, or the kernel log's layout — to its own file, with the rule that
//! logged it, rotation, a rate limit that says what it left out, and the
//! kernel's buffer overruns grown out of and counted.
//!
//! [`route`] turns `-j LOG` rules into rules of moat's log group when the
//! logger is on; [`tail`] reads the file back for `moat log tail`.

pub mod decode;
mod ifaces;
mod job;
pub mod limit;
pub mod nflog;
pub mod output;
pub mod record;
pub mod route;
pub mod rules;
pub mod stats;
pub mod tail;

pub use job::{Format, LoggerJob, Settings, SharedSocket};
pub use output::Rotation;
pub use record::{LogLine, RuleRef};
pub use route::{Route, DEFAULT_GROUP};
pub use rules::{LoggingRule, ReadRules, RuleSource};
pub use stats::{LoggerStats, StatsReading};
