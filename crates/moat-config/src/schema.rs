//! The file as serde reads it: every value keeps its place in the text.

use std::collections::BTreeMap;

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backend {
    pub to: Text,
    pub weight: Option<Spanned<i64>>,
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
