//! Port forwards (with hairpin NAT) and load-balanced services.

use std::net::IpAddr;
use std::ops::Range;

use moat_model::{Family, Stage};

use super::words::{comment, dport_text, join, nat_ports, nat_target, w, zone_in, Words};
use super::FamilyBuilder;
use crate::error::Diagnostic;
use crate::model::{family_of, Balance, BalanceMode, Config, PortForward, Proto};

/// Most rules a round-robin service may take (one per unit of weight).
pub(crate) const MAX_ROUND_ROBIN_SLOTS: u32 = 64;

/// The family a port forward lives in; `None` for a redirect on this host (both).
pub(crate) fn forward_family(pf: &PortForward) -> Option<Family> {
    pf.to.as_ref().or(pf.address.as_ref()).map(family_of)
}

fn applies(pf: &PortForward, family: Family) -> bool {
    forward_family(pf).is_none_or(|f| f == family)
}

fn balance_family(b: &Balance) -> Family {
    family_of(&b.backends[0].addr)
}

fn dport(proto: Proto, ports: &str) -> Words {
    let p = proto.name();
    w(&["-p", p, "-m", p, "--dport", ports])
}

fn destination(addr: Option<IpAddr>) -> Words {
    match addr {
        Some(a) => w(&["-d", &a.to_string()]),
        None => w(&["-m", "addrtype", "--dst-type", "LOCAL"]),
    }
}

fn is_local_target(pf: &PortForward) -> bool {
    pf.to.is_none_or(|a| a.is_loopback())
}

/// The accept rules that let port-forwarded and balanced connections through the filter.
pub(crate) fn port_forwards(b: &mut FamilyBuilder) {
    let (cfg, family) = (b.cfg, b.family);
    for pf in cfg.port_forwards.iter().filter(|pf| applies(pf, family)) {
        let intent = comment(&format!("port forward {}", pf.name));
        let to_ports = pf
            .to_port
            .map(|p| p.to_string())
            .unwrap_or_else(|| dport_text(&pf.ports));
        let chain = if is_local_target(pf) {
            "INPUT"
        } else {
            "FORWARD"
        };
        for &proto in &pf.protos {
            let dest = pf
                .to
                .map(|a| w(&["-d", &a.to_string()]))
                .unwrap_or_default();
            let words = join(&[
                &dest,
                &dport(proto, &to_ports),
                &intent,
                &w(&["-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"]),
            ]);
            b.rule(Stage::Filter, chain, words, &pf.span);
        }
    }
}

/// The accept rules for balanced services' backends.
pub(crate) fn balances(b: &mut FamilyBuilder) {
    let (cfg, family) = (b.cfg, b.family);
    for bal in cfg.balances.iter().filter(|x| balance_family(x) == family) {
        let intent = comment(&format!("balance {}", bal.name));
        let mut seen: Vec<(IpAddr, u16)> = Vec::new();
        for be in &bal.backends {
            let port = be.port.unwrap_or(bal.port);
            if seen.contains(&(be.addr, port)) {
                continue;
            }
            seen.push((be.addr, port));
            for &proto in &bal.protos {
                let words = join(&[
                    &w(&["-d", &be.addr.to_string()]),
                    &dport(proto, &port.to_string()),
                    &intent,
                    &w(&["-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"]),
                ]);
                b.rule(Stage::Filter, "FORWARD", words, &bal.span);
            }
        }
    }
}

/// Destination NAT for port forwards and balanced services, and the hairpin source NAT.
/// When no two forwards can take the same packet (distinct public ports per
/// protocol and address), their PREROUTING rules are emitted grouped by
/// the zone they come from, so alike forwards sit together and become one
/// port map in the kernel (`moat_nft::portmap`); otherwise in file order.
pub(crate) fn prerouting_and_hairpin(b: &mut FamilyBuilder) {
    let (cfg, family) = (b.cfg, b.family);
    let forwards: Vec<&PortForward> = cfg
        .port_forwards
        .iter()
        .filter(|pf| applies(pf, family))
        .collect();
    let mut prerouting = Vec::new();
    for pf in &forwards {
        port_forward(b, pf, &mut prerouting);
    }
    if disjoint(&forwards) {
        let mut order: Vec<&Words> = Vec::new();
        for (alt, ..) in &prerouting {
            if !order.contains(&alt) {
                order.push(alt);
            }
        }
        let mut grouped = Vec::with_capacity(prerouting.len());
        for alt in order {
            grouped.extend(prerouting.iter().filter(|(a, ..)| a == alt).cloned());
        }
        prerouting = grouped;
    }
    for (_, words, span) in prerouting {
        b.rule(Stage::Nat, "PREROUTING", words, &span);
    }
    for bal in cfg
        .balances
        .iter()
        .filter(|x| balance_family(x) == family && !x.is_managed())
    {
        balance(b, bal);
    }
}

