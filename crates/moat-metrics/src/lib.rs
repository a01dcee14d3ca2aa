//! Prometheus metrics for moat, read from the kernel at every scrape:
//! per-rule packet and byte counters (labelled by table, chain, rule number
//! and a short stable id; the rule's text in `moat_rule_info` only), chain
//! policies, block lists, bans by jail and balanced services' backends.
//! [`MetricsJob`] serves them from `moat daemon` (`[metrics] listen`);
//! `moat metrics` prints one reading for node_exporter's textfile
//! collector. Reading never rewrites or resets anything.

pub mod exposition;
mod job;
pub mod ruleset;
pub mod sets;

pub use exposition::{Exposition, Kind, CONTENT_TYPE};
pub use job::{scrape, Collect, MetricsJob};
pub use ruleset::TableCounters;
