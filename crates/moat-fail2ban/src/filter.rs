//! filter.d files: found by name (a filter directory, `.local` over `.conf`, then moat's
//! built-in filters) or by path, read with their includes, `[Definition]` options
//! interpolated with the `[Init]` values and the options given with the name
//! (`sshd[mode=aggressive]`), `<tag>`s resolved, as fail2ban's FilterReader does.

use crate::config::{conditional, Config, OMap, Origin};
use crate::error::{ConfError, Location, Warning};
use crate::interpolate::{self, GetError};
use crate::tags;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `[Definition]` options a filter defines, in fail2ban's order.
pub(crate) const FILTER_OPTIONS: [&str; 7] = [
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// One filter, resolved: the strings moat's line matcher compiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDef {
    /// The filter's name (the file name without `.conf` for a path).
    pub name: String,
    /// The main file read (`None` for a built-in filter).
    pub file: Option<PathBuf>,
    /// Every file read, in reading order (includes and `.local` files too).
    pub files: Vec<PathBuf>,
    /// The failure regexes (Python syntax with fail2ban's tags), one per line of the value.
    pub failregex: Vec<String>,
    /// The regexes of lines to ignore.
    pub ignoreregex: Vec<String>,
    /// The prefix regex (with `<F-CONTENT>`), if any.
    pub prefregex: Option<String>,
    /// fail2ban's datepattern, if any.
    pub datepattern: Option<String>,
    /// How many lines a failure may span (1 = single-line).
    pub maxlines: usize,
    /// journalctl match arguments: `FIELD=value` words, `+` between alternatives.
    pub journalmatch: Vec<String>,
    /// `usedns` if the filter sets it (`yes`, `warn`, `no`, `raw`).
    pub usedns: Option<String>,
    /// Where each option above was written (key `failregex`, `prefregex`, ...).
    pub locations: BTreeMap<String, Location>,
    /// Lines in the files read that fail2ban reads differently than they look.
    pub warnings: Vec<Warning>,
}

