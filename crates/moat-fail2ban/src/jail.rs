//! Jail files as fail2ban reads them: `jail.conf`, `jail.d/*.conf`, `jail.local`,
//! `jail.d/*.local` (with their includes), `[DEFAULT]` inherited, every section a jail,
//! enabled only with `enabled = true`, each enabled jail's filter, log paths, limits, times,
//! ignore list and actions resolved and checked.

use crate::action::{self, ActionRef, BanScope};
use crate::config::{Config, OMap, Origin, Value};
use crate::duration;
use crate::error::{ConfError, Location, Warning};
use crate::filter::{apply_option, FilterDef, FilterReader, FILTER_OPTIONS};
use crate::interpolate::{self, GetError};
use crate::options;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The fail2ban version whose behaviour moat reproduces (`%(fail2ban_version)s`).
const FAIL2BAN_VERSION: &str = "1.0.2";

/// The jail options fail2ban reads (besides the filter options), in its order.
const JAIL_OPTIONS: [&str; 22] = [
    "enabled",
    "backend",
    "maxretry",
    "maxmatches",
    "findtime",
    "bantime",
    "bantime.increment",
    "bantime.factor",
    "bantime.formula",
    "bantime.multipliers",
    "bantime.maxtime",
    "bantime.rndtime",
    "bantime.overalljails",
    "ignorecommand",
    "ignoreself",
    "ignoreip",
    "ignorecache",
    "filter",
    "logtimezone",
    "logencoding",
    "logpath",
    "action",
];

/// How long a ban lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanTime {
    /// This long.
    Seconds(Duration),
    /// Until lifted by hand (`bantime = -1` or any negative time).
    Permanent,
}

impl BanTime {
    /// Parses a fail2ban time (`600`, `10m`, `1h30m`, `1w`, `-1`): negative means permanent.
    pub fn parse(text: &str) -> Result<BanTime, String> {
        let s = duration::seconds(text)?;
        Ok(if s < 0.0 {
            BanTime::Permanent
        } else {
            BanTime::Seconds(Duration::from_secs_f64(s))
        })
    }
}

/// `bantime.increment`: longer bans for addresses banned before.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    /// `bantime.factor` (default 1).
    pub factor: f64,
    /// `bantime.formula`, a Python expression, if given.
    pub formula: Option<String>,
    /// `bantime.multipliers` (when given they replace the formula).
    pub multipliers: Vec<u64>,
    /// `bantime.maxtime`: the longest ban.
    pub maxtime: Option<Duration>,
    /// `bantime.rndtime`: a random time up to this is added.
    pub rndtime: Option<Duration>,
    /// `bantime.overalljails`: count bans of the address in every jail.
    pub overalljails: bool,
}

/// One enabled jail, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct JailDef {
    /// The section name.
    pub name: String,
    /// The file and line of its `[name]` header.
    pub file: PathBuf,
    /// The header's line.
    pub line: usize,
    /// Its filter, with jail-level `failregex`, `ignoreregex`, `prefregex`, `datepattern`,
    /// `maxlines` and `journalmatch` applied.
    pub filter: FilterDef,
    /// Log files to follow (globs as written); empty for a systemd backend.
    pub logpaths: Vec<String>,
    /// `auto`, `polling`, `pyinotify`, `gamin`, `systemd` or `systemd[...]`.
    pub backend: String,
    /// Failures that lead to a ban.
    pub maxretry: u32,
    /// The window in which `maxretry` failures must fall.
    pub findtime: Duration,
    /// How long a ban lasts.
    pub bantime: BanTime,
    /// Longer bans for repeat offenders, when `bantime.increment = true`.
    pub increment: Option<Increment>,
    /// Addresses, networks and host names never banned, as written.
    pub ignoreip: Vec<String>,
    /// Never ban this host's own addresses (default true).
    pub ignoreself: bool,
    /// `usedns`: `yes`, `warn` (default), `no` or `raw`.
    pub usedns: String,
    /// `logtimezone`, if set.
    pub logtimezone: Option<String>,
    /// What a ban blocks, from the firewall actions; `None` when the jail has none.
    pub scope: Option<BanScope>,
    /// The actions that do not block (mail, reports), for the caller to judge.
    pub actions: Vec<ActionRef>,
    /// Where each jail option was written (key: option name).
    pub locations: BTreeMap<String, Location>,
}

