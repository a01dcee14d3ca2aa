//! The validated configuration: what the user asked for, checked and resolved.

use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use moat_blocklist::{Direction, Source};
use moat_fail2ban::{BanScope, BanTime, Increment, Protocol};
use moat_model::{Family, PortRange};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// What happens to traffic no rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let it through.
    Accept,
    /// Discard it silently.
    Drop,
    /// Discard it and tell the sender.
    Reject,
}

impl Verdict {
    /// The word moat.toml uses for it: `accept`, `drop` or `reject`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        }
    }
}

/// A transport protocol a service or forward uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The name iptables uses.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Which ICMP messages the host answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IcmpPolicy {
    /// Every ICMP message.
    All,
    /// Echo requests (ping); errors about known connections pass anyway.
    Ping,
    /// None beyond errors about known connections (and IPv6 neighbour discovery).
    None,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Defaults for traffic no rule allows.
    pub defaults: Defaults,
    /// Zones, by name order.
    pub zones: Vec<Zone>,
    /// ICMP policy for the host.
    pub icmp: IcmpPolicy,
    /// Services open on the host.
    pub services: Vec<Service>,
    /// Forwarding allowed between zones.
    pub forwards: Vec<ZoneForward>,
    /// Port forwards to inside hosts.
    pub port_forwards: Vec<PortForward>,
    /// Load-balanced services.
    pub balances: Vec<Balance>,
    /// Connections the host may open when `defaults.output` is not accept.
    pub outgoing: Vec<Outgoing>,
    /// Logging.
    pub log: LogConfig,
    /// Block lists kept loaded.
    pub blocks: Vec<BlockList>,
    /// Raw iptables commands (the escape hatch).
    pub raw: Vec<RawRule>,
    /// Jails the daemon runs (`[[jail]]`); they do not change the compiled tables.
    pub jails: Vec<Jail>,
    /// The daemon's other settings (`[daemon]`).
    pub daemon: DaemonConfig,
}

/// `[daemon]`: what `moat daemon` runs besides the `[[jail]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaemonConfig {
    /// fail2ban jail files or directories the daemon also runs (absolute paths).
    pub jails: Vec<PathBuf>,
    /// Directories where `[[jail]]` filter names are looked up before moat's built-in
    /// filters (absolute paths; empty: built-ins only).
    pub filter_dirs: Vec<PathBuf>,
    /// Where the daemon serves Prometheus metrics (`[metrics] listen`); off when `None`.
    pub metrics: Option<std::net::SocketAddr>,
}

/// A jail from `[[jail]]`: failures a filter finds in logs lead to bans.
/// Serialised with times in seconds (`bantime` -1 for permanent bans).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jail {
    /// The jail's name (unique; names its ban set).
    pub name: String,
    /// The filter as written: a filter name with fail2ban options
    /// (`sshd[mode=aggressive]`) or an absolute path; the jail's name by default.
    pub filter: String,
    /// Log files to follow (absolute; globs as written); empty with `journal`.
    pub logpaths: Vec<String>,
    /// Whether the systemd journal is read instead (`logpath = "journal"`).
    pub journal: bool,
    /// journalctl match words (`FIELD=value`, `+` between alternatives) replacing the
    /// filter's; empty: the filter's own.
    pub journalmatch: Vec<String>,
    /// Failures within `findtime` that lead to a ban.
    pub maxretry: u32,
    /// The window in which `maxretry` failures must fall.
    #[serde(serialize_with = "seconds")]
    pub findtime: Duration,
    /// How long a ban lasts.
    #[serde(serialize_with = "ban_time")]
    pub bantime: BanTime,
    /// Longer bans for addresses banned before.
    #[serde(serialize_with = "increment")]
    pub increment: Option<Increment>,
    /// Addresses, networks and host names never banned, as written.
    pub ignoreip: Vec<String>,
    /// Never ban this host's own addresses.
    pub ignoreself: bool,
    /// What a ban blocks.
    #[serde(serialize_with = "scope")]
    pub scope: BanScope,
    /// Ban IPv6 addresses by this prefix length; `None`: single addresses.
    pub v6_prefix: Option<u8>,
    /// Whether banned traffic is rejected (else dropped).
    pub reject: bool,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// Whole seconds as an integer, fractions as a float.
fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    match d.subsec_nanos() {
        0 => s.serialize_u64(d.as_secs()),
        _ => s.serialize_f64(d.as_secs_f64()),
    }
}

fn optional_seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => seconds(d, s),
        None => s.serialize_none(),
    }
}

fn ban_time<S: Serializer>(t: &BanTime, s: S) -> Result<S::Ok, S::Error> {
    match t {
        BanTime::Seconds(d) => seconds(d, s),
        BanTime::Permanent => s.serialize_i8(-1),
    }
}