/// Loads filter `name` with `options` (`[mode=aggressive]`-style, see `parse_filter_ref`):
/// `name.conf`/`name.local` (and `name.d/`) in the first of `filter_dirs` holding one, else
/// moat's built-in filter `name`, else the file at path `name`.
pub fn load_filter(
    name: &str,
    options: &BTreeMap<String, String>,
    filter_dirs: &[PathBuf],
) -> Result<FilterDef, ConfError> {
    let opts = OMap(
        options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let at = Location::new("<options>", 0);
    let mut reader = FilterReader::open(name, filter_dirs, opts, &at)?;
    reader.apply_logtype("auto");
    reader.read_options(&OMap::default(), false)?;
    let def = reader.definition()?;
    def.require_failregex()?;
    Ok(def)
}

/// A filter file read, then its options computed in fail2ban's steps.
pub(crate) struct FilterReader {
    name: String,
    main: Option<PathBuf>,
    cfg: Config,
    /// Options given with the name, then `[Init]` values (and `known/` copies).
    init: OMap<String>,
    /// The variables `%(...)s` sees in `[Definition]`.
    vars: OMap<String>,
    /// `[Definition]` options read (None: no `[Definition]` section).
    opts: OMap<Option<String>>,
    /// Where the options came from.
    at: BTreeMap<String, Location>,
    /// Where the name and its options were written.
    given_at: Location,
}

impl FilterReader {
    /// Finds and reads filter `name` (see `load_filter`).
    pub fn open(
        name: &str,
        filter_dirs: &[PathBuf],
        options: OMap<String>,
        given_at: &Location,
    ) -> Result<FilterReader, ConfError> {
        let found = filter_dirs.iter().find_map(|d| {
            let f = crate::config::config_files(d, name);
            (!f.is_empty()).then_some(f)
        });
        let (origins, main, shown) = if let Some(files) = found {
            let main = files[0].clone();
            (
                files.into_iter().map(Origin::Disk).collect(),
                Some(main),
                name.to_string(),
            )
        } else if crate::builtin::text(name).is_some() {
            (
                vec![Origin::Builtin(name.to_string())],
                None,
                name.to_string(),
            )
        } else {
            let p = Path::new(name);
            let candidates = [
                p.to_path_buf(),
                PathBuf::from(format!("{name}.conf")),
                PathBuf::from(format!("{name}.local")),
            ];
            let Some(file) = candidates.into_iter().find(|c| c.is_file()) else {
                let dirs: Vec<String> = filter_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                return Err(given_at.error(format!(
                    "filter `{name}` not found: no {name}.conf or {name}.local in {}, no built-in filter of that name, and no such file",
                    if dirs.is_empty() { "(no filter directory)".to_string() } else { dirs.join(", ") }
                )));
            };
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| name.to_string());
            (vec![Origin::Disk(file.clone())], Some(file), stem)
        };
        let cfg = Config::read(origins)?;
        Ok(FilterReader {
            name: shown,
            main,
            cfg,
            init: options,
            vars: OMap::default(),
            opts: OMap::default(),
            at: BTreeMap::new(),
            given_at: given_at.clone(),
        })
    }

    /// fail2ban's `applyAutoOptions`: `logtype` is `file`, or `journal` for a systemd
    /// backend, unless given or defined in `[Definition]`.
    pub fn apply_logtype(&mut self, backend: &str) {
        let given = self.init.get("logtype").is_some_and(|v| !v.is_empty());
        let defined = self
            .cfg
            .sections
            .get("Definition")
            .is_some_and(|d| d.contains("logtype"));
        if !given && !defined {
            let t = if backend.starts_with("systemd") {
                "journal"
            } else {
                "file"
            };
            self.init.insert("logtype".to_string(), t.to_string());
        }
    }

    fn err(&self, e: GetError, at: &Location) -> ConfError {
        e.into_error(at)
    }

    /// fail2ban's `getOptions(pOpts, all)`: reads the filter options of `[Definition]` (those
    /// not in `jail_opts`), then `[Init]`, then (`all`) every other `[Definition]` option.
    pub fn read_options(&mut self, jail_opts: &OMap<String>, all: bool) -> Result<(), ConfError> {
        let mut vars = jail_opts.clone();
        for (k, v) in &self.init.0 {
            vars.insert(k.clone(), v.clone());
        }
        let mut opts = OMap::default();
        let has_def = self.cfg.has_section("Definition");
        for opt in FILTER_OPTIONS {
            if vars.contains(opt) {
                continue;
            }
            if !has_def {
                opts.insert(opt.to_string(), None);
                continue;
            }
            let at = interpolate::raw(&self.cfg, "Definition", opt).map(|v| v.location());
            match interpolate::get(&self.cfg, "Definition", opt, &vars) {
                Ok(v) => {
                    opts.insert(opt.to_string(), Some(v));
                    if let Some(at) = at {
                        self.at.insert(opt.to_string(), at);
                    }
                }
                Err(GetError::NoOption | GetError::NoSection) => {}
                Err(e) => return Err(self.err(e, &self.given_at.clone())),
            }
        }
        self.vars = vars;
        if self.cfg.has_section("Init") {
            for opt in self.cfg.own_keys("Init") {
                let mut v = None;
                if !opt.starts_with("known/") {
                    let got = interpolate::get(&self.cfg, "Init", &opt, &OMap::default())
                        .map_err(|e| self.err(e, &self.given_at))?;
                    self.init.insert(format!("known/{opt}"), got.clone());
                    v = Some(got);
                }
                if !self.init.contains(&opt) {
                    let got = match v {
                        Some(v) => v,
                        None => interpolate::get(&self.cfg, "Init", &opt, &OMap::default())
                            .map_err(|e| self.err(e, &self.given_at))?,
                    };
                    self.init.insert(opt, got);
                }
            }
        }
        if all && has_def {
            for opt in self.cfg.own_keys("Definition") {
                if opts.contains(&opt) {
                    continue;
                }
                let v = interpolate::get(&self.cfg, "Definition", &opt, &OMap::default())
                    .map_err(|e| self.err(e, &self.given_at))?;
                opts.insert(opt, Some(v));
            }
        }
        self.opts = opts;
        Ok(())
    }

    /// fail2ban's `getCombined`: the options read plus the init options, `<tag>`s resolved.
    pub fn combined(&self) -> Result<OMap<String>, ConfError> {
        let mut tags: OMap<String> = OMap::default();
        let mut nones = Vec::new();
        for (k, v) in &self.opts.0 {
            match v {
                Some(v) => tags.insert(k.clone(), v.clone()),
                None => nones.push(k.clone()),
            }
        }
        for (k, v) in &self.init.0 {
            tags.insert(k.clone(), v.clone());
        }
        let ignore: Vec<String> = tags
            .keys()
            .filter_map(|k| conditional(k).map(|(b, _)| b.to_string()))
            .collect();
        tags::substitute(&mut tags, &ignore, |name| {
            match interpolate::get_ex(&self.cfg, "Definition", name, &self.vars) {
                Ok(v) => Ok(Some(v)),
                Err(GetError::NoOption | GetError::NoSection) => Ok(None),
                Err(e) => Err(e.into_error(&self.given_at).message),
            }
        })
        .map_err(|m| self.given_at.error(format!("filter `{}`: {m}", self.name)))?;
        tags.0.retain(|(k, _)| !nones.contains(k));
        Ok(tags)
    }

    /// The resolved filter.
    pub fn definition(&self) -> Result<FilterDef, ConfError> {
        if !self.cfg.has_section("Definition") {
            let file = self
                .main
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("builtin:{}.conf", self.name)));
            return Err(ConfError::file(
                &file,
                format!("filter `{}` has no [Definition] section", self.name),
            ));
        }
        let opts = self.combined()?;
        let mut def = FilterDef {
            name: self.name.clone(),
            file: self.main.clone(),
            files: self.cfg.files.clone(),
            failregex: Vec::new(),
            ignoreregex: Vec::new(),
            prefregex: None,
            datepattern: None,
            maxlines: 1,
            journalmatch: Vec::new(),
            usedns: None,
            locations: self.at.clone(),
            warnings: self.cfg.warnings.clone(),
        };
        for (k, v) in &opts.0 {
            let at = self.at.get(k).unwrap_or(&self.given_at).clone();
            apply_option(&mut def, k, v, &at)?;
        }
        Ok(def)
    }
}