/// The jails of a file or directory.
#[derive(Debug, Clone, PartialEq)]
pub struct JailSet {
    /// The enabled jails, in file order.
    pub jails: Vec<JailDef>,
    /// The names of the jails not enabled.
    pub disabled: Vec<String>,
    /// Lines fail2ban reads differently than they look, and settings that are likely mistakes.
    pub warnings: Vec<Warning>,
    /// Every file read.
    pub files: Vec<PathBuf>,
}

/// Loads the jails of `path` (see `check_jails`), failing with the first error.
pub fn load_jails(path: &Path) -> Result<JailSet, ConfError> {
    check_jails(path).map_err(|mut errors| errors.remove(0))
}

/// Reads and checks the jails of `path`: a jail file (read together with its `.local`
/// and `NAME.d/` beside it, so `jail.conf` brings `jail.local` and `jail.d/`) or a directory
/// holding `jail.conf`/`jail.local`/`jail.d`. Filters come from `filter.d` beside the jail
/// files, then moat's built-in filters. Returns every error found.
pub fn check_jails(path: &Path) -> Result<JailSet, Vec<ConfError>> {
    let (origins, basedir) = jail_files(path).map_err(|e| vec![e])?;
    let mut cfg = Config::read(origins).map_err(|e| vec![e])?;
    let here = Location::new(path.to_path_buf(), 0);
    cfg.defaults.insert(
        "fail2ban_version".to_string(),
        Value::synthetic(FAIL2BAN_VERSION, &here),
    );
    cfg.defaults.insert(
        "fail2ban_confpath".to_string(),
        Value::synthetic(basedir.display().to_string(), &here),
    );
    let filter_dirs = vec![basedir.join("filter.d")];
    let mut set = JailSet {
        jails: Vec::new(),
        disabled: Vec::new(),
        warnings: cfg.warnings.clone(),
        files: cfg.files.clone(),
    };
    let mut errors = Vec::new();
    let names: Vec<String> = cfg
        .sections
        .keys()
        .filter(|n| !n.starts_with("KNOWN/") && *n != "INCLUDES")
        .map(str::to_string)
        .collect();
    for name in names {
        match read_jail(&mut cfg, &name, &filter_dirs, &mut set.warnings) {
            Ok(Some(jail)) => set.jails.push(jail),
            Ok(None) => set.disabled.push(name),
            Err(e) => errors.push(e),
        }
    }
    if set.jails.is_empty() && errors.is_empty() {
        errors.push(ConfError::file(
            path,
            "no jail is enabled; expected `enabled = true` in a jail's section",
        ));
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// The files to read for `path` and the directory holding them.
fn jail_files(path: &Path) -> Result<(Vec<Origin>, PathBuf), ConfError> {
    let (dir, stem) = if path.is_dir() {
        (path.to_path_buf(), Some("jail".to_string()))
    } else if path.is_file() {
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let ext = path.extension().and_then(|e| e.to_str());
        let stem = matches!(ext, Some("conf" | "local"))
            .then(|| path.file_stem().map(|s| s.to_string_lossy().to_string()))
            .flatten();
        (dir, stem)
    } else {
        return Err(ConfError::file(path, "no such file or directory"));
    };
    let files = match &stem {
        Some(stem) => crate::config::config_files(&dir, stem),
        None => vec![path.to_path_buf()],
    };
    if files.is_empty() {
        return Err(ConfError::file(
            path,
            "no jail file: expected jail.conf or jail.local",
        ));
    }
    Ok((files.into_iter().map(Origin::Disk).collect(), dir))
}

/// The jail's options read from its section and `[DEFAULT]`, interpolated; absent ones left out.
struct JailOpts {
    values: OMap<String>,
    at: BTreeMap<String, Location>,
}

impl JailOpts {
    fn read(cfg: &Config, jail: &str, names: &[&str]) -> Result<JailOpts, ConfError> {
        let mut values = OMap::default();
        let mut at = BTreeMap::new();
        for &opt in names {
            let here = interpolate::raw(cfg, jail, opt).map(Value::location);
            match interpolate::get(cfg, jail, opt, &OMap::default()) {
                Ok(v) => {
                    values.insert(opt.to_string(), v);
                    if let Some(h) = here {
                        at.insert(opt.to_string(), h);
                    }
                }
                Err(GetError::NoOption) => {}
                Err(e) => {
                    let fallback = cfg
                        .section_at
                        .get(jail)
                        .cloned()
                        .unwrap_or_else(|| Location::new("", 0));
                    return Err(e.into_error(here.as_ref().unwrap_or(&fallback)));
                }
            }
        }
        Ok(JailOpts { values, at })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    fn at(&self, key: &str, section: &Location) -> Location {
        self.at.get(key).cloned().unwrap_or_else(|| section.clone())
    }
}

/// fail2ban's boolean: `1`, `on`, `true`, `yes` (any case) are true, everything else false;
/// a value that is neither a true nor a false word is warned about.
fn boolean(value: &str, key: &str, at: &Location, warnings: &mut Vec<Warning>) -> bool {
    let v = value.to_ascii_lowercase();
    let t = matches!(v.as_str(), "1" | "on" | "true" | "yes");
    if !t && !matches!(v.as_str(), "0" | "off" | "false" | "no") {
        warnings.push(at.warning(format!(
            "{key} = `{value}` is read as false; expected true or false"
        )));
    }
    t
}

/// A non-negative time option.
fn time(value: &str, key: &str, at: &Location) -> Result<Duration, ConfError> {
    let s = duration::seconds(value).map_err(|m| at.error(format!("{key}: {m}")))?;
    if s < 0.0 || !s.is_finite() {
        return Err(at.error(format!(
            "{key} = `{value}`: expected a time that is not negative"
        )));
    }
    Ok(Duration::from_secs_f64(s))
}

/// Reads jail `name`: `None` when it is not enabled.
fn read_jail(
    cfg: &mut Config,
    name: &str,
    filter_dirs: &[PathBuf],
    warnings: &mut Vec<Warning>,
) -> Result<Option<JailDef>, ConfError> {
    let section_at = cfg
        .section_at
        .get(name)
        .cloned()
        .unwrap_or_else(|| Location::new("", 0));
    let first = JailOpts::read(cfg, name, &["enabled", "backend", "filter"])?;
    let enabled = match first.get("enabled") {
        Some(v) => boolean(v, "enabled", &first.at("enabled", &section_at), warnings),
        None => false,
    };
    if !enabled {
        return Ok(None);
    }
    let backend = first.get("backend").unwrap_or("auto").to_string();
    let filter_value = first.get("filter").unwrap_or("").to_string();
    let filter_at = first.at("filter", &section_at);

    // The filter, read with the first options; its combined options become `known/...`
    // in the jail's section.
    let mut reader = None;
    if !filter_value.is_empty() {
        let (fname, fopts) = options::extract(&filter_value)
            .map_err(|m| filter_at.error(format!("filter = `{filter_value}`: {m}")))?;
        let mut r = FilterReader::open(&fname, filter_dirs, OMap(fopts), &filter_at)?;
        r.apply_logtype(&backend);
        let mut vars = OMap::default();
        vars.insert("enabled".to_string(), "True".to_string());
        vars.insert("backend".to_string(), backend.clone());
        vars.insert("filter".to_string(), filter_value.clone());
        r.read_options(&vars, true)?;
        for (k, v) in r.combined()?.0 {
            if !k.starts_with("known/") && k != "__name__" {
                cfg.set(name, &format!("known/{k}"), Value::synthetic(v, &filter_at));
            }
        }
        reader = Some(r);
    }

    let mut names: Vec<&str> = JAIL_OPTIONS.to_vec();
    names.extend(FILTER_OPTIONS);
    let opts = JailOpts::read(cfg, name, &names)?;
    let at = |k: &str| opts.at(k, &section_at);

    let mut filter = match &mut reader {
        Some(r) => {
            // fail2ban hands the options over type-converted: booleans as True/False.
            let mut vars = opts.values.clone();
            for (k, v) in vars.0.iter_mut() {
                if matches!(
                    k.as_str(),
                    "enabled" | "bantime.increment" | "bantime.overalljails" | "ignoreself"
                ) {
                    let t = matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "true" | "yes");
                    *v = if t { "True" } else { "False" }.to_string();
                }
            }
            r.read_options(&vars, false)?;
            r.definition()?
        }
        None => FilterDef {
            name: name.to_string(),
            file: None,
            files: Vec::new(),
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            prefregex: None,
            datepattern: None,
            maxlines: 1,
            journalmatch: Vec::new(),
            usedns: None,
            locations: BTreeMap::new(),
            warnings: Vec::new(),
        },
    };
    warnings.extend(std::mem::take(&mut filter.warnings));
    for key in FILTER_OPTIONS {
        if let Some(v) = opts.get(key) {
            apply_option(&mut filter, key, v, &at(key))?;
        }
    }
    if filter.failregex.is_empty() {
        if reader.is_none() {
            return Err(section_at.error(format!(
                "jail [{name}] has no filter; expected `filter = NAME` (a filter.d file or a built-in filter) or `failregex = ...`"
            )));
        }
        filter.require_failregex()?;
    }

    let backend = opts.get("backend").unwrap_or("auto").to_string();
    let backend_name = backend.split('[').next().unwrap_or("").trim();
    if !matches!(
        backend_name,
        "auto" | "polling" | "pyinotify" | "gamin" | "systemd"
    ) {
        return Err(at("backend").error(format!(
            "backend = `{backend}`: expected auto, polling, pyinotify, gamin or systemd (optionally systemd[...])"
        )));
    }
    if backend_name != "systemd" && backend.contains('[') {
        options::extract(&backend)
            .map_err(|m| at("backend").error(format!("backend = `{backend}`: {m}")))?;
    }
    let systemd = backend_name == "systemd";

    let mut logpaths = Vec::new();
    if !systemd {
        let Some(value) = opts.get("logpath").filter(|v| !v.trim().is_empty()) else {
            return Err(section_at.error(format!(
                "jail [{name}] has no logpath; expected `logpath = /var/log/...` (or `backend = systemd` for the journal)"
            )));
        };
        for line in value.split('\n').filter(|l| !l.is_empty()) {
            let path = match line.rsplit_once(' ') {
                Some((p, tail)) => {
                    if !matches!(tail, "head" | "tail") {
                        warnings.push(at("logpath").warning(format!(
                            "logpath `{line}`: fail2ban takes the last word `{tail}` as head/tail and the path as `{p}`"
                        )));
                    }
                    p
                }
                None => line,
            };
            logpaths.push(path.to_string());
        }
    }

    let maxretry = match opts.get("maxretry") {
        None => 3,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            at("maxretry").error(format!(
                "maxretry = `{v}`: expected a whole number of failures"
            ))
        })?,
    };
    let findtime = match opts.get("findtime") {
        None => Duration::from_secs(600),
        Some(v) => time(v, "findtime", &at("findtime"))?,
    };
    let bantime = match opts.get("bantime") {
        None => BanTime::Seconds(Duration::from_secs(600)),
        Some(v) => BanTime::parse(v).map_err(|m| at("bantime").error(format!("bantime: {m}")))?,
    };
    let increment = match opts.get("bantime.increment") {
        Some(v) if boolean(v, "bantime.increment", &at("bantime.increment"), warnings) => {
            Some(increment(&opts, &section_at, warnings)?)
        }
        _ => None,
    };
    let ignoreself = match opts.get("ignoreself") {
        Some(v) => boolean(v, "ignoreself", &at("ignoreself"), warnings),
        None => true,
    };
    let ignoreip = options::split_words(opts.get("ignoreip").unwrap_or(""));
    let usedns = filter.usedns.clone().unwrap_or_else(|| "warn".to_string());
    if !matches!(
        usedns.to_ascii_lowercase().as_str(),
        "yes" | "warn" | "no" | "raw"
    ) {
        return Err(at("usedns").error(format!(
            "usedns = `{usedns}`: expected yes, warn, no or raw"
        )));
    }

    // Actions.
    let action_at = at("action");
    let mut scopes = Vec::new();
    let mut actions = Vec::new();
    for text in options::split_references(opts.get("action").unwrap_or("")) {
        if text.is_empty() {
            continue;
        }
        let (aname, aopts) = options::extract(&text)
            .map_err(|m| action_at.error(format!("action `{text}`: {m}")))?;
        let a = ActionRef {
            name: aname,
            options: aopts.into_iter().collect(),
            at: action_at.clone(),
        };
        match action::scope(&a, opts.get("port"), warnings)? {
            Some(s) => scopes.push(s),
            None => actions.push(a),
        }
    }
    let scope = action::merge(scopes);
    if scope.is_none() {
        warnings.push(action_at.warning(format!(
            "jail [{name}] has no firewall action (iptables*, nftables*, firewallcmd-*, ...), so a ban closes all traffic from the address (rejected)"
        )));
    }

    let mut locations = opts.at.clone();
    locations
        .retain(|k, _| JAIL_OPTIONS.contains(&k.as_str()) || FILTER_OPTIONS.contains(&k.as_str()));
    Ok(Some(JailDef {
        name: name.to_string(),
        file: section_at.file.clone(),
        line: section_at.line,
        filter,
        logpaths,
        backend,
        maxretry,
        findtime,
        bantime,
        increment,
        ignoreip,
        ignoreself,
        usedns,
        logtimezone: opts.get("logtimezone").map(str::to_string),
        scope,
        actions,
        locations,
    }))
}