fn increment<S: Serializer>(i: &Option<Increment>, s: S) -> Result<S::Ok, S::Error> {
    /// `Increment` with its times in seconds.
    #[derive(Serialize)]
    struct Shown<'a> {
        factor: f64,
        formula: &'a Option<String>,
        multipliers: &'a [u64],
        #[serde(serialize_with = "optional_seconds")]
        maxtime: Option<Duration>,
        #[serde(serialize_with = "optional_seconds")]
        rndtime: Option<Duration>,
        overalljails: bool,
    }
    i.as_ref()
        .map(|i| Shown {
            factor: i.factor,
            formula: &i.formula,
            multipliers: &i.multipliers,
            maxtime: i.maxtime,
            rndtime: i.rndtime,
            overalljails: i.overalljails,
        })
        .serialize(s)
}

fn scope<S: Serializer>(b: &BanScope, s: S) -> Result<S::Ok, S::Error> {
    let protocol = match b.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Udplite => "udplite",
        Protocol::Sctp => "sctp",
        Protocol::All => "all",
    };
    let ports: Vec<String> = b
        .ports
        .iter()
        .map(|r| match r.first == r.last {
            true => r.first.to_string(),
            false => format!("{}-{}", r.first, r.last),
        })
        .collect();
    let mut st = s.serialize_struct("BanScope", 3)?;
    st.serialize_field("protocol", protocol)?;
    st.serialize_field("ports", &ports)?;
    st.serialize_field("all", &b.all)?;
    st.end()
}

/// A block list the configuration keeps loaded (`[[block]]`): what
/// `moat block` would load, refreshed by every apply and at boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockList {
    /// The list's name (a country's list is named by its code).
    pub name: String,
    /// Where its addresses come from (a file, a country, several countries;
    /// paths absolute).
    pub source: Source,
    /// Addresses inside the list that stay allowed.
    pub except: Vec<IpNet>,
    /// What it blocks; empty for a list only `-m set` rules use.
    pub directions: Vec<Direction>,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// Defaults for traffic no rule allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Defaults {
    /// Traffic to the host from interfaces in no zone (and the INPUT policy).
    pub input: Verdict,
    /// Routed traffic.
    pub forward: Verdict,
    /// Traffic the host sends.
    pub output: Verdict,
    /// Whether IPv6 tables are built too.
    pub ipv6: bool,
}

/// A group of interfaces and/or networks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zone {
    /// The zone's name.
    pub name: String,
    /// Its interfaces (a trailing `+` matches every name with that prefix).
    pub interfaces: Vec<String>,
    /// Its networks.
    pub networks: Vec<IpNet>,
    /// What happens to traffic from it to the host that no service allows.
    pub input: Verdict,
    /// Whether IPv4 traffic leaving into this zone takes the host's address.
    pub masquerade: bool,
    /// Whether IPv6 traffic leaving into this zone takes the host's address.
    pub masquerade_ipv6: bool,
    /// A fixed source address for traffic leaving into this zone.
    pub snat: Option<IpAddr>,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl Zone {
    /// The zone's networks of `family`.
    pub fn networks_of(&self, family: Family) -> Vec<IpNet> {
        self.networks
            .iter()
            .copied()
            .filter(|n| family_of_net(n) == family)
            .collect()
    }
}

/// The family of a network.
pub fn family_of_net(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::Ipv4,
        IpNet::V6(_) => Family::Ipv6,
    }
}

/// The family of an address.
pub fn family_of(addr: &IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// Per-source limits of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// At most this many open connections per source address.
    pub connections: Option<u32>,
    /// At most this many new connections per source, per unit (e.g. `20/minute`).
    pub rate: Option<String>,
    /// Connections a source may open in a burst before the rate applies.
    pub burst: Option<u32>,
}

/// A service open on the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// Its name (from the file, or the port).
    pub name: String,
    /// Its ports.
    pub ports: Vec<PortRange>,
    /// Its protocols.
    pub protos: Vec<Proto>,
    /// The zones it is open to (all when empty).
    pub zones: Vec<String>,
    /// The source networks it is open to (all when empty).
    pub sources: Vec<IpNet>,
    /// Anti-DoS limits.
    pub limit: Limits,
    /// Whether new connections are logged.
    pub log: bool,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// Forwarding allowed from some zones to others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneForward {
    /// Zones new connections may come from.
    pub from: Vec<String>,
    /// Zones they may go to.
    pub to: Vec<String>,
    /// Only these protocols (all when empty).
    pub protos: Vec<Proto>,
    /// Only these destination ports (needs `protos`).
    pub ports: Vec<PortRange>,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// A public port sent on to an inside host (or another port of this host).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortForward {
    /// A name for listings.
    pub name: String,
    /// The public ports.
    pub ports: PortRange,
    /// The protocols.
    pub protos: Vec<Proto>,
    /// The inside host; `None` sends the traffic to this host (`to_port`).
    pub to: Option<IpAddr>,
    /// The inside port (the public one when `None`).
    pub to_port: Option<u16>,
    /// Zones it is reachable from (all when empty); `host` means this host's own connections.
    pub from: Vec<String>,
    /// The public address (any address of this host when `None`).
    pub address: Option<IpAddr>,
    /// Whether inside clients may use the public address too.
    pub hairpin: bool,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// How a balanced service spreads connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BalanceMode {
    /// Each connection picks a backend at random, in proportion to the weights.
    Random,
    /// Connections take the backends in turn, each as often as its weight says.
    RoundRobin,
    /// Each client address sticks to one backend (a Maglev lookup table on a
    /// hash of the source address: losing a backend moves only its clients).
    Hash,
}

