//! The applied configuration kept across reboots, under /etc/moat, or
//! /etc/netns/NAME/moat when moat runs in the network namespace NAME (as
//! `ip netns exec NAME` keeps per-namespace files); `MOAT_ETC` overrides both:
//!
//! - `ruleset.json`: moat's tables as applied, which `moat boot` puts back;
//! - `moat.toml` (or `rules.save` for an iptables-save file): the file applied.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;
use crate::HostError;

/// The ruleset file `moat boot` reads.
pub const RULESET: &str = "ruleset.json";
/// The copy of the last applied moat.toml.
pub const CONFIG: &str = "moat.toml";
/// The copy of the last applied iptables-save file.
pub const SAVE_FILE: &str = "rules.save";

/// Where `ip netns add` keeps the named network namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// The directory moat keeps its configuration in: `MOAT_ETC`, else
/// /etc/netns/NAME/moat in the named network namespace NAME, else /etc/moat.
pub fn etc_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOAT_ETC") {
        return PathBuf::from(dir);
    }
    match namespace_name() {
        Some(name) => Path::new("/etc/netns").join(name).join("moat"),
        None => PathBuf::from("/etc/moat"),
    }
}

/// The name of the named network namespace this process runs in: the
/// entry of /run/netns that is the same namespace as /proc/self/ns/net.
/// None in init's namespace (the host's), even when a name was given to it
/// (`ip netns attach NAME 1`), when init's namespace can be read.
fn namespace_name() -> Option<String> {
    let own = std::fs::metadata("/proc/self/ns/net").ok()?;
    let same = |m: &std::fs::Metadata| m.dev() == own.dev() && m.ino() == own.ino();
    if std::fs::metadata("/proc/1/ns/net").is_ok_and(|init| same(&init)) {
        return None;
    }
    std::fs::read_dir(NETNS_RUN_DIR)
        .ok()?
        .flatten()
        .find(|entry| std::fs::metadata(entry.path()).is_ok_and(|m| same(&m)))
        .and_then(|entry| entry.file_name().into_string().ok())
}

/// What to keep once a ruleset is applied (and, with --confirm, confirmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    /// Whether the source was a moat.toml (else an iptables-save file).
    pub toml: bool,
    /// The source file's text.
    pub text: String,
    /// The applied tables.
    pub ruleset: Snapshot,
}

fn write_atomic(path: &Path, text: &str) -> Result<(), HostError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(HostError::io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(HostError::io(format!("cannot write {}", path.display())))
}

/// Keeps `keep` in the configuration directory.
pub fn save(keep: &Keep) -> Result<PathBuf, HostError> {
    let dir = etc_dir();
    std::fs::create_dir_all(&dir)
        .map_err(HostError::io(format!("cannot create {}", dir.display())))?;
    let (name, stale) = if keep.toml {
        (CONFIG, SAVE_FILE)
    } else {
        (SAVE_FILE, CONFIG)
    };
    write_atomic(&dir.join(name), &keep.text)?;
    let _ = std::fs::remove_file(dir.join(stale));
    let json = serde_json::to_string_pretty(&keep.ruleset)
        .map_err(|e| HostError::io(format!("cannot write {RULESET}"))(e.into()))?;
    write_atomic(&dir.join(RULESET), &json)?;
    Ok(dir)
}

/// The kept ruleset, if any.
pub fn load_ruleset() -> Result<Option<Snapshot>, HostError> {
    let path = etc_dir().join(RULESET);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| HostError::Kept(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::io(format!("cannot read {}", path.display()))(e)),
    }
}

/// The kept iptables-save file's text, if the last applied file was one.
pub fn load_save_text() -> Option<String> {
    std::fs::read_to_string(etc_dir().join(SAVE_FILE)).ok()
}

/// The kept moat.toml, read, if the last applied file was one and it still reads.
pub fn kept_config() -> Option<moat_config::Config> {
    parse_kept(&load_config_text()?)
}

/// The configuration a kept moat.toml's text holds, if it reads.
pub fn parse_kept(text: &str) -> Option<moat_config::Config> {
    moat_config::parse_config("kept moat.toml", text).ok()
}

/// The kept moat.toml's text, if the last applied file was one.
pub fn load_config_text() -> Option<String> {
    config_text_in(&etc_dir())
}

/// The moat.toml kept in configuration directory `dir`, if any.
pub fn config_text_in(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(CONFIG)).ok()
}
