//! fail2ban's file formats read as fail2ban 1.0.2 reads them: filter.d files into
//! `FilterDef`s, jail files (`jail.conf`, `jail.local`, `jail.d/`) into `JailDef`s, action
//! references into moat's ban scopes, fail2ban durations; and moat's built-in filters.

mod action;
pub mod builtin;
mod config;
pub mod duration;
mod error;
mod filter;
mod ini;
mod interpolate;
mod jail;
mod options;
mod services;
mod shlex;
mod tags;

pub use action::{parse_ports, ActionRef, BanScope, PortRange, Protocol};
pub use error::{ConfError, Location, Warning};
pub use filter::{load_filter, FilterDef};
pub use jail::{check_jails, load_jails, BanTime, Increment, JailDef, JailSet};
pub use options::parse_filter_ref;
