//! A set of fail2ban files read together the way fail2ban reads them: every file followed by
//! its `.local`, `[INCLUDES] before/after` resolved relative to the including file, later files
//! overriding earlier ones key by key (the overridden value kept for `%(known/...)s`), and
//! conditional sections such as `[Init?family=inet6]` folded into their base section.

use crate::error::{ConfError, Location, Warning};
use crate::ini::{self, IniFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a configuration file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Origin {
    /// A file on disk.
    Disk(PathBuf),
    /// One of moat's built-in filter files, by name without `.conf`.
    Builtin(String),
}

impl Origin {
    /// The name used in messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Origin::Disk(p) => p.clone(),
            Origin::Builtin(n) => PathBuf::from(format!("builtin:{n}.conf")),
        }
    }
}

/// A raw (not yet interpolated) value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    /// The raw text.
    pub text: String,
    /// The file of the key.
    pub file: Arc<PathBuf>,
    /// The line of the key.
    pub line: usize,
}

impl Value {
    /// A value set by moat itself (not from a file).
    pub fn synthetic(text: impl Into<String>, at: &Location) -> Self {
        Value {
            text: text.into(),
            file: Arc::new(at.file.clone()),
            line: at.line,
        }
    }

    /// Where the value was written.
    pub fn location(&self) -> Location {
        Location::new(self.file.as_ref().clone(), self.line)
    }
}

/// An insertion-ordered map (Python's dict), small enough for linear search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OMap<V>(pub Vec<(String, V)>);

impl<V> Default for OMap<V> {
    fn default() -> Self {
        OMap(Vec::new())
    }
}

impl<V> OMap<V> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, keeping its position when it exists.
    pub fn insert(&mut self, key: String, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// Several files merged: the `[DEFAULT]` values and every section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// `[DEFAULT]`.
    pub defaults: OMap<Value>,
    /// The sections in order of first appearance (including `KNOWN/name` ones).
    pub sections: OMap<OMap<Value>>,
    /// Where each section was first opened.
    pub section_at: OMap<Location>,
    /// Warnings from the files read.
    pub warnings: Vec<Warning>,
    /// The files read, in order of first reading (fail2ban may read one twice).
    pub files: Vec<PathBuf>,
}

/// Reads files with their includes, caching each parsed file.
struct Reader {
    parsed: HashMap<Origin, Option<Arc<(IniFile, PathBuf)>>>,
    warnings: Vec<Warning>,
}

/// `name: value` of a conditional section name (`Init?family=inet6`): `^(\w+)(\?.+)$`.
pub(crate) fn conditional(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    let word = !base.is_empty() && base.chars().all(|c| c.is_alphanumeric() || c == '_');
    (word && cond.len() > 1).then_some((base, cond))
}

/// Python's `os.path.splitext(p)[0] + ".local"`.
fn local_of(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    let base_start = s.rfind('/').map_or(0, |i| i + 1);
    let name = &s[base_start..];
    let stem_len = name
        .trim_start_matches('.')
        .rfind('.')
        .map(|i| i + (name.len() - name.trim_start_matches('.').len()));
    let stem = match stem_len {
        Some(i) => &s[..base_start + i],
        None => &s[..],
    };
    PathBuf::from(format!("{stem}.local"))
}

impl Reader {
    /// The parsed file, or None when it does not exist (fail2ban skips missing files).
    fn parse(&mut self, origin: &Origin) -> Result<Option<Arc<(IniFile, PathBuf)>>, ConfError> {
        if let Some(p) = self.parsed.get(origin) {
            return Ok(p.clone());
        }
        let shown = origin.display_path();
        let text = match origin {
            Origin::Disk(p) => {
                if !p.is_file() {
                    self.parsed.insert(origin.clone(), None);
                    return Ok(None);
                }
                let bytes = std::fs::read(p)
                    .map_err(|e| ConfError::file(p, format!("cannot read: {e}")))?;
                String::from_utf8(bytes).map_err(|e| {
                    ConfError::file(p, format!("not UTF-8 text ({e}); fail2ban reads UTF-8"))
                })?
            }
            Origin::Builtin(n) => match crate::builtin::text(n) {
                Some(t) => t.to_string(),
                None => {
                    self.parsed.insert(origin.clone(), None);
                    return Ok(None);
                }
            },
        };
        let (ini, warnings) = ini::parse(&text, &shown)?;
        self.warnings.extend(warnings);
        let p = Some(Arc::new((ini, shown)));
        self.parsed.insert(origin.clone(), p.clone());
        Ok(p)
    }