/// The `bantime.*` settings of a jail with `bantime.increment = true`.
fn increment(
    opts: &JailOpts,
    section_at: &Location,
    warnings: &mut Vec<Warning>,
) -> Result<Increment, ConfError> {
    let at = |k: &str| opts.at(k, section_at);
    let factor = match opts.get("bantime.factor") {
        None => 1.0,
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            at("bantime.factor").error(format!("bantime.factor = `{v}`: expected a number"))
        })?,
    };
    let multipliers = match opts.get("bantime.multipliers") {
        None => Vec::new(),
        Some(v) => v
            .split_whitespace()
            .map(|m| {
                m.parse::<u64>().map_err(|_| {
                    at("bantime.multipliers").error(format!(
                        "bantime.multipliers: `{m}` is not a whole number; expected e.g. `1 2 4 8 16 32 64`"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let opt_time = |k: &str| -> Result<Option<Duration>, ConfError> {
        opts.get(k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| time(v, k, &at(k)))
            .transpose()
    };
    Ok(Increment {
        factor,
        formula: opts
            .get("bantime.formula")
            .filter(|f| !f.trim().is_empty())
            .map(str::to_string),
        multipliers,
        maxtime: opt_time("bantime.maxtime")?,
        rndtime: opt_time("bantime.rndtime")?,
        overalljails: opts.get("bantime.overalljails").is_some_and(|v| {
            boolean(
                v,
                "bantime.overalljails",
                &at("bantime.overalljails"),
                warnings,
            )
        }),
    })
}
