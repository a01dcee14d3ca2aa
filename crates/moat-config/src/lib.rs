//! moat.toml: a firewall described by what it should do — zones, services,
//! forwards, balancers, limits, logging — compiled into the same iptables
//! view of moat's tables that the iptables front-end builds, so that
//! `moat iptables -vnL` and `iptables-save` show what the file produced.
//!
//! `[[jail]]` and `[daemon]` (bans from logs) are validated here too, for
//! `moat daemon`; they do not change the compiled tables.
//!
//! [`load`] reads either format people bring: a moat.toml, or an
//! iptables-save file (detected by its `*table` lines).

#![warn(missing_docs)]

mod applicable;
mod balance;
mod blocks;
mod compile;
pub mod describe;
pub mod error;
mod jails;
pub mod model;
mod packet_log;
mod schema;
pub mod services;
mod validate;
mod values;

use moat_iptables::save::{restore, RestoreOptions, SaveFile};
use moat_iptables::TableState;
use moat_model::Family;

pub use error::{ConfigError, Diagnostic, Located};
pub use model::Config;
pub use services::ServiceDb;

/// The comment prefix of every rule moat.toml generates (`moat: service ssh`).
pub const INTENT_PREFIX: &str = "moat: ";

/// The two formats `moat apply` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A moat.toml.
    Toml,
    /// An iptables-save (or ip6tables-save) file.
    IptablesSave,
}

/// What a file asks for.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The detected format.
    pub format: Format,
    /// The tables it defines.
    pub tables: Vec<TableState>,
    /// Whether moat's tables the file does not define are to be removed
    /// (a moat.toml describes the whole firewall; a save file only its tables).
    pub replaces_all: bool,
    /// The validated configuration, for a moat.toml.
    pub config: Option<Config>,
    /// Things that work but are probably mistakes (e.g. rules that can never match).
    pub warnings: Vec<String>,
}

/// Tells the format of `text`: a save file starts (after comments) with a
/// `*table` line; anything else is read as TOML.
pub fn detect(text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(l) if l.starts_with('*') && !l.contains('=') => Format::IptablesSave,
        Some(l) if l.starts_with(':') || l.starts_with("-A ") => Format::IptablesSave,
        _ => Format::Toml,
    }
}

/// Reads and validates a moat.toml (names resolved with the system's services).
pub fn parse_config(file: &str, text: &str) -> Result<Config, ConfigError> {
    parse_config_with(file, text, &ServiceDb::system())
}

/// [`parse_config`] with a given service database.
pub fn parse_config_with(file: &str, text: &str, db: &ServiceDb) -> Result<Config, ConfigError> {
    let locate = |ds: Vec<Diagnostic>| ConfigError {
        problems: ds.iter().map(|d| d.locate(file, text)).collect(),
    };
    let raw = validate::read(text).map_err(|d| locate(vec![d]))?;
    validate::validate(raw, db).map_err(locate)
}

/// Compiles a validated configuration into moat's tables.
pub fn compile(file: &str, text: &str, config: &Config) -> Result<Vec<TableState>, ConfigError> {
    compile::compile(config).map_err(|ds| ConfigError {
        problems: ds.iter().map(|d| d.locate(file, text)).collect(),
    })
}

/// Rules that can never match (moat-lint's shadowed, conflicting and
/// impossible findings), as warnings every command that loads a file gives.
fn never_matching(tables: &[moat_iptables::TableState]) -> Vec<String> {
    let model: Vec<moat_model::Table> = tables.iter().map(|t| t.to_table()).collect();
    moat_lint::lint(&model)
        .into_iter()
        .filter(|f| {
            use moat_lint::FindingKind::*;
            matches!(f.kind, Shadowed | Conflicting | Impossible)
        })
        .map(|f| f.to_string())
        .collect()
}

