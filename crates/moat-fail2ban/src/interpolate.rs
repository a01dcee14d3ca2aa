//! `%(name)s` interpolation as fail2ban does it (Python's `BasicInterpolation` plus fail2ban's
//! additions): names looked up in the caller's variables, then the section, then `[DEFAULT]`;
//! `%(__name__)s` is the section's name; `%(known/name)s` is the value `name` had before a
//! later file overrode it; `%(section/name)s` reads another section; `%%` is a `%`.

use crate::config::{Config, OMap, Value};
use crate::error::{ConfError, Location};

/// Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;

/// Why a lookup failed.
#[derive(Debug)]
pub(crate) enum GetError {
    /// The section does not exist.
    NoSection,
    /// The option is not set in the section, `[DEFAULT]` or the variables.
    NoOption,
    /// The value is set but cannot be interpolated.
    Bad(ConfError),
}

impl GetError {
    /// The error as a `ConfError`, at `at` unless it carries its own place.
    pub fn into_error(self, at: &Location) -> ConfError {
        match self {
            GetError::Bad(e) => e,
            GetError::NoSection => at.error("section not found"),
            GetError::NoOption => at.error("option not found"),
        }
    }
}

/// The variables of one lookup: highest precedence first.
struct Map<'a> {
    /// Caller's variables plus `__name__` and `section/option` values added on the way.
    extra: OMap<String>,
    section: Option<&'a OMap<Value>>,
    defaults: &'a OMap<Value>,
}

impl Map<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.extra.get(key) {
            return Some(v);
        }
        if let Some(v) = self.section.and_then(|s| s.get(key)) {
            return Some(&v.text);
        }
        self.defaults.get(key).map(|v| v.text.as_str())
    }
}

/// The raw value of `option` in `section` (or `[DEFAULT]`), without interpolation.
pub(crate) fn raw<'a>(cfg: &'a Config, section: &str, option: &str) -> Option<&'a Value> {
    cfg.sections
        .get(section)
        .and_then(|s| s.get(option))
        .or_else(|| cfg.defaults.get(option))
}

/// The interpolated value of `option` in `section` with `vars` taking precedence
/// (configparser's `get(section, option, vars=...)`).
pub(crate) fn get(
    cfg: &Config,
    section: &str,
    option: &str,
    vars: &OMap<String>,
) -> Result<String, GetError> {
    let sec = cfg.sections.get(section);
    if sec.is_none() && section != "DEFAULT" {
        return Err(GetError::NoSection);
    }
    let option = option.to_lowercase();
    let mut extra = OMap::default();
    for (k, v) in &vars.0 {
        extra.insert(k.to_lowercase(), v.clone());
    }
    let map = Map {
        extra,
        section: sec,
        defaults: &cfg.defaults,
    };
    let (value, at) = match map.extra.get(&option) {
        Some(v) => (v.clone(), None),
        None => match raw(cfg, section, &option) {
            Some(v) => (v.text.clone(), Some(v.location())),
            None => return Err(GetError::NoOption),
        },
    };
    let at = at.unwrap_or_else(|| Location::new("<options>", 0));
    let mut out = String::new();
    interpolate_some(cfg, section, &option, &at, &mut out, &value, map, 1)?;
    Ok(out)
}

/// `get` for names like `known/opt`, `default/opt` or `section/opt` (fail2ban's `get_ex`).
pub(crate) fn get_ex(
    cfg: &Config,
    section: &str,
    option: &str,
    vars: &OMap<String>,
) -> Result<String, GetError> {
    if let Some((sec, opt)) = section_option(option) {
        let lower = sec.to_lowercase();
        let candidates: Vec<String> = match lower.as_str() {
            "known" => vec![format!("KNOWN/{section}"), section.to_string()],
            "default" => vec!["DEFAULT".to_string()],
            _ => vec![sec.to_string()],
        };
        for c in candidates {
            match get(cfg, &c, opt, &OMap::default()) {
                Ok(v) => return Ok(v),
                Err(GetError::NoSection | GetError::NoOption) => {}
                Err(e) => return Err(e),
            }
        }
    }
    get(cfg, section, option, vars)
}

/// `sec/opt` per fail2ban's `^([\w\-]+)/([^\s>]+)$`.
fn section_option(name: &str) -> Option<(&str, &str)> {
    let (sec, opt) = name.split_once('/')?;
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let ok = !sec.is_empty()
        && sec.chars().all(word)
        && !opt.is_empty()
        && opt.chars().all(|c| !c.is_whitespace() && c != '>');
    ok.then_some((sec, opt))
}

/// Every `%(sec/opt)s` in `rest` (fail2ban's `%\(([\w\-]+/([^\)]+))\)s`): (sec/opt, opt).
fn section_refs(rest: &str) -> Vec<(String, String)> {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = rest[i..].find("%(") {
        let start = i + off;
        let body = &rest[start + 2..];
        let sec_len: usize = body
            .chars()
            .take_while(|&c| word(c))
            .map(char::len_utf8)
            .sum();
        let matched = (|| {
            if sec_len == 0 || !body[sec_len..].starts_with('/') {
                return None;
            }
            let after = &body[sec_len + 1..];
            let close = after.find(')')?;
            if close == 0 || !after[close..].starts_with(")s") {
                return None;
            }
            let opt = &after[..close];
            Some((
                format!("{}/{}", &body[..sec_len], opt),
                opt.to_string(),
                sec_len + 1 + close + 2,
            ))
        })();
        match matched {
            Some((sopt, opt, len)) => {
                out.push((sopt, opt));
                i = start + 2 + len;
            }
            None => i = start + 1,
        }
    }
    out
}