impl FilterDef {
    /// An error unless the filter has at least one failregex.
    pub(crate) fn require_failregex(&self) -> Result<(), ConfError> {
        if !self.failregex.is_empty() {
            return Ok(());
        }
        let at = match (self.locations.get("failregex"), &self.file) {
            (Some(at), _) => at.clone(),
            (None, Some(f)) => Location::new(f.clone(), 0),
            (None, None) => Location::new(format!("builtin:{}.conf", self.name), 0),
        };
        Err(at.error(format!(
            "filter `{}` defines no failregex; expected `failregex = ...` in its [Definition]",
            self.name
        )))
    }
}

/// Sets filter option `key` of `def` to `value` (fail2ban's `_fillStream` conversions).
pub(crate) fn apply_option(
    def: &mut FilterDef,
    key: &str,
    value: &str,
    at: &Location,
) -> Result<(), ConfError> {
    let lines = |v: &str| -> Vec<String> {
        v.split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    match key {
        "failregex" => def.failregex = lines(value),
        "ignoreregex" => def.ignoreregex = lines(value),
        "prefregex" => def.prefregex = (!value.is_empty()).then(|| value.to_string()),
        "datepattern" => def.datepattern = (!value.is_empty()).then(|| value.to_string()),
        "usedns" => def.usedns = Some(value.to_string()),
        "maxlines" => {
            def.maxlines = match value.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(at.error(format!(
                        "maxlines = `{value}`: expected a whole number of lines, at least 1"
                    )))
                }
            }
        }
        "journalmatch" => {
            let mut words = Vec::new();
            for line in value.split('\n').filter(|l| !l.is_empty()) {
                let w = crate::shlex::split(line)
                    .map_err(|m| at.error(format!("journalmatch `{line}`: {m}")))?;
                if !words.is_empty() && !w.is_empty() {
                    words.push("+".to_string());
                }
                words.extend(w);
            }
            def.journalmatch = words;
        }
        _ => return Ok(()),
    }
    def.locations.insert(key.to_string(), at.clone());
    Ok(())
}