    /// Adds each file's `.local` after it (fail2ban's `_expandConfFilesWithLocal`).
    fn expand_local(list: Vec<Origin>) -> Vec<Origin> {
        let mut out = Vec::new();
        for o in &list {
            out.push(o.clone());
            if let Origin::Disk(p) = o {
                let local = Origin::Disk(local_of(p));
                if !list.contains(&local) && matches!(&local, Origin::Disk(l) if l.is_file()) {
                    out.push(local);
                }
            }
        }
        out
    }

    /// The files to read for `list`: each one's `before` includes, itself, its `after` includes.
    fn with_includes(
        &mut self,
        list: Vec<Origin>,
        seen: &[Origin],
    ) -> Result<Vec<Origin>, ConfError> {
        let mut out = Vec::new();
        for origin in Self::expand_local(list) {
            let Some(parsed) = self.parse(&origin)? else {
                continue;
            };
            let (file, shown) = parsed.as_ref();
            let mut before = Vec::new();
            let mut after = Vec::new();
            if let Some(entries) = file.section("INCLUDES") {
                for (key, list) in [("before", &mut before), ("after", &mut after)] {
                    let Some(e) = entries.iter().find(|e| e.key == key) else {
                        continue;
                    };
                    let single = single_file_config(file, shown);
                    let value = crate::interpolate::get(&single, "INCLUDES", key, &OMap::default())
                        .map_err(|err| err.into_error(&Location::new(shown.clone(), e.line)))?;
                    for name in value.split('\n').filter(|n| !n.is_empty()) {
                        let target = resolve_include(&origin, name);
                        if seen.contains(&target) {
                            continue;
                        }
                        let mut s = seen.to_vec();
                        s.push(origin.clone());
                        list.extend(self.with_includes(vec![target], &s)?);
                    }
                }
            }
            out.extend(before);
            out.push(origin);
            out.extend(after);
        }
        Ok(out)
    }
}

/// The file an include line names: relative to the including file's directory; for a
/// built-in file, the built-in file of that base name.
fn resolve_include(from: &Origin, name: &str) -> Origin {
    match from {
        Origin::Disk(p) => {
            let n = Path::new(name);
            if n.is_absolute() {
                Origin::Disk(n.to_path_buf())
            } else {
                Origin::Disk(p.parent().unwrap_or(Path::new("")).join(n))
            }
        }
        Origin::Builtin(_) => {
            let base = name.rsplit('/').next().unwrap_or(name);
            let base = base.strip_suffix(".conf").unwrap_or(base);
            Origin::Builtin(base.to_string())
        }
    }
}

/// A config holding one file only (for reading its `[INCLUDES]`).
fn single_file_config(file: &IniFile, shown: &Path) -> Config {
    let mut c = Config::default();
    c.merge_file(file, shown);
    c
}

impl Config {
    /// Reads `files` (each with its `.local` and includes) into one config.
    pub fn read(files: Vec<Origin>) -> Result<Config, ConfError> {
        let mut reader = Reader {
            parsed: HashMap::new(),
            warnings: Vec::new(),
        };
        let all = reader.with_includes(files, &[])?;
        let mut cfg = Config::default();
        for origin in &all {
            if let Some(parsed) = reader.parse(origin)? {
                let (file, shown) = parsed.as_ref();
                cfg.merge_file(file, shown);
                if !cfg.files.contains(shown) {
                    cfg.files.push(shown.clone());
                }
            }
        }
        cfg.warnings = reader.warnings;
        Ok(cfg)
    }