/// Adds `__name__` and the `%(sec/opt)s` values of `rest` to the map (fail2ban's
/// `_map_section_options`), then expands `rest` into `out`.
#[allow(clippy::too_many_arguments)]
fn interpolate_some(
    cfg: &Config,
    section: &str,
    option: &str,
    at: &Location,
    out: &mut String,
    rest: &str,
    mut map: Map<'_>,
    depth: usize,
) -> Result<(), GetError> {
    if !section.is_empty() {
        map.extra
            .insert("__name__".to_string(), section.to_string());
        if rest.contains('/') && rest.contains("%(") {
            for (sopt, opt) in section_refs(rest) {
                if map.get(&sopt).is_some() {
                    continue;
                }
                let sec = &sopt[..sopt.len() - opt.len() - 1];
                let lower = sec.to_lowercase();
                let found = match lower.as_str() {
                    "default" => None,
                    "known" => cfg
                        .sections
                        .get(&format!("KNOWN/{section}"))
                        .and_then(|s| s.get(&opt)),
                    _ => match cfg.sections.get(sec) {
                        None => continue,
                        Some(s) => s.get(&opt),
                    },
                };
                let v = match found.or_else(|| cfg.defaults.get(&opt)) {
                    Some(v) => v.text.clone(),
                    None => continue,
                };
                map.extra.insert(sopt, v);
            }
        }
    }
    if depth > MAX_DEPTH {
        return Err(GetError::Bad(at.error(format!(
            "`{option}` in [{section}]: references nest deeper than {MAX_DEPTH} levels (a reference loop?)"
        ))));
    }
    let mut rest = rest;
    while !rest.is_empty() {
        let Some(p) = rest.find('%') else {
            out.push_str(rest);
            return Ok(());
        };
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match rest.as_bytes().get(1) {
            Some(b'%') => {
                out.push('%');
                rest = &rest[2..];
            }
            Some(b'(') => {
                let Some(close) = rest.find(')') else {
                    return Err(bad_ref(at, option, section, rest));
                };
                if close == 2 || !rest[close..].starts_with(")s") {
                    return Err(bad_ref(at, option, section, rest));
                }
                let var = rest[2..close].to_lowercase();
                rest = &rest[close + 2..];
                let Some(v) = map.get(&var).map(str::to_string) else {
                    return Err(GetError::Bad(at.error(format!(
                        "`{option}` in [{section}] uses %({var})s, but `{var}` is not set in [{section}], [DEFAULT] or the options"
                    ))));
                };
                if v.contains('%') {
                    let sub = Map {
                        extra: map.extra.clone(),
                        section: map.section,
                        defaults: map.defaults,
                    };
                    interpolate_some(cfg, section, option, at, out, &v, sub, depth + 1)?;
                } else {
                    out.push_str(&v);
                }
            }
            _ => {
                return Err(GetError::Bad(at.error(format!(
                    "`{option}` in [{section}]: `%` must be followed by `%` or `(name)s`, found `{}` (write %% for a percent sign)",
                    rest.chars().take(20).collect::<String>()
                ))))
            }
        }
    }
    Ok(())
}

fn bad_ref(at: &Location, option: &str, section: &str, rest: &str) -> GetError {
    GetError::Bad(at.error(format!(
        "`{option}` in [{section}]: bad reference `{}`, expected %(name)s",
        rest.chars().take(30).collect::<String>()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    fn cfg(text: &str) -> Config {
        let dir = std::env::temp_dir().join(format!(
            "moat-f2b-interp-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.conf"), text).unwrap();
        let c = Config::read(vec![Origin::Disk(dir.join("a.conf"))]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c
    }

    #[test]
    fn names_defaults_vars_and_escapes() {
        let c =
            cfg("[DEFAULT]\nd = D%(x)s\nx = dx\n[s]\nx = sx\nv = %(d)s-%(__name__)s-%(y)s 100%%\n");
        let mut vars = OMap::default();
        vars.insert("Y".to_string(), "vy".to_string());
        assert_eq!(get(&c, "s", "v", &vars).unwrap(), "Dsx-s-vy 100%");
        assert!(matches!(
            get(&c, "s", "nope", &vars),
            Err(GetError::NoOption)
        ));
        assert!(matches!(get(&c, "t", "v", &vars), Err(GetError::NoSection)));
        assert!(matches!(
            get(&c, "s", "v", &OMap::default()),
            Err(GetError::Bad(_))
        ));
    }

    #[test]
    fn section_references() {
        let c = cfg("[a]\nk = A\n[b]\nv = %(a/k)s %(default/z)s\n[DEFAULT]\nz = Z\n");
        assert_eq!(get(&c, "b", "v", &OMap::default()).unwrap(), "A Z");
        assert_eq!(get_ex(&c, "b", "a/k", &OMap::default()).unwrap(), "A");
    }

    #[test]
    fn loops_are_errors() {
        let c = cfg("[s]\na = %(b)s\nb = %(a)s\n");
        let e = get(&c, "s", "a", &OMap::default()).unwrap_err();
        assert!(matches!(e, GetError::Bad(ref e) if e.line == 2), "{e:?}");
    }
}
