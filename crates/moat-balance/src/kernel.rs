//! The balanced services in the kernel: table `inet moat_lb`, written and
//! read with `nft` (one `nft -f -` is one transaction).
//!
//! ```text
//! table inet moat_lb {
//!   map b0.slots { typeof numgen random mod 1 : ip daddr . th dport; comment "<digest> web"; elements = { 0 : 10.0.0.1 . 80, ... } }
//!   chain prerouting { type nat hook prerouting priority dstnat - 1;
//!     iifname "wan0" ip daddr 192.0.2.1 meta l4proto tcp th dport 80 dnat ip addr . port to numgen random mod 12 map @b0.slots comment "balance web" }
//!   set b0.backends { typeof ip daddr . th dport; counter; elements = { 10.0.0.1 . 80, ... } }
//!   chain after_nat { type filter hook prerouting priority dstnat + 1;
//!     ... ct state new ct status != dnat reject with tcp reset }   # every backend down
//!   chain forward { type filter hook forward priority filter - 1;
//!     ct state new ct status dnat ip daddr . th dport @b0.backends }   # new connections per backend
//! }
//! ```
//!
//! The rules never change while the configuration stays: the daemon only
//! rewrites a map's elements (and flushes the affinity map). The nat chain
//! runs just before iptables' nat table, so a balanced connection is
//! translated here and iptables' nat rules do not see it again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use moat_backend::NftCli;
use moat_config::model::Proto;
use moat_model::Family;
use serde_json::Value;

use crate::service::Service;
use crate::slots::Spread;
use crate::BalanceError;

/// The table's family and name.
pub const TABLE: &str = "inet moat_lb";
/// The seed of hash mode's `jhash` (fixed, so a reload keeps clients' slots).
const HASH_SEED: u32 = 0x6d6f_6174;

/// What the kernel holds for one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelService {
    /// The definition digest in the map's comment.
    pub definition: String,
    /// The service's name, from the same comment.
    pub name: String,
    /// The backend of each slot, in slot order.
    pub slots: Vec<SocketAddr>,
    /// New connections per backend since the table was made.
    pub new_connections: BTreeMap<SocketAddr, u64>,
}

fn family_word(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    }
}

fn proto_word(p: Proto) -> &'static str {
    p.name()
}

fn element(addr: SocketAddr) -> String {
    format!("{} . {}", addr.ip(), addr.port())
}

fn quote(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .take(120)
        .collect();
    format!("\"{clean}\"")
}

/// The matches that pick a service's new connections, one alternative per ingress.
fn selectors(s: &Service) -> Vec<String> {
    let fam = family_word(s.family);
    let dest = match s.address {
        Some(a) => format!("{fam} daddr {a}"),
        None => format!("meta nfproto {} fib daddr type local", fam_proto(s.family)),
    };
    let ingress: Vec<String> = if s.ingress.is_empty() {
        vec![String::new()]
    } else {
        s.ingress
            .iter()
            .map(|i| {
                let mut words = String::new();
                if let Some(name) = &i.interface {
                    let name = match name.strip_suffix('+') {
                        Some(prefix) => format!("{prefix}*"),
                        None => name.clone(),
                    };
                    let _ = write!(words, "iifname {} ", quote(&name));
                }
                if let Some(net) = i.network {
                    let _ = write!(words, "{fam} saddr {net} ");
                }
                words
            })
            .collect()
    };
    let mut out = Vec::new();
    for proto in &s.protos {
        for i in &ingress {
            out.push(format!(
                "{i}{dest} meta l4proto {} th dport {}",
                proto_word(*proto),
                s.port
            ));
        }
    }
    out
}

