//! `[[block]]` entries: block lists the configuration keeps loaded.
//!
//! ```toml
//! [[block]]                       # one list per country: cn, ru
//! countries = ["cn", "ru"]
//! zone_dir = "/var/lib/moat/zones"
//! except = ["203.0.113.0/24"]
//!
//! [[block]]                       # a list file; only -m set rules use it
//! name = "partners"
//! file = "/etc/moat/partners.txt"
//! direction = "none"
//! ```

use std::path::PathBuf;

use moat_blocklist::layout::{check_name, DEFAULT_DIRECTIONS};
use moat_blocklist::{zones, Direction, Source};
use toml::Value;

use crate::error::Diagnostic;
use crate::model::BlockList;
use crate::schema::{Any, Block, Text};
use crate::values::{absolute, err, network, span_of, Res};

/// An absolute path for `what` (lists are reloaded at boot, from any directory).
fn list_path(text: &Text, what: &str) -> Res<PathBuf> {
    absolute(
        text,
        format!("an absolute path for {what} (the list is reloaded at boot)"),
    )
}

/// `"in"`, `"none"` or a list such as `["in", "out"]`.
fn directions(value: &Any) -> Res<Vec<Direction>> {
    let span = span_of(value);
    let words: Vec<&str> = match value.get_ref() {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let expected = "in, forward, out, a list of them, or none";
    if words.is_empty() {
        return Err(err(span, "expected the directions to block").expected(expected));
    }
    if words.contains(&"none") {
        return match words.len() {
            1 => Ok(Vec::new()),
            _ => {
                Err(err(span, "`none` cannot be combined with other directions").expected(expected))
            }
        };
    }
    let mut out = Vec::new();
    for word in words {
        let d = Direction::parse(word).map_err(|e| err(span.clone(), e.to_string()))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

fn list_name(text: &Text) -> Res<String> {
    let name = text.get_ref().trim().to_string();
    check_name(&name).map_err(|e| err(span_of(text), e.to_string()))?;
    Ok(name)
}

/// The sources one entry names (several for `countries` without a `name`).
fn sources(b: &Block, span: std::ops::Range<usize>) -> Res<Vec<(String, Source)>> {
    match (&b.file, b.countries.is_empty()) {
        (Some(_), false) => Err(err(
            span,
            "a block list has either `file` or `countries`, not both",
        )),
        (None, true) => Err(err(span, "a block list needs `file` or `countries`")
            .expected("file = \"/etc/moat/list.txt\" or countries = [\"cn\"] with zone_dir")),
        (Some(file), true) => {
            let name = b.name.as_ref().ok_or_else(|| {
                err(span.clone(), "a list from a file needs a `name`")
                    .fix("add name = \"badhosts\"")
            })?;
            Ok(vec![(
                list_name(name)?,
                Source::File {
                    path: list_path(file, "`file`")?,
                },
            )])
        }
        (None, false) => {
            let dir = b.zone_dir.as_ref().ok_or_else(|| {
                err(span.clone(), "countries need a `zone_dir`")
                    .expected("a directory with ipv4/CC.zone and ipv6/CC.zone files")
            })?;
            let zone_dir = list_path(dir, "`zone_dir`")?;
            let mut codes = Vec::new();
            for c in &b.countries {
                let code =
                    zones::country_code(c.get_ref()).map_err(|e| err(span_of(c), e.to_string()))?;
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
            Ok(match &b.name {
                Some(name) => vec![(list_name(name)?, Source::Countries { codes, zone_dir })],
                None => codes
                    .into_iter()
                    .map(|code| {
                        let source = Source::Country {
                            code: code.clone(),
                            zone_dir: zone_dir.clone(),
                        };
                        (code, source)
                    })
                    .collect(),
            })
        }
    }
}

/// Validates the `[[block]]` entries; problems go to `problems`.
pub(crate) fn validate(
    entries: &[toml::Spanned<Block>],
    problems: &mut Vec<Diagnostic>,
) -> Vec<BlockList> {
    let mut out: Vec<BlockList> = Vec::new();
    for entry in entries {
        let span = span_of(entry);
        let b = entry.get_ref();
        let one = || -> Res<Vec<BlockList>> {
            let directions = match &b.direction {
                Some(d) => directions(d)?,
                None => DEFAULT_DIRECTIONS.to_vec(),
            };
            let except = b.except.iter().map(network).collect::<Res<Vec<_>>>()?;
            Ok(sources(b, span.clone())?
                .into_iter()
                .map(|(name, source)| BlockList {
                    name,
                    source,
                    except: except.clone(),
                    directions: directions.clone(),
                    span: span.clone(),
                })
                .collect())
        };
        match one() {
            Ok(lists) => {
                for list in lists {
                    if out.iter().any(|l| l.name == list.name) {
                        problems.push(err(
                            span.clone(),
                            format!("block list `{}` is defined twice", list.name),
                        ));
                    } else {
                        out.push(list);
                    }
                }
            }
            Err(d) => problems.push(d),
        }
    }
    out
}
