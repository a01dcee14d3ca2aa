//! The jail engine: the decision half of moat's bans.
//!
//! A jail counts failures per address (or per IPv6 prefix) inside a sliding
//! window (`findtime`) and, at `maxretry`, orders a ban whose length grows
//! with the address's earlier bans (`bantime.increment`). Addresses on the
//! jail's ignore list and this host's own addresses are never banned.
//!
//! The engine knows nothing of logs or of the kernel: failures come in as
//! [`Failure`]s, and decisions go out as [`BanOrder`]s, each naming its
//! [`Origin`]. A ban from a log line, one typed by hand and one received
//! from another moat host all take the same path into the kernel.

pub mod control;
mod engine;
mod ignore;
mod job;
mod order;
mod rules;
mod sink;
mod spec;
mod window;
mod writer;

pub use engine::{BanLookup, Jail, Verdict};
pub use ignore::{IgnoreList, IgnoreReason};
pub use job::{parse_target, show_target, JailMemory, JailsJob};
pub use order::{BanOrder, Failure, Origin};
pub use rules::{BanTime, Increment, JailRules};
pub use sink::{describe_time, BanSink, KernelSink};
pub use spec::{
    compile_filter, filter_spec, increment_of, scope_of, sources_of, JailSpec, SpecError,
};