/// What a configuration leaves to one family without saying so, for
/// `moat check` to note: zones with interfaces whose networks are all of
/// the other family (their packets of this one go by interface alone, from
/// any address), and IPv6 left unfiltered by `ipv6 = false`.
pub fn family_notes(config: &Config) -> Vec<String> {
    use moat_model::Family;
    let mut out = Vec::new();
    if !config.defaults.ipv6 {
        out.push(
            "ipv6 = false: moat builds no IPv6 tables, so IPv6 traffic is not filtered".into(),
        );
    }
    let families: &[Family] = if config.defaults.ipv6 {
        &[Family::Ipv4, Family::Ipv6]
    } else {
        &[Family::Ipv4]
    };
    let limited = |z: &&model::Zone| !z.networks.is_empty() && !z.interfaces.is_empty();
    for zone in config.zones.iter().filter(limited) {
        for &family in families {
            if zone.networks_of(family).is_empty() {
                let (word, other) = (family.name(), family.other().name());
                out.push(format!(
                    "zone {} names {other} networks only: every {word} packet of its interfaces \
                     belongs to it, whatever its address (add its {word} networks to limit them)",
                    zone.name
                ));
            }
        }
    }
    out.extend(forward_notes(config));
    out
}

/// The port forwards that can take no packet from a zone they name: the
/// zone has neither interfaces nor networks of the target's family, so no
/// packet of that family comes from it.
fn forward_notes(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for pf in &config.port_forwards {
        let Some(family) = compile::forward_family(pf) else {
            continue;
        };
        let word = family.name();
        let silent = config.zones.iter().filter(|z| {
            pf.from.contains(&z.name) && z.interfaces.is_empty() && z.networks_of(family).is_empty()
        });
        for zone in silent {
            out.push(format!(
                "port forward {} goes to an {word} address, but zone {} has no interface and no \
                 {word} network, so no packet comes to it from there (add the zone's {word} \
                 networks or interfaces)",
                pf.name, zone.name
            ));
        }
    }
    out
}

/// Loads `text` (named `file` in messages) in whichever format it is.
pub fn load(file: &str, text: &str) -> Result<Loaded, ConfigError> {
    load_with(file, text, &ServiceDb::system())
}

/// [`load`] with a given service database.
pub fn load_with(file: &str, text: &str, db: &ServiceDb) -> Result<Loaded, ConfigError> {
    match detect(text) {
        Format::Toml => {
            let config = parse_config_with(file, text, db)?;
            let tables = compile(file, text, &config)?;
            let warnings = never_matching(&tables);
            Ok(Loaded {
                format: Format::Toml,
                tables,
                replaces_all: true,
                config: Some(config),
                warnings,
            })
        }
        Format::IptablesSave => {
            let tables = load_save(file, text)?;
            let warnings = never_matching(&tables);
            Ok(Loaded {
                format: Format::IptablesSave,
                tables,
                replaces_all: false,
                config: None,
                warnings,
            })
        }
    }
}

/// Refuses what `moat apply` would refuse in `loaded` (read from `text`),
/// as far as that is known without the kernel: every rule compiles to
/// nf_tables and the block-list names are valid. It compiles every rule,
/// so `moat check` runs it; `moat apply` finds the same when it compiles.
pub fn check_applicable(file: &str, text: &str, loaded: &Loaded) -> Result<(), ConfigError> {
    let problems = applicable::problems(&loaded.tables, text);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError {
        problems: problems.iter().map(|d| d.locate(file, text)).collect(),
    })
}

impl Loaded {
    /// The block lists the rules look up that the file does not load itself:
    /// only the kernel knows whether they exist, so apply checks them.
    pub fn lists_needed(&self) -> Vec<String> {
        applicable::lists_needed(&self.tables, self.config.as_ref())
    }
}

/// The family a save file is for: IPv6 when its header says ip6tables or
/// only the IPv6 reading of it works.
fn load_save(file: &str, text: &str) -> Result<Vec<TableState>, ConfigError> {
    let located = |line: usize, message: String| ConfigError {
        problems: vec![Located {
            file: file.to_string(),
            line,
            col: 1,
            message,
            expected: None,
            fix: None,
        }],
    };
    let parsed = SaveFile::parse(text).map_err(|e| located(e.line, e.message))?;
    let v6_first = text
        .lines()
        .take(3)
        .any(|l| l.starts_with('#') && l.contains("ip6tables"));
    let order = if v6_first {
        [Family::Ipv6, Family::Ipv4]
    } else {
        [Family::Ipv4, Family::Ipv6]
    };
    let attempt = |family| {
        restore(&parsed, family, RestoreOptions::default(), |_| {
            Err(String::new())
        })
    };
    match attempt(order[0]) {
        Ok(t) => Ok(t),
        Err(first) => attempt(order[1]).map_err(|_| located(first.line, first.message)),
    }
}

#[cfg(test)]
mod tests;
