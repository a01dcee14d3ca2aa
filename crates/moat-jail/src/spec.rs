//! A jail ready to run, from either front-end: fail2ban's jail files or
//! moat.toml's `[[jail]]`.

use std::sync::Arc;
use std::time::Duration;

use moat_ban::{JailScope, Protocol};
use moat_fail2ban::{BanScope, FilterDef, JailDef};
use moat_logmatch::{Filter, FilterSpec};
use moat_logsource::{resolve_logpath, SourceSpec};

use crate::ignore::IgnoreList;
use crate::rules::{BanTime, Increment, JailRules};

/// Why a jail cannot run.
#[derive(Debug, thiserror::Error)]
#[error("{at}: jail [{jail}]: {message}")]
pub struct SpecError {
    /// Where the jail is defined (`file:line`).
    pub at: String,
    /// The jail.
    pub jail: String,
    /// What is wrong.
    pub message: String,
}

/// Everything one jail needs to run.
#[derive(Debug, Clone)]
pub struct JailSpec {
    /// Counting and ban-time rules.
    pub rules: JailRules,
    /// What it never bans (`ignoreip`, `ignoreself`).
    pub ignore: IgnoreList,
    /// The filter's name (for messages).
    pub filter_name: String,
    /// What the filter was compiled from.
    pub filter_spec: FilterSpec,
    /// The compiled filter.
    pub filter: Arc<Filter>,
    /// The logs it reads.
    pub sources: Vec<SourceSpec>,
    /// What its bans close in the kernel.
    pub scope: JailScope,
    /// Where it is defined, `file:line`.
    pub at: String,
}

/// What a jail bans by default when its file names no firewall action:
/// every port (fail2ban's default action closes the jail's `port`, which
/// defaults to every port).
fn default_scope(name: &str) -> JailScope {
    JailScope {
        name: name.to_string(),
        protocol: Protocol::All,
        ports: Vec::new(),
        all: true,
        v6_prefix: None,
        reject: true,
    }
}

/// The kernel side of a fail2ban ban scope.
pub fn scope_of(
    name: &str,
    scope: Option<&BanScope>,
    v6_prefix: Option<u8>,
    reject: bool,
) -> JailScope {
    let Some(scope) = scope else {
        return JailScope {
            v6_prefix,
            reject,
            ..default_scope(name)
        };
    };
    let protocol = match scope.protocol {
        moat_fail2ban::Protocol::Tcp => Protocol::Tcp,
        moat_fail2ban::Protocol::Udp => Protocol::Udp,
        moat_fail2ban::Protocol::Sctp => Protocol::Sctp,
        moat_fail2ban::Protocol::Udplite | moat_fail2ban::Protocol::All => Protocol::All,
    };
    JailScope {
        name: name.to_string(),
        protocol,
        ports: scope.ports.iter().map(|r| (r.first, r.last)).collect(),
        all: scope.all,
        v6_prefix,
        reject,
    }
}

/// Compiles a filter definition.
pub fn compile_filter(def: &FilterDef) -> Result<Filter, moat_logmatch::FilterError> {
    Filter::compile(&filter_spec(def))
}

/// What the line matcher compiles of a fail2ban filter.
pub fn filter_spec(def: &FilterDef) -> FilterSpec {
    FilterSpec {
        failregex: def.failregex.clone(),
        ignoreregex: def.ignoreregex.clone(),
        prefregex: def.prefregex.clone(),
        datepattern: def.datepattern.clone(),
        maxlines: def.maxlines.max(1),
    }
}

/// Where the jail reads its lines: the systemd journal for a `systemd`
/// backend, else its log paths (globs resolved now).
pub fn sources_of(
    backend: &str,
    logpaths: &[String],
    journalmatch: &[String],
) -> Result<Vec<SourceSpec>, String> {
    if backend.trim_start().starts_with("systemd") {
        return Ok(vec![SourceSpec::Journal {
            matches: journalmatch.to_vec(),
            directory: None,
        }]);
    }
    let mut sources = Vec::new();
    for pattern in logpaths {
        for path in resolve_logpath(pattern).map_err(|e| e.to_string())? {
            let spec = SourceSpec::File(path);
            if !sources.contains(&spec) {
                sources.push(spec);
            }
        }
    }
    if sources.is_empty() {
        return Err("it names no log file (logpath) and its backend is not systemd".into());
    }
    Ok(sources)
}

