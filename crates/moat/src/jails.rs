//! Which jails the daemon runs: moat.toml's `[[jail]]`s and the jails of
//! fail2ban's files, made ready to run (filters compiled, logs resolved).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use moat_config::model::Jail;
use moat_fail2ban::{load_filter, parse_filter_ref, JailSet};
use moat_jail::{filter_spec, increment_of, scope_of, sources_of, BanTime, JailRules, JailSpec};
use moat_logsource::SourceSpec;

use moat_host::persist;

/// Which moat.toml to read jails from.
#[derive(Debug, Clone, Default)]
pub enum ConfigFile {
    /// The one `moat apply` kept, if any.
    #[default]
    Kept,
    /// This file.
    Path(PathBuf),
    /// None.
    Skip,
}

/// Where the jails come from.
#[derive(Debug, Clone, Default)]
pub struct JailSources {
    /// The moat.toml.
    pub config: ConfigFile,
    /// fail2ban jail files or directories.
    pub fail2ban: Vec<PathBuf>,
}

/// The jails, ready to run, with the warnings met on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The jails.
    pub specs: Vec<JailSpec>,
    /// Things worth telling that did not stop anything.
    pub warnings: Vec<String>,
    /// The moat.toml read (its balanced services run in the daemon too).
    pub config: Option<moat_config::Config>,
}

/// Reads every jail `sources` name.
pub fn load(sources: &JailSources) -> Result<Loaded> {
    let mut loaded = Loaded {
        specs: Vec::new(),
        warnings: Vec::new(),
        config: None,
    };
    let mut fail2ban = sources.fail2ban.clone();
    let config = match &sources.config {
        ConfigFile::Path(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some((path.display().to_string(), text))
        }
        ConfigFile::Kept => persist::load_config_text().map(|t| {
            (
                persist::etc_dir()
                    .join(persist::CONFIG)
                    .display()
                    .to_string(),
                t,
            )
        }),
        ConfigFile::Skip => None,
    };
    if let Some((name, text)) = config {
        let config = moat_config::parse_config(&name, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        fail2ban.extend(config.daemon.jails.iter().cloned());
        for jail in &config.jails {
            let at = format!("{name}:{}", line_of(&text, jail.span.start));
            loaded
                .specs
                .push(from_toml(jail, &config.daemon.filter_dirs, &at)?);
        }
        loaded.config = Some(config);
    }
    for path in &fail2ban {
        let set = moat_fail2ban::check_jails(path).map_err(|errors| {
            anyhow::anyhow!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        add_fail2ban(&set, &mut loaded)?;
    }
    let mut names: Vec<&str> = loaded.specs.iter().map(|s| s.rules.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!("two jails are named {:?}: jail names must be unique across moat.toml and fail2ban's files", w[0]);
    }
    Ok(loaded)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn add_fail2ban(set: &JailSet, loaded: &mut Loaded) -> Result<()> {
    for w in &set.warnings {
        loaded.warnings.push(w.to_string());
    }
    for def in &set.jails {
        if let Some(inc) = def.increment.as_ref().filter(|i| i.formula.is_some()) {
            loaded.warnings.push(format!(
                "{}:{}: jail [{}]: bantime.formula {:?} is not evaluated; moat doubles the ban time per earlier ban (fail2ban's default formula)",
                def.file.display(),
                def.line,
                def.name,
                inc.formula.as_deref().unwrap_or_default()
            ));
        }
        let notes: Vec<String> = def
            .actions
            .iter()
            .map(|a| format!("{} ({}:{})", a.name, a.at.file.display(), a.at.line))
            .collect();
        if !notes.is_empty() {
            loaded.warnings.push(format!(
                "jail [{}]: moat carries out bans only; these actions are not run: {}",
                def.name,
                notes.join(", ")
            ));
        }
        loaded
            .specs
            .push(JailSpec::from_fail2ban(def).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(())
}

/// A moat.toml jail, ready to run.
fn from_toml(jail: &Jail, filter_dirs: &[PathBuf], at: &str) -> Result<JailSpec> {
    let context = || format!("{at}: jail {:?}", jail.name);
    let (name, options) = parse_filter_ref(&jail.filter)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(context)?;
    let mut def = load_filter(&name, &options, filter_dirs)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(context)?;
    if !jail.journalmatch.is_empty() {
        def.journalmatch = jail.journalmatch.clone();
    }
    let filter_spec = filter_spec(&def);
    let filter = moat_logmatch::Filter::compile(&filter_spec)
        .map_err(|e| anyhow::anyhow!("filter {name}: {e}"))
        .with_context(context)?;
    let sources = if jail.journal {
        vec![SourceSpec::Journal {
            matches: def.journalmatch.clone(),
            directory: None,
        }]
    } else {
        sources_of("auto", &jail.logpaths, &[])
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(context)?
    };
    let scope = scope_of(&jail.name, Some(&jail.scope), jail.v6_prefix, jail.reject);
    scope.check().with_context(context)?;
    Ok(JailSpec {
        rules: JailRules {
            name: jail.name.clone(),
            maxretry: jail.maxretry.max(1),
            findtime: jail.findtime,
            bantime: match jail.bantime {
                moat_fail2ban::BanTime::Seconds(d) => BanTime::For(d),
                moat_fail2ban::BanTime::Permanent => BanTime::Permanent,
            },
            increment: jail.increment.as_ref().map(increment_of),
            v6_prefix: jail.v6_prefix,
        },
        ignore: moat_jail::IgnoreList::new(&jail.ignoreip, jail.ignoreself)
            .with_context(context)?,
        filter_name: def.name.clone(),
        filter_spec,
        filter: std::sync::Arc::new(filter),
        sources,
        scope,
        at: at.to_string(),
    })
}

/// The store's path: `bans.redb` in `state` or in the default state directory.
pub fn store_path(state: Option<&Path>) -> PathBuf {
    match state {
        Some(dir) => dir.join("bans.redb"),
        None => moat_ban::Store::default_path(),
    }
}

/// Whether this network namespace's kernel holds sets and rules of jails.
pub fn kernel_holds_jails() -> bool {
    moat_ban::BanTable::open()
        .and_then(|mut table| table.jails())
        .is_ok_and(|jails| !jails.is_empty())
}

/// Puts the bans still due back into the kernel (what `moat boot` does
/// before the daemon starts): the jails of the kept moat.toml, their sets
/// and rules, and the store's bans with their remaining time, in one
/// transaction. Returns how many bans; 0 when no jail is configured.
pub fn restore_bans() -> Result<usize> {
    let loaded = load(&JailSources::default())?;
    if loaded.specs.is_empty() {
        return Ok(0);
    }
    let scopes: Vec<_> = loaded.specs.iter().map(|s| s.scope.clone()).collect();
    let store = moat_ban::Store::open_default()?;
    let mut sink = moat_jail::KernelSink::open(store, &scopes)?;
    Ok(sink.restore(std::time::SystemTime::now())?)
}