fn fam_proto(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// The slot number a new connection draws.
fn draw(s: &Service) -> String {
    let size = s.table_size();
    match s.spread {
        Spread::Random => format!("numgen random mod {size}"),
        Spread::RoundRobin => format!("numgen inc mod {size}"),
        Spread::Hash => format!(
            "jhash {} saddr mod {size} seed {HASH_SEED:#x}",
            family_word(s.family)
        ),
    }
}

fn elements(slots: &[SocketAddr]) -> String {
    slots
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{i} : {}", element(*a)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole table for `services`, each map filled with `slots[service id]`.
pub fn table_script(services: &[Service], slots: &BTreeMap<String, Vec<SocketAddr>>) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "table {TABLE} {{}}\ndelete table {TABLE}");
    if services.is_empty() {
        return t;
    }
    let _ = writeln!(
        t,
        "table {TABLE} {{\n  comment \"moat: balanced services of moat.toml; moat daemon edits the maps\""
    );
    for s in services {
        let fam = family_word(s.family);
        let filled = slots.get(&s.id).map(Vec::as_slice).unwrap_or_default();
        let elems = if filled.is_empty() {
            String::new()
        } else {
            format!(" elements = {{ {} }}", elements(filled))
        };
        let _ = writeln!(
            t,
            "  map {}.slots {{ typeof numgen random mod 1 : {fam} daddr . th dport; comment {};{elems} }}",
            s.id,
            quote(&format!("{} {}", s.definition(), s.name))
        );
        let members: Vec<String> = s.backends.iter().map(|b| element(b.addr)).collect();
        let _ = writeln!(
            t,
            "  set {}.backends {{ typeof {fam} daddr . th dport; counter; elements = {{ {} }} }}",
            s.id,
            members.join(", ")
        );
        if let Some(timeout) = s.affinity {
            let _ = writeln!(
                t,
                "  map {}.affinity {{ typeof {fam} saddr : {fam} daddr . th dport; flags dynamic,timeout; timeout {}s; }}",
                s.id,
                timeout.as_secs().max(1)
            );
        }
    }
    let _ = writeln!(
        t,
        "  chain prerouting {{ type nat hook prerouting priority dstnat - 1; policy accept;"
    );
    for s in services {
        let fam = family_word(s.family);
        let comment = quote(&format!("balance {}", s.name));
        for sel in selectors(s) {
            if s.affinity.is_some() {
                let _ = writeln!(
                    t,
                    "    {sel} dnat {fam} addr . port to {fam} saddr map @{}.affinity comment {comment}",
                    s.id
                );
            }
            let _ = writeln!(
                t,
                "    {sel} dnat {fam} addr . port to {} map @{}.slots comment {comment}",
                draw(s),
                s.id
            );
        }
    }
    let _ = writeln!(
        t,
        "  }}\n  chain after_nat {{ type filter hook prerouting priority dstnat + 1; policy accept;"
    );
    for s in services {
        for (sel, proto) in selectors(s).iter().zip(protos_per_selector(s)) {
            let how = if proto == Proto::Tcp {
                "reject with tcp reset"
            } else {
                "reject"
            };
            let _ = writeln!(
                t,
                "    {sel} ct state new ct status != dnat {how} comment {}",
                quote(&format!("balance {}: every backend is down", s.name))
            );
        }
    }
    let _ = writeln!(
        t,
        "  }}\n  chain forward {{ type filter hook forward priority filter - 1; policy accept;"
    );
    for s in services {
        let fam = family_word(s.family);
        let remember = if s.affinity.is_some() {
            format!(
                " update @{}.affinity {{ {fam} saddr : {fam} daddr . th dport }}",
                s.id
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "    ct state new ct status dnat {fam} daddr . th dport @{}.backends{remember} comment {}",
            s.id,
            quote(&format!("balance {}: new connections per backend", s.name))
        );
    }
    let _ = writeln!(t, "  }}\n}}");
    t
}

/// The protocol of each of [`selectors`]' lines, in the same order.
fn protos_per_selector(s: &Service) -> Vec<Proto> {
    let per = s.ingress.len().max(1);
    s.protos
        .iter()
        .flat_map(|p| std::iter::repeat_n(*p, per))
        .collect()
}

/// The change that puts `slots` in service `s`'s map, in one transaction;
/// with `forget_clients`, the clients' affinity is dropped too (a backend
/// left the rotation and clients must not be sent back to it).
pub fn slots_script(s: &Service, slots: &[SocketAddr], forget_clients: bool) -> String {
    let mut t = format!("flush map {TABLE} {}.slots\n", s.id);
    if !slots.is_empty() {
        let _ = writeln!(
            t,
            "add element {TABLE} {}.slots {{ {} }}",
            s.id,
            elements(slots)
        );
    }
    if forget_clients && s.affinity.is_some() {
        let _ = writeln!(t, "flush map {TABLE} {}.affinity", s.id);
    }
    t
}

/// Runs `script` with `nft -f -`: all of it or nothing.
pub fn run(script: &str) -> Result<(), BalanceError> {
    NftCli::default().script(script, false).map_err(nft_error)
}

/// Checks `script` with `nft -c -f -` (the kernel validates it) without
/// applying anything.
pub fn check(script: &str) -> Result<(), BalanceError> {
    NftCli::default().script(script, true).map_err(nft_error)
}

fn nft_error(e: moat_backend::BackendError) -> BalanceError {
    BalanceError::Nft(e.to_string())
}

/// Reads the services the kernel table holds, by map prefix (`b0`, ...);
/// empty when the table does not exist.
pub fn read() -> Result<BTreeMap<String, KernelService>, BalanceError> {
    let what: Vec<&str> = std::iter::once("table").chain(TABLE.split(' ')).collect();
    let Some(text) = NftCli::default().list_json(&what).map_err(nft_error)? else {
        return Ok(BTreeMap::new());
    };
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| BalanceError::Nft(format!("nft's listing: {e}")))?;
    Ok(parse_listing(&doc))
}