impl JailSpec {
    /// Whether `other` defines the same jail: the same rules, ignore
    /// list, filter, logs and scope (where it is written does not count).
    pub fn same_definition(&self, other: &JailSpec) -> bool {
        self.rules == other.rules
            && self.ignore == other.ignore
            && self.filter_name == other.filter_name
            && self.filter_spec == other.filter_spec
            && self.sources == other.sources
            && self.scope == other.scope
    }

    /// A jail from fail2ban's files, as fail2ban would run it.
    pub fn from_fail2ban(def: &JailDef) -> Result<JailSpec, SpecError> {
        let at = format!("{}:{}", def.file.display(), def.line);
        let fail = |message: String| SpecError {
            at: at.clone(),
            jail: def.name.clone(),
            message,
        };
        let filter_spec = filter_spec(&def.filter);
        let filter = Filter::compile(&filter_spec)
            .map_err(|e| fail(format!("filter {}: {e}", def.filter.name)))?;
        let sources =
            sources_of(&def.backend, &def.logpaths, &def.filter.journalmatch).map_err(fail)?;
        let scope = scope_of(&def.name, def.scope.as_ref(), None, true);
        scope.check().map_err(|e| fail(e.to_string()))?;
        Ok(JailSpec {
            rules: JailRules {
                name: def.name.clone(),
                maxretry: def.maxretry.max(1),
                findtime: def.findtime,
                bantime: match def.bantime {
                    moat_fail2ban::BanTime::Seconds(d) => BanTime::For(d),
                    moat_fail2ban::BanTime::Permanent => BanTime::Permanent,
                },
                increment: def.increment.as_ref().map(increment_of),
                v6_prefix: None,
            },
            ignore: IgnoreList::new(&def.ignoreip, def.ignoreself)
                .map_err(|e| fail(e.to_string()))?,
            filter_name: def.filter.name.clone(),
            filter_spec,
            filter: Arc::new(filter),
            sources,
            scope,
            at,
        })
    }
}

/// moat's increment from fail2ban's.
pub fn increment_of(i: &moat_fail2ban::Increment) -> Increment {
    Increment {
        factor: i.factor,
        multipliers: i.multipliers.clone(),
        maxtime: i.maxtime,
        rndtime: i.rndtime.filter(|d| *d > Duration::ZERO),
        overalljails: i.overalljails,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with a jail file `jail.conf` of `jail` and filter `f`.
    fn jail_dir(name: &str, jail: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("moat-spec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("filter.d")).unwrap();
        std::fs::write(
            dir.join("filter.d/f.conf"),
            "[Definition]\nfailregex = ^failure from <HOST>$\n",
        )
        .unwrap();
        let log = dir.join("f.log");
        std::fs::write(&log, "").unwrap();
        std::fs::write(
            dir.join("jail.conf"),
            format!(
                "[f]\nenabled = true\nfilter = f\nlogpath = {}\n{jail}",
                log.display()
            ),
        )
        .unwrap();
        dir
    }

    fn spec_of(dir: &std::path::Path) -> JailSpec {
        let set = moat_fail2ban::load_jails(&dir.join("jail.conf")).unwrap();
        JailSpec::from_fail2ban(&set.jails[0]).unwrap()
    }

    #[test]
    fn a_jail_without_firewall_action_closes_all_traffic_as_its_warning_says() {
        let dir = jail_dir("noaction", "");
        let set = moat_fail2ban::load_jails(&dir.join("jail.conf")).unwrap();
        let warning = set.warnings[0].to_string();
        assert!(warning.contains("a ban closes all traffic"), "{warning}");
        let spec = spec_of(&dir);
        assert!(spec.scope.closes_everything() && spec.scope.reject);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_jail_read_again_unchanged_has_the_same_definition() {
        let dir = jail_dir("same", "maxretry = 2\n");
        let first = spec_of(&dir);
        assert!(first.same_definition(&spec_of(&dir)));
        for change in ["maxretry = 3\n", "maxretry = 2\nignoreip = 192.0.2.1\n"] {
            let other = jail_dir("changed", change);
            assert!(!first.same_definition(&spec_of(&other)), "{change}");
            std::fs::remove_dir_all(&other).unwrap();
        }
        std::fs::write(
            dir.join("filter.d/f.conf"),
            "[Definition]\nfailregex = ^failed from <HOST>$\n",
        )
        .unwrap();
        assert!(!first.same_definition(&spec_of(&dir)), "a changed filter");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