/// Whether no two forwards share a protocol, a public port and an address
/// (any address overlaps every one).
fn disjoint(forwards: &[&PortForward]) -> bool {
    let mut seen: Vec<(Proto, Option<IpAddr>, u16, u16)> = Vec::new();
    for pf in forwards {
        for &proto in &pf.protos {
            let (first, last) = (pf.ports.first, pf.ports.last);
            let clash = seen.iter().any(|&(p, addr, a, z)| {
                p == proto
                    && (addr.is_none() || pf.address.is_none() || addr == pf.address)
                    && first <= z
                    && a <= last
            });
            if clash {
                return false;
            }
            seen.push((proto, pf.address, first, last));
        }
    }
    true
}

/// A forward's rules: OUTPUT and POSTROUTING go straight into `b`; the
/// PREROUTING ones, with the zone words they start with, into `prerouting`.
fn port_forward(
    b: &mut FamilyBuilder,
    pf: &PortForward,
    prerouting: &mut Vec<(Words, Words, Range<usize>)>,
) {
    let cfg = b.cfg;
    let intent = comment(&format!("port forward {}", pf.name));
    let public = dport_text(&pf.ports);
    let target = match pf.to {
        Some(addr) => w(&[
            "-j",
            "DNAT",
            "--to-destination",
            &nat_target(addr, pf.to_port.map(|p| p.to_string())),
        ]),
        None => {
            let p = pf
                .to_port
                .map(|p| p.to_string())
                .unwrap_or_else(|| nat_ports(&pf.ports));
            w(&["-j", "REDIRECT", "--to-ports", &p])
        }
    };
    let zones: Vec<String> = pf.from.iter().filter(|z| *z != "host").cloned().collect();
    let from_host = pf.from.iter().any(|z| z == "host");
    let mut alternatives: Vec<Words> = if pf.from.is_empty() || !zones.is_empty() {
        b.zones_in(&zones)
    } else {
        Vec::new()
    };
    // Hairpin: inside clients in zones not listed may use the public address too.
    if pf.hairpin && !zones.is_empty() {
        if let Some(to) = pf.to {
            for z in cfg.zones.iter().filter(|z| !zones.contains(&z.name)) {
                if z.networks_of(b.family).iter().any(|n| n.contains(&to)) {
                    alternatives.extend(zone_in(z, b.family));
                }
            }
        }
    }
    let dest = destination(pf.address);
    for &proto in &pf.protos {
        for alt in &alternatives {
            let words = join(&[alt, &dest, &dport(proto, &public), &intent, &target]);
            prerouting.push((alt.clone(), words, pf.span.clone()));
        }
        if from_host || (pf.hairpin && pf.from.is_empty() && pf.address.is_some()) {
            let words = join(&[&dest, &dport(proto, &public), &intent, &target]);
            b.rule(Stage::Nat, "OUTPUT", words, &pf.span);
        }
    }
    let Some(to) = pf.to.filter(|_| pf.hairpin) else {
        return;
    };
    let to_ports = pf
        .to_port
        .map(|p| p.to_string())
        .unwrap_or_else(|| public.clone());
    let hairpin = comment(&format!("hairpin {}", pf.name));
    for z in &cfg.zones {
        for net in z
            .networks_of(b.family)
            .into_iter()
            .filter(|n| n.contains(&to))
        {
            for &proto in &pf.protos {
                let words = join(&[
                    &w(&["-s", &net.to_string(), "-d", &to.to_string()]),
                    &dport(proto, &to_ports),
                    &hairpin,
                    &w(&["-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]),
                ]);
                b.rule(Stage::Nat, "POSTROUTING", words, &pf.span);
            }
        }
    }
}

/// One rule per slot: the statistic words (none for the last) and the backend index.
pub(crate) fn slots(bal: &Balance) -> Result<Vec<(Option<Words>, usize)>, Diagnostic> {
    let weights: Vec<u32> = bal.backends.iter().map(|b| b.weight).collect();
    let g = weights.iter().copied().fold(0, gcd);
    let weights: Vec<u32> = weights.iter().map(|w| w / g.max(1)).collect();
    match bal.mode {
        BalanceMode::Random | BalanceMode::Hash => {
            let mut remaining: u32 = weights.iter().sum();
            let n = weights.len();
            let mut out = Vec::new();
            for (i, &wt) in weights.iter().enumerate() {
                if i + 1 == n {
                    out.push((None, i));
                } else {
                    let p = f64::from(wt) / f64::from(remaining);
                    out.push((
                        Some(w(&[
                            "-m",
                            "statistic",
                            "--mode",
                            "random",
                            "--probability",
                            &format!("{p:.11}"),
                        ])),
                        i,
                    ));
                }
                remaining -= wt;
            }
            Ok(out)
        }
        BalanceMode::RoundRobin => {
            let total: u32 = weights.iter().sum();
            if total > MAX_ROUND_ROBIN_SLOTS {
                return Err(Diagnostic::new(
                    Some(bal.span.clone()),
                    format!(
                        "round-robin weights add up to {total}, more than {MAX_ROUND_ROBIN_SLOTS}"
                    ),
                )
                .fix("use smaller weights (only their ratios matter) or mode = \"random\""));
            }
            // Interleave: each pass takes every backend that still has weight left.
            let mut left = weights.clone();
            let mut order = Vec::new();
            while left.iter().any(|&l| l > 0) {
                for (i, l) in left.iter_mut().enumerate() {
                    if *l > 0 {
                        *l -= 1;
                        order.push(i);
                    }
                }
            }
            let n = order.len() as u32;
            Ok(order
                .into_iter()
                .enumerate()
                .map(|(k, i)| {
                    let every = n - k as u32;
                    let stat = (every > 1).then(|| {
                        w(&[
                            "-m",
                            "statistic",
                            "--mode",
                            "nth",
                            "--every",
                            &every.to_string(),
                            "--packet",
                            "0",
                        ])
                    });
                    (stat, i)
                })
                .collect())
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn balance(b: &mut FamilyBuilder, bal: &Balance) {
    let slots = match slots(bal) {
        Ok(s) => s,
        Err(d) => {
            b.problems.push(d);
            return;
        }
    };
    let intent = comment(&format!("balance {}", bal.name));
    let alternatives = b.zones_in(&bal.from);
    let dest = destination(bal.address);
    for &proto in &bal.protos {
        for alt in &alternatives {
            for (stat, i) in &slots {
                let be = &bal.backends[*i];
                let target = w(&[
                    "-j",
                    "DNAT",
                    "--to-destination",
                    &nat_target(be.addr, be.port.map(|p| p.to_string())),
                ]);
                let stat = stat.clone().unwrap_or_default();
                let words = join(&[
                    alt,
                    &dest,
                    &dport(proto, &bal.port.to_string()),
                    &intent,
                    &stat,
                    &target,
                ]);
                b.rule(Stage::Nat, "PREROUTING", words, &bal.span);
            }
        }
    }
}

/// Problems for IPv6 items when IPv6 is switched off.
pub(crate) fn ipv6_items(cfg: &Config) -> Vec<Diagnostic> {
    let off = |span: &std::ops::Range<usize>| {
        Diagnostic::new(
            Some(span.clone()),
            "this uses IPv6 addresses, but IPv6 is switched off",
        )
        .fix("remove `ipv6 = false` from [defaults], or use IPv4 addresses")
    };
    let mut out = Vec::new();
    for pf in &cfg.port_forwards {
        if forward_family(pf) == Some(Family::Ipv6) {
            out.push(off(&pf.span));
        }
    }
    for bal in &cfg.balances {
        if balance_family(bal) == Family::Ipv6 {
            out.push(off(&bal.span));
        }
    }
    for raw in cfg.raw.iter().filter(|r| r.family == Family::Ipv6) {
        out.push(off(&raw.span));
    }
    out
}