/// The services in `nft -j list table inet moat_lb`'s output.
pub fn parse_listing(doc: &Value) -> BTreeMap<String, KernelService> {
    let mut out: BTreeMap<String, KernelService> = BTreeMap::new();
    let items = doc["nftables"].as_array().cloned().unwrap_or_default();
    for item in &items {
        if let Some(map) = item.get("map") {
            let Some(id) = map["name"].as_str().and_then(|n| n.strip_suffix(".slots")) else {
                continue;
            };
            let entry = out.entry(id.to_string()).or_default();
            let comment = map["comment"].as_str().unwrap_or_default();
            let (definition, name) = comment.split_once(' ').unwrap_or((comment, ""));
            entry.definition = definition.to_string();
            entry.name = name.to_string();
            let mut slots: Vec<(u64, SocketAddr)> = map["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| Some((e[0].as_u64()?, concat_addr(&e[1])?)))
                .collect();
            slots.sort_by_key(|(k, _)| *k);
            entry.slots = slots.into_iter().map(|(_, a)| a).collect();
        }
        if let Some(set) = item.get("set") {
            let Some(id) = set["name"]
                .as_str()
                .and_then(|n| n.strip_suffix(".backends"))
            else {
                continue;
            };
            let counts = set["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let elem = &e["elem"];
                    let packets = elem["counter"]["packets"].as_u64()?;
                    Some((concat_addr(&elem["val"])?, packets))
                });
            out.entry(id.to_string())
                .or_default()
                .new_connections
                .extend(counts);
        }
    }
    out
}

/// The names of the services of `services` the kernel does not hold as
/// they are: missing, or defined otherwise (its map's digest differs).
pub fn not_held(services: &[Service], held: &BTreeMap<String, KernelService>) -> Vec<String> {
    services
        .iter()
        .filter(|s| {
            held.get(&s.id)
                .is_none_or(|k| k.definition != s.definition())
        })
        .map(|s| s.name.clone())
        .collect()
}

fn concat_addr(value: &Value) -> Option<SocketAddr> {
    let parts = value["concat"].as_array()?;
    let ip: IpAddr = parts.first()?.as_str()?.parse().ok()?;
    let port = u16::try_from(parts.get(1)?.as_u64()?).ok()?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, id: &str, ports: &[u16]) -> Service {
        let backends: Vec<SocketAddr> = ports
            .iter()
            .map(|&p| SocketAddr::from(([10, 0, 0, 1], p)))
            .collect();
        Service::plain(name, id, &backends)
    }

    fn held(services: &[Service]) -> BTreeMap<String, KernelService> {
        services
            .iter()
            .map(|s| {
                let k = KernelService {
                    definition: s.definition(),
                    name: s.name.clone(),
                    ..KernelService::default()
                };
                (s.id.clone(), k)
            })
            .collect()
    }

    #[test]
    fn services_held_otherwise_or_missing_are_named() {
        let applied = [service("web", "b0", &[80, 81]), service("api", "b1", &[90])];
        let kernel = held(&applied);
        assert!(not_held(&applied, &kernel).is_empty());
        let edited = [service("web", "b0", &[80, 81, 82]), applied[1].clone()];
        assert_eq!(not_held(&edited, &kernel), ["web"]);
        let more = [
            applied[0].clone(),
            applied[1].clone(),
            service("new", "b2", &[70]),
        ];
        assert_eq!(not_held(&more, &kernel), ["new"]);
    }
}
