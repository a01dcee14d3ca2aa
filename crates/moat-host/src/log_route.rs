//! Where `-j LOG` rules send packets: the kernel log, or moat's packet log
//! when the moat.toml applied (or being applied) has `[log] file`, or, for
//! iptables-only users without a moat.toml, after `moat log route on`
//! (kept in the configuration directory as `log-route`). Every path that
//! writes rules routes them the same way, so a later
//! `moat iptables -A ... -j LOG` follows the kept setting.

use std::path::Path;

use moat_config::Config;
use moat_logger::route::{route_rule, route_table};
use moat_logger::Route;
use moat_model::{Family, Rule, Stage, Table};

use crate::persist;

/// The file under the configuration directory that holds `moat log route`'s group.
const ROUTE_FILE: &str = "log-route";

/// The route a configuration asks for.
pub fn of_config(config: &Config) -> Option<Route> {
    config.log.file.as_ref().map(|f| Route { group: f.group })
}

/// The route in force: the kept moat.toml's `[log] file` when a moat.toml
/// was applied last, else what `moat log route` set. The configuration
/// directory is found once (in a named namespace that scans /run/netns).
pub fn kept() -> Option<Route> {
    let dir = persist::etc_dir();
    match persist::config_text_in(&dir) {
        Some(text) if !text.contains("[log]") => None,
        Some(text) => of_config(&persist::parse_kept(&text)?),
        None => route_file_in(&dir),
    }
}

/// What `moat log route on` set, if it is on.
pub fn set_by_command() -> Option<Route> {
    route_file_in(&persist::etc_dir())
}

/// The route `moat log route on` kept in configuration directory `dir`.
fn route_file_in(dir: &Path) -> Option<Route> {
    let text = std::fs::read_to_string(dir.join(ROUTE_FILE)).ok()?;
    text.trim().parse().ok().map(|group| Route { group })
}

/// Keeps `route` as `moat log route`'s setting (`None`: off).
pub fn keep(route: Option<Route>) -> std::io::Result<()> {
    let path = persist::etc_dir().join(ROUTE_FILE);
    match route {
        Some(r) => {
            std::fs::create_dir_all(persist::etc_dir())?;
            std::fs::write(path, format!("{}\n", r.group))
        }
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// `table` with its LOG rules routed by `route`.
pub fn routed(mut table: Table, route: Option<Route>) -> Table {
    if let Some(route) = route {
        route_table(&mut table, route);
    }
    table
}

/// Routes one rule added to `chain` of the table of `family` and `stage`.
pub fn route_added(
    family: Family,
    stage: Stage,
    chain: &str,
    rule: &mut Rule,
    route: Option<Route>,
) {
    if let Some(route) = route {
        let text = rule.source.clone().unwrap_or_default();
        let id = moat_iptables::rule_id(family, stage, chain, &text);
        route_rule(rule, route, &id);
    }
}
