//! The balanced services of a moat.toml that live in moat's own table
//! (`inet moat_lb`: health-checked, with backups, draining, affinity or
//! hash mode): written after the ruleset by `moat apply` and `moat boot`,
//! removed once the configuration no longer has any, and left alone (with
//! its counters) when it holds the configuration's services already. A
//! service whose definition did not change keeps the backends the daemon
//! chose for it; a changed (or missing) one starts without the backends a
//! running daemon holds down.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use anyhow::{Context, Result};
use moat_balance::control::{ask, Reply, Request};
use moat_balance::health::State;
use moat_balance::{kernel, Service};
use moat_config::Config;

/// The change that makes the kernel's balanced services those of a
/// configuration, checked by the kernel but not applied yet.
pub struct Prepared {
    services: Vec<Service>,
    script: Option<String>,
}

/// Builds and checks (`nft -c`) the change for `config` (none for
/// `None`): a problem stops an apply before anything changed.
pub fn prepare(config: Option<&Config>) -> Result<Prepared> {
    let services = config.map(Service::all).unwrap_or_default();
    let held = kernel::read()?;
    if holds_as_is(&services, &held) {
        return Ok(Prepared {
            services,
            script: None,
        });
    }
    let mut slots: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
    let mut down = None;
    for s in &services {
        let kept = held
            .get(&s.id)
            .filter(|k| k.definition == s.definition())
            .map(|k| k.slots.clone());
        let fill = kept.unwrap_or_else(|| {
            let down = down.get_or_insert_with(down_by_daemon);
            let up: Vec<bool> = s
                .backends
                .iter()
                .map(|b| !down.contains(&(s.name.clone(), b.addr)))
                .collect();
            s.slots(&s.in_rotation(&up))
                .into_iter()
                .map(|i| s.backends[i].addr)
                .collect()
        });
        slots.insert(s.id.clone(), fill);
    }
    let script = kernel::table_script(&services, &slots);
    kernel::check(&script).context("the balanced services (table inet moat_lb)")?;
    Ok(Prepared {
        services,
        script: Some(script),
    })
}

/// Whether the kernel holds exactly `services`, each as defined and
/// named: then the table, its counters and the daemon's choice of
/// backends stay as they are.
fn holds_as_is(services: &[Service], held: &BTreeMap<String, kernel::KernelService>) -> bool {
    held.len() == services.len()
        && kernel::not_held(services, held).is_empty()
        && services.iter().all(|s| held[&s.id].name == s.name)
}

/// Applies a [`prepare`]d change in one transaction.
pub fn commit(prepared: &Prepared) -> Result<()> {
    if prepared.services.is_empty() && prepared.script.is_none() {
        return Ok(());
    }
    let unchanged = match &prepared.script {
        Some(script) => {
            kernel::run(script).context("setting up the balanced services (table inet moat_lb)")?;
            ""
        }
        None => " (unchanged)",
    };
    if prepared.services.is_empty() {
        println!("balanced services removed (table inet moat_lb)");
        return Ok(());
    }
    let names: Vec<&str> = prepared.services.iter().map(|s| s.name.as_str()).collect();
    println!(
        "balanced services in table inet moat_lb{unchanged}: {}",
        names.join(", ")
    );
    if prepared.services.iter().any(|s| s.check.is_some()) && !daemon_runs() {
        println!("  their backends are checked by `moat daemon`, which does not run here yet");
    }
    Ok(())
}

/// [`prepare`] then [`commit`].
pub fn apply(config: Option<&Config>) -> Result<()> {
    commit(&prepare(config)?)
}

/// The backends (service name, address) the daemon of this network
/// namespace holds down; none when no daemon runs here or it does not answer.
fn down_by_daemon() -> BTreeSet<(String, SocketAddr)> {
    let Ok(Reply::Status { services }) = ask(&Request::Status) else {
        return BTreeSet::new();
    };
    services
        .into_iter()
        .flat_map(|s| {
            let name = s.name;
            s.backends
                .into_iter()
                .filter(|b| b.state == State::Down)
                .filter_map(move |b| Some((name.clone(), b.addr.parse().ok()?)))
        })
        .collect()
}

fn daemon_runs() -> bool {
    moat_daemon::socket::exchange(
        moat_daemon::SOCKET_NAME,
        "ping",
        std::time::Duration::from_secs(2),
    )
    .is_ok_and(|reply| reply.is_some())
}