/// A backend of a balanced service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// Its address.
    pub addr: IpAddr,
    /// Its port (the public one when `None`).
    pub port: Option<u16>,
    /// Its share, relative to the other backends' weights.
    pub weight: u32,
    /// Used only while every other (primary) backend is down.
    pub backup: bool,
    /// Takes no new connections; the ones it has go on.
    pub drain: bool,
}

/// What a health check does to decide whether a backend is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CheckKind {
    /// A TCP connection to the backend's port opens.
    Tcp,
    /// `GET path` answers with a status in `first..=last`.
    Http {
        /// The path asked for.
        path: String,
        /// The lowest good status.
        first: u16,
        /// The highest good status.
        last: u16,
    },
    /// A DNS query over UDP for `name` gets an answer.
    UdpDns {
        /// The name asked for.
        name: String,
    },
    /// A command (run with `sh -c`, the backend in `$MOAT_BACKEND_ADDR`
    /// and `$MOAT_BACKEND_PORT`) exits 0.
    Command {
        /// The command line.
        command: String,
    },
}

/// How and how often the daemon checks a balanced service's backends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    /// What a check does.
    pub kind: CheckKind,
    /// Time between two checks of a backend.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Failed checks in a row that take a backend out.
    pub fall: u32,
    /// Good checks in a row that bring it back.
    pub rise: u32,
    /// The port checked (the backend's own when `None`).
    pub port: Option<u16>,
}

/// A load-balanced service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Balance {
    /// A name for listings.
    pub name: String,
    /// The public port.
    pub port: u16,
    /// The protocols.
    pub protos: Vec<Proto>,
    /// The public address (any address of this host when `None`).
    pub address: Option<IpAddr>,
    /// Zones it is reachable from (all when empty).
    pub from: Vec<String>,
    /// How connections are spread.
    pub mode: BalanceMode,
    /// The backends.
    pub backends: Vec<Backend>,
    /// Health checks run by `moat daemon`.
    pub check: Option<HealthCheck>,
    /// Keep a client on its backend for this long after its last new
    /// connection (`affinity = "source"`).
    pub affinity: Option<Duration>,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl Balance {
    /// Whether the service lives in the daemon's table (`inet moat_lb`,
    /// one rule and a map the daemon edits) rather than as iptables
    /// `statistic` rules: anything beyond a fixed split needs it.
    pub fn is_managed(&self) -> bool {
        self.check.is_some()
            || self.affinity.is_some()
            || self.mode == BalanceMode::Hash
            || self.backends.iter().any(|b| b.backup || b.drain)
    }
}

/// A connection the host may open when outgoing traffic is restricted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outgoing {
    /// A name for listings.
    pub name: String,
    /// Protocols (tcp, udp) — empty with `icmp` for ping.
    pub protos: Vec<Proto>,
    /// Whether this is ICMP (ping) rather than ports.
    pub icmp: bool,
    /// Destination ports (all when empty).
    pub ports: Vec<PortRange>,
    /// Destination networks (all when empty).
    pub to: Vec<IpNet>,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogConfig {
    /// Log packets the policies drop.
    pub drops: bool,
    /// Log every new connection to the host and through it.
    pub new_connections: bool,
    /// The start of every log line.
    pub prefix: String,
    /// At most this many lines per unit, per kind (e.g. `5/minute`).
    pub rate: String,
    /// Lines allowed in a burst.
    pub burst: u32,
    /// Where moat's daemon writes logged packets (`[log] file`); with it,
    /// LOG rules go to moat's log group instead of the kernel log.
    pub file: Option<PacketLog>,
}

/// moat's own packet log file (`[log] file` and its settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketLog {
    /// The file (absolute path).
    pub path: PathBuf,
    /// Lines in the kernel log's layout instead of JSON.
    pub text: bool,
    /// The log group LOG rules go to.
    pub group: u16,
    /// The NFLOG groups of the user's own rules to write too (`None`:
    /// every group an NFLOG rule names).
    pub groups: Option<Vec<u16>>,
    /// Rotate when the file would grow past this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Rotate when the file is older than this many seconds.
    pub rotate_every_secs: Option<u64>,
    /// Rotated files kept.
    pub keep: u32,
    /// At most this many lines a second.
    pub max_rate: Option<u32>,
}

/// A raw iptables command of the escape hatch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawRule {
    /// The family (from `[iptables]` or `[ip6tables]`).
    #[serde(skip)]
    pub family: Family,
    /// The command as written, e.g. `-A INPUT -p tcp --dport 9000 -j ACCEPT`.
    pub text: String,
    /// Where it is written.
    #[serde(skip)]
    pub span: Range<usize>,
}
