//! The file as serde reads it: every value keeps its place in the text.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::{Spanned, Value};

/// A string with its place.
pub(crate) type Text = Spanned<String>;
/// Any value with its place (ports and zone lists take several shapes).
pub(crate) type Any = Spanned<Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    #[serde(default)]
    pub defaults: Option<Spanned<Defaults>>,
    #[serde(default)]
    pub zones: BTreeMap<String, Spanned<Zone>>,
    #[serde(default)]
    pub icmp: Option<Text>,
    #[serde(default)]
    pub service: Vec<Spanned<Service>>,
    #[serde(default)]
    pub forward: Vec<Spanned<Forward>>,
    #[serde(default)]
    pub port_forward: Vec<Spanned<PortForward>>,
    #[serde(default)]
    pub balance: Vec<Spanned<Balance>>,
    #[serde(default)]
    pub outgoing: Vec<Spanned<Outgoing>>,
    #[serde(default)]
    pub log: Option<Spanned<Log>>,
    #[serde(default)]
    pub block: Vec<Spanned<Block>>,
    #[serde(default)]
    pub iptables: Option<Spanned<Raw>>,
    #[serde(default)]
    pub ip6tables: Option<Spanned<Raw>>,
    #[serde(default)]
    pub daemon: Option<Spanned<Daemon>>,
    #[serde(default)]
    pub jail: Vec<Spanned<Jail>>,
    #[serde(default)]
    pub metrics: Option<Spanned<Metrics>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    pub listen: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    pub input: Option<Text>,
    pub forward: Option<Text>,
    pub output: Option<Text>,
    pub ipv6: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Zone {
    #[serde(default)]
    pub interfaces: Vec<Text>,
    #[serde(default)]
    pub networks: Vec<Text>,
    pub input: Option<Text>,
    pub masquerade: Option<bool>,
    pub masquerade_ipv6: Option<bool>,
    pub snat: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    pub name: Option<Text>,
    pub port: Option<Any>,
    pub proto: Option<Text>,
    pub zones: Option<Any>,
    #[serde(default)]
    pub sources: Vec<Text>,
    pub limit: Option<Spanned<Limit>>,
    pub log: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    pub connections: Option<Spanned<i64>>,
    pub rate: Option<Text>,
    pub burst: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Forward {
    pub from: Any,
    pub to: Any,
    pub port: Option<Any>,
    pub proto: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortForward {
    pub name: Option<Text>,
    pub port: Any,
    pub proto: Option<Text>,
    pub to: Option<Text>,
    pub to_port: Option<Spanned<i64>>,
    pub from: Option<Any>,
    pub address: Option<Text>,
    pub hairpin: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Balance {
    pub name: Option<Text>,
    pub port: Any,
    pub proto: Option<Text>,
    pub address: Option<Text>,
    pub from: Option<Any>,
    pub mode: Option<Text>,
    pub backends: Spanned<Vec<Spanned<Backend>>>,
    pub check: Option<Text>,
    pub interval: Option<Any>,
    pub timeout: Option<Any>,
    pub fall: Option<Spanned<i64>>,
    pub rise: Option<Spanned<i64>>,
    pub check_port: Option<Any>,
    pub path: Option<Text>,
    pub expect: Option<Any>,
    pub dns_name: Option<Text>,
    pub command: Option<Text>,
    pub affinity: Option<Text>,
    pub affinity_timeout: Option<Any>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backend {
    pub to: Text,
    pub weight: Option<Spanned<i64>>,
    pub backup: Option<bool>,
    pub drain: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Outgoing {
    pub name: Option<Text>,
    pub port: Option<Any>,
    pub proto: Option<Text>,
    #[serde(default)]
    pub to: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Log {
    pub drops: Option<bool>,
    pub new_connections: Option<bool>,
    pub prefix: Option<Text>,
    pub rate: Option<Text>,
    pub burst: Option<Spanned<i64>>,
    pub file: Option<Text>,
    pub format: Option<Text>,
    pub group: Option<Spanned<i64>>,
    pub groups: Option<Vec<Spanned<i64>>>,
    pub rotate_size: Option<Any>,
    pub rotate_every: Option<Any>,
    pub keep: Option<Spanned<i64>>,
    pub max_rate: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    #[serde(default)]
    pub rules: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Block {
    pub name: Option<Text>,
    pub file: Option<Text>,
    #[serde(default)]
    pub countries: Vec<Text>,
    pub zone_dir: Option<Text>,
    #[serde(default)]
    pub except: Vec<Text>,
    pub direction: Option<Any>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Daemon {
    pub jails: Option<Spanned<Strings>>,
    pub filter_dirs: Option<Spanned<Strings>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Jail {
    pub name: Option<Text>,
    pub filter: Option<Text>,
    pub logpath: Option<Spanned<Strings>>,
    pub journalmatch: Option<Text>,
    pub maxretry: Option<Spanned<i64>>,
    pub findtime: Option<Any>,
    pub bantime: Option<Any>,
    pub increment: Option<Spanned<Increment>>,
    pub port: Option<Any>,
    pub proto: Option<Text>,
    pub ignoreip: Option<Spanned<Strings>>,
    pub ignoreself: Option<bool>,
    pub ipv6_prefix: Option<Any>,
    pub action: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncrementTable {
    pub factor: Option<Spanned<f64>>,
    pub multipliers: Option<Spanned<Vec<i64>>>,
    pub maxtime: Option<Any>,
    pub rndtime: Option<Any>,
    pub overalljails: Option<bool>,
}

/// `increment = true` or `increment = { factor = 2.0, ... }`.
#[derive(Debug)]
pub(crate) enum Increment {
    Switch(bool),
    Table(IncrementTable),
}

impl<'de> Deserialize<'de> for Increment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Increment;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, or a table such as { factor = 2.0, maxtime = \"1w\" }")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Increment, E> {
                Ok(Increment::Switch(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Increment, A::Error> {
                IncrementTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Increment::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// One string or a list of strings, each list item with its own place.
#[derive(Debug)]
pub(crate) enum Strings {
    One(String),
    Many(Vec<Text>),
}

impl Strings {
    /// The strings, a single one placed at `span` (the whole value's place).
    pub fn items(value: &Spanned<Strings>) -> Vec<Text> {
        match value.get_ref() {
            Strings::One(s) => vec![Spanned::new(value.span(), s.clone())],
            Strings::Many(items) => items.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strings;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strings, E> {
                Ok(Strings::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Text>()? {
                    items.push(item);
                }
                Ok(Strings::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}
