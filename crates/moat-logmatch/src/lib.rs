//! The line matcher: fail2ban filter regexes (translated to linear-time
//! regex), tags, prefregex, multi-line and dates.
//!
//! A [`FilterSpec`] (fail2ban's failregex, ignoreregex, prefregex,
//! datepattern and maxlines, as strings) compiles to a [`Filter`]; a
//! [`Matcher`] runs a source's lines through it and returns [`Failure`]s.
//!
//! Python regex syntax is translated for the `regex` crate, which runs in
//! time linear in the line length. Only a pattern that really needs
//! lookaround, backreferences or conditionals runs on `fancy-regex`, behind a
//! linear-time pre-check and with a backtracking limit, so no pattern can
//! hang the daemon ([`Filter::regexes`] says which engine each got, and a
//! match that gives up is reported in [`Outcome::errors`]).

#![warn(missing_docs)]

pub mod dates;
mod engine;
mod matcher;
mod multiline;
mod report;
mod tags;
pub mod translate;

pub use engine::{CompileError, Engine, BACKTRACK_LIMIT};
pub use matcher::{
    Failure, Filter, FilterError, FilterSpec, LineDate, MatchError, Matcher, Outcome, RegexInfo,
    RegexKind, Scan,
};
pub use report::{FailureRecord, Report};