    /// Merges one parsed file over what is there, keeping overridden values in `KNOWN/name`.
    fn merge_file(&mut self, file: &IniFile, shown: &Path) {
        let path = Arc::new(shown.to_path_buf());
        let val = |e: &ini::Entry| Value {
            text: e.value.clone(),
            file: path.clone(),
            line: e.line,
        };
        for e in &file.defaults {
            self.defaults.insert(e.key.clone(), val(e));
        }
        for s in &file.sections {
            let base = conditional(&s.name).map_or(s.name.as_str(), |(b, _)| b);
            if !self.section_at.contains(base) {
                self.section_at
                    .insert(base.to_string(), Location::new(shown.to_path_buf(), s.line));
            }
            let (name, entries): (&str, Vec<(String, Value)>) = match conditional(&s.name) {
                Some((base, cond)) => (
                    base,
                    s.entries
                        .iter()
                        .map(|e| (format!("{}{cond}", e.key), val(e)))
                        .collect(),
                ),
                None => (
                    s.name.as_str(),
                    s.entries.iter().map(|e| (e.key.clone(), val(e))).collect(),
                ),
            };
            if self.sections.contains(name) {
                let known_name = format!("KNOWN/{name}");
                let existing = self.sections.get(name).expect("checked").clone();
                let mut known = self.sections.get(&known_name).cloned().unwrap_or_default();
                for (k, v) in &existing.0 {
                    if entries.iter().any(|(ek, _)| ek == k) {
                        known.insert(k.clone(), v.clone());
                    }
                }
                self.sections.insert(known_name, known);
                let sec = self
                    .sections
                    .0
                    .iter_mut()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| s)
                    .expect("checked");
                for (k, v) in entries {
                    sec.insert(k, v);
                }
            } else {
                self.sections.insert(name.to_string(), OMap(entries));
            }
        }
    }

    /// The own keys of `section` (without the defaults).
    pub fn own_keys(&self, section: &str) -> Vec<String> {
        self.sections
            .get(section)
            .map(|s| s.keys().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Whether `section` exists.
    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains(section)
    }

    /// Sets `key` in `section` (creating it).
    pub fn set(&mut self, section: &str, key: &str, value: Value) {
        if !self.sections.contains(section) {
            self.sections.insert(section.to_string(), OMap::default());
        }
        let sec = self
            .sections
            .0
            .iter_mut()
            .find(|(n, _)| n == section)
            .map(|(_, s)| s)
            .expect("just inserted");
        sec.insert(key.to_string(), value);
    }
}

/// The files fail2ban reads for `stem` in `dir`, in its order, those that
/// exist: `stem.conf`, `stem.d/*.conf`, `stem.local`, `stem.d/*.local`
/// (each `.d` list sorted, hidden files left out).
pub(crate) fn config_files(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let listed = |ext: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(format!("{stem}.d")))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let f = p
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                !f.starts_with('.') && f.ends_with(ext)
            })
            .collect();
        v.sort();
        v
    };
    let mut files = vec![dir.join(format!("{stem}.conf"))];
    files.extend(listed(".conf"));
    files.push(dir.join(format!("{stem}.local")));
    files.extend(listed(".local"));
    files.retain(|f| f.exists());
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names() {
        assert_eq!(
            local_of(Path::new("/a/b/sshd.conf")),
            PathBuf::from("/a/b/sshd.local")
        );
        assert_eq!(local_of(Path::new("/a.d/b")), PathBuf::from("/a.d/b.local"));
        assert_eq!(
            local_of(Path::new("/a/.hidden")),
            PathBuf::from("/a/.hidden.local")
        );
    }

    #[test]
    fn conditional_names() {
        assert_eq!(
            conditional("Init?family=inet6"),
            Some(("Init", "?family=inet6"))
        );
        assert_eq!(conditional("Init"), None);
        assert_eq!(conditional("a-b?x"), None);
    }

    #[test]
    fn local_overrides_and_known() {
        let dir = std::env::temp_dir().join(format!("moat-f2b-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("common.conf"), "[DEFAULT]\np = common\n").unwrap();
        std::fs::write(
            dir.join("x.conf"),
            "[INCLUDES]\nbefore = common.conf\n[Definition]\nf = one\ng = 1\n",
        )
        .unwrap();
        std::fs::write(dir.join("x.local"), "[Definition]\nf = two\n").unwrap();
        let cfg = Config::read(vec![Origin::Disk(dir.join("x.conf"))]).unwrap();
        assert_eq!(cfg.defaults.get("p").unwrap().text, "common");
        let d = cfg.sections.get("Definition").unwrap();
        assert_eq!(d.get("f").unwrap().text, "two");
        assert_eq!(d.get("f").unwrap().line, 2);
        assert_eq!(
            cfg.sections
                .get("KNOWN/Definition")
                .unwrap()
                .get("f")
                .unwrap()
                .text,
            "one"
        );
        assert_eq!(cfg.files.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
