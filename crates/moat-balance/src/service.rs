//! A balanced service as the kernel table and the health checks see it,
//! made from a moat.toml `[[balance]]` that needs the daemon's table
//! ([`Balance::is_managed`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use moat_config::model::{Balance, BalanceMode, Config, HealthCheck, Proto};
use moat_model::Family;

use crate::slots::{table_size, Candidate, Spread};

/// Where new connections of a service may come from: an interface (a
/// trailing `+` is a wildcard) and/or a source network; either may be absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    /// The incoming interface.
    pub interface: Option<String>,
    /// The source network.
    pub network: Option<IpNet>,
}

/// One backend of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Where connections go.
    pub addr: SocketAddr,
    /// Its share relative to the others.
    pub weight: u32,
    /// Used only while every primary backend is down.
    pub backup: bool,
    /// Takes no new connections.
    pub drain: bool,
}

impl Backend {
    /// The identity that picks its Maglev permutation and names it in logs.
    pub fn key(&self) -> String {
        self.addr.to_string()
    }
}

/// A balanced service the daemon's table holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Its name in moat.toml.
    pub name: String,
    /// Its maps' prefix in the kernel table (`b0`, `b1`, ...).
    pub id: String,
    /// IPv4 or IPv6.
    pub family: Family,
    /// The public address (any local address when `None`).
    pub address: Option<IpAddr>,
    /// The public port.
    pub port: u16,
    /// `tcp` and/or `udp`.
    pub protos: Vec<Proto>,
    /// Where connections may come from (anywhere when empty).
    pub ingress: Vec<Ingress>,
    /// How connections are spread.
    pub spread: Spread,
    /// The backends, in the file's order.
    pub backends: Vec<Backend>,
    /// The health check, if the daemon checks the backends.
    pub check: Option<HealthCheck>,
    /// How long a client keeps its backend (`affinity = "source"`).
    pub affinity: Option<Duration>,
}

impl Service {
    /// The managed services of `config`, numbered in the file's order.
    pub fn all(config: &Config) -> Vec<Service> {
        config
            .balances
            .iter()
            .filter(|b| b.is_managed())
            .enumerate()
            .map(|(i, b)| Service::new(config, b, i))
            .collect()
    }

    fn new(config: &Config, b: &Balance, index: usize) -> Service {
        let family = if b.backends[0].addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        let mut ingress = Vec::new();
        for zone in config.zones.iter().filter(|z| b.from.contains(&z.name)) {
            let interfaces: Vec<Option<String>> = if zone.interfaces.is_empty() {
                vec![None]
            } else {
                zone.interfaces.iter().cloned().map(Some).collect()
            };
            let nets = zone.networks_of(family);
            let networks: Vec<Option<IpNet>> = if nets.is_empty() {
                vec![None]
            } else {
                nets.into_iter().map(Some).collect()
            };
            for interface in &interfaces {
                for network in &networks {
                    ingress.push(Ingress {
                        interface: interface.clone(),
                        network: *network,
                    });
                }
            }
        }
        Service {
            name: b.name.clone(),
            id: format!("b{index}"),
            family,
            address: b.address,
            port: b.port,
            protos: b.protos.clone(),
            ingress,
            spread: match b.mode {
                BalanceMode::Random => Spread::Random,
                BalanceMode::RoundRobin => Spread::RoundRobin,
                BalanceMode::Hash => Spread::Hash,
            },
            backends: b
                .backends
                .iter()
                .map(|be| Backend {
                    addr: SocketAddr::new(be.addr, be.port.unwrap_or(b.port)),
                    weight: be.weight,
                    backup: be.backup,
                    drain: be.drain,
                })
                .collect(),
            check: b.check.clone(),
            affinity: b.affinity,
        }
    }

    /// The number of slots of the service's lookup table.
    pub fn table_size(&self) -> u64 {
        let weights: Vec<u32> = self.backends.iter().map(|b| b.weight).collect();
        table_size(self.spread, &weights)
    }

    /// The backends that take new connections when those marked in `up`
    /// (by index) are up: the primaries that are up and not draining, or,
    /// when there is none, the backups that are.
    pub fn in_rotation(&self, up: &[bool]) -> Vec<usize> {
        let pick = |backup: bool| -> Vec<usize> {
            self.backends
                .iter()
                .enumerate()
                .filter(|(i, b)| b.backup == backup && !b.drain && up.get(*i) == Some(&true))
                .map(|(i, _)| i)
                .collect()
        };
        let primaries = pick(false);
        if primaries.is_empty() {
            pick(true)
        } else {
            primaries
        }
    }

    /// The slots' backends (indexes into `backends`) with `live` in rotation.
    pub fn slots(&self, live: &[usize]) -> Vec<usize> {
        let candidates: Vec<Candidate> = live
            .iter()
            .map(|&i| Candidate {
                key: self.backends[i].key(),
                weight: self.backends[i].weight,
            })
            .collect();
        crate::slots::fill(self.spread, self.table_size(), &candidates)
            .into_iter()
            .map(|k| live[k])
            .collect()
    }

    /// A digest of everything the kernel table holds for this service
    /// except the slots' contents: kept in the map's comment, so an apply
    /// of an unchanged service keeps the daemon's choice of backends.
    pub fn definition(&self) -> String {
        let text = format!(
            "{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.address,
            self.family,
            self.port,
            self.protos,
            self.ingress,
            self.spread,
            self.backends,
            self.affinity
        );
        format!("{:016x}", moat_model::stable_hash(&text, 0))
    }
}

#[cfg(test)]
impl Service {
    /// A TCP service on IPv4 port 80, spread at random over `backends`
    /// (each of weight 1): what the crate's tests build on.
    pub(crate) fn plain(name: &str, id: &str, backends: &[SocketAddr]) -> Service {
        Service {
            name: name.into(),
            id: id.into(),
            family: Family::Ipv4,
            address: None,
            port: 80,
            protos: vec![Proto::Tcp],
            ingress: Vec::new(),
            spread: Spread::Random,
            backends: backends
                .iter()
                .map(|&addr| Backend {
                    addr,
                    weight: 1,
                    backup: false,
                    drain: false,
                })
                .collect(),
            check: None,
            affinity: None,
        }
    }
}
