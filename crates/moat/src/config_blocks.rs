//! The block lists of a moat.toml (`[[block]]`): read before anything
//! changes (a bad file stops the apply), loaded before the ruleset (whose
//! `-m set` rules may use them; put back should the rules be refused or
//! the change not be confirmed), and removed once the configuration no
//! longer names them. The caller holds the ruleset lock.

use anyhow::{bail, Context, Result};
use moat_blocklist::{zones, Blocklists, Entries, ListSpec, Source};
use moat_config::model::BlockList;
use moat_config::Config;

/// What one configured list loads: its addresses, read now.
fn spec(list: &BlockList) -> Result<ListSpec> {
    let entries = match &list.source {
        Source::File { path } => Entries::read_file(path)?.0,
        Source::Country { code, zone_dir } => zones::read_country(zone_dir, code)?.0,
        Source::Countries { codes, zone_dir } => {
            let parts = codes
                .iter()
                .map(|code| zones::read_country(zone_dir, code).map(|(e, _)| e))
                .collect::<Result<Vec<_>, _>>()?;
            Entries::union_all(&parts)
        }
        Source::Manual | Source::StandIn => bail!(
            "block list {}: a configured list needs a file or countries",
            list.name
        ),
    };
    Ok(ListSpec {
        name: list.name.clone(),
        source: list.source.clone(),
        entries,
        except: Some(Entries::from_networks(&list.except)),
        directions: Some(list.directions.clone()),
        allow_empty: false,
    })
}

/// Reads every list `config` names (files and zone files), failing on the first bad one.
pub fn read(config: &Config) -> Result<Vec<ListSpec>> {
    config
        .blocks
        .iter()
        .map(|list| spec(list).with_context(|| format!("block list {}", list.name)))
        .collect()
}

/// Loads (creates or refreshes) `specs` in one transaction.
pub fn load(specs: &[ListSpec]) -> Result<()> {
    if specs.is_empty() {
        return Ok(());
    }
    let summaries = Blocklists::open()?.load(specs)?;
    let names: Vec<&str> = summaries.iter().map(|s| s.name.as_str()).collect();
    println!("block lists loaded: {}", names.join(", "));
    Ok(())
}

/// Removes the lists `previous` configured and `now` does not.
pub fn remove_dropped(previous: Option<&Config>, now: &Config) -> Result<()> {
    let mut lists = Blocklists::open()?;
    let present = lists.names()?;
    let dropped: Vec<String> = previous
        .into_iter()
        .flat_map(|p| &p.blocks)
        .filter(|old| now.blocks.iter().all(|new| new.name != old.name))
        .filter(|old| present.contains(&old.name))
        .map(|old| old.name.clone())
        .collect();
    if dropped.is_empty() {
        return Ok(());
    }
    lists
        .unblock(&dropped)
        .context("removing block lists the configuration no longer names")?;
    println!("block lists removed: {}", dropped.join(", "));
    Ok(())
}

/// The lists an apply of `now` loads or removes, given the configuration
/// kept before (`previous`): `now`'s lists and those `previous` named that
/// `now` does not.
pub fn touched(previous: Option<&Config>, now: Option<&Config>) -> Vec<String> {
    let now_names = now.into_iter().flat_map(|c| &c.blocks).map(|b| &b.name);
    let dropped = previous
        .into_iter()
        .flat_map(|p| &p.blocks)
        .filter(|old| now.is_some_and(|c| c.blocks.iter().all(|new| new.name != old.name)))
        .map(|b| &b.name);
    now_names.chain(dropped).cloned().collect()
}

/// Makes lists `names` empty and blocking nothing by themselves
/// (direction `none`), for rules that look them up, in one transaction.
pub fn make_empty(names: &[String]) -> Result<()> {
    let specs: Vec<ListSpec> = names
        .iter()
        .map(|name| ListSpec {
            name: name.clone(),
            source: Source::StandIn,
            entries: Entries::default(),
            except: None,
            directions: Some(Vec::new()),
            allow_empty: true,
        })
        .collect();
    Blocklists::open()?
        .load(&specs)
        .with_context(|| format!("making block lists {} empty", names.join(", ")))?;
    Ok(())
}

/// Warns about the moat lists the rules of `tables` look up that boot
/// cannot bring back: lists `config` does not name (made by `moat block`).
pub fn warn_not_kept(config: Option<&Config>, tables: &[moat_model::Table]) {
    let used = moat_host::set_copies::lists_of(tables);
    let Ok(present) = Blocklists::open().and_then(|mut lists| lists.names()) else {
        return;
    };
    let configured = |name: &str| config.is_some_and(|c| c.blocks.iter().any(|b| b.name == name));
    for name in used.names() {
        if present.iter().any(|p| p == name) && !configured(name) {
            eprintln!(
                "moat: warning: the rules look up block list {name}, which boot does not bring back \
                 (only moat.toml's [[block]] lists are kept): after a reboot it is empty until \
                 loaded again (moat block file {name} FILE)"
            );
        }
    }
}
