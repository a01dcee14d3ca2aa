//! Turns the file as read into a validated [`Config`], collecting every problem.

use moat_model::Family;

use crate::balance;
use crate::error::{closest, Diagnostic};
use crate::model::{
    family_of, Backend, Balance, BalanceMode, Config, Defaults, IcmpPolicy, Limits, LogConfig,
    Outgoing, PortForward, Proto, RawRule, Service, Verdict, Zone, ZoneForward,
};
use crate::schema::{self, File, Text};
use crate::services::ServiceDb;
use crate::values::{
    address, count, endpoint, err, interface, label, names, network, ports, protos, rate,
    single_port, span_of, verdict, Res,
};

/// Zone names moat keeps for itself.
const RESERVED_ZONES: &[&str] = &["host", "any", "all"];

/// Collects problems so one run reports them all.
struct Checker {
    problems: Vec<Diagnostic>,
}

impl Checker {
    fn take<T>(&mut self, r: Res<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(d) => {
                self.problems.push(d);
                None
            }
        }
    }
}

fn zone_ref(
    name: &str,
    span: std::ops::Range<usize>,
    zones: &[String],
    allow_host: bool,
) -> Res<()> {
    if zones.iter().any(|z| z == name) || (allow_host && name == "host") {
        return Ok(());
    }
    let mut expected = if zones.is_empty() {
        "a zone defined under [zones.NAME] (there are none yet)".to_string()
    } else {
        format!(
            "one of the zones defined under [zones]: {}",
            zones.join(", ")
        )
    };
    if allow_host {
        expected.push_str(", or \"host\" for this host's own connections");
    }
    let mut d = err(span, format!("unknown zone `{name}`")).expected(expected);
    if let Some(c) = closest(name, zones.iter().map(String::as_str)) {
        d = d.fix(format!("write \"{c}\""));
    } else {
        d = d.fix(format!(
            "define it: [zones.{name}] with interfaces = [\"eth0\"]"
        ));
    }
    Err(d)
}

fn check_zone_list(
    c: &mut Checker,
    value: Option<&schema::Any>,
    zones: &[String],
    allow_host: bool,
) -> Vec<String> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(list) = c.take(names(value)) else {
        return Vec::new();
    };
    for name in &list {
        c.take(zone_ref(name, span_of(value), zones, allow_host));
    }
    list
}

fn default_protos(c: &mut Checker, proto: Option<&Text>, implied: &[Proto]) -> Vec<Proto> {
    match c.take(protos(proto)).flatten() {
        Some(p) => p,
        None if !implied.is_empty() => implied.to_vec(),
        None => vec![Proto::Tcp],
    }
}

/// Validates `file`; every problem found is returned.
pub(crate) fn validate(file: File, db: &ServiceDb) -> Result<Config, Vec<Diagnostic>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let defaults = {
        let d = file.defaults.map(|d| d.into_inner()).unwrap_or_default();
        let v = |c: &mut Checker, t: Option<&Text>, default: Verdict| {
            t.and_then(|t| c.take(verdict(t))).unwrap_or(default)
        };
        Defaults {
            input: v(&mut c, d.input.as_ref(), Verdict::Drop),
            forward: v(&mut c, d.forward.as_ref(), Verdict::Drop),
            output: v(&mut c, d.output.as_ref(), Verdict::Accept),
            ipv6: d.ipv6.unwrap_or(true),
        }
    };
    let zone_names: Vec<String> = file.zones.keys().cloned().collect();
    let mut zones = Vec::new();
    for (name, zone) in &file.zones {
        let span = span_of(zone);
        let z = zone.get_ref();
        let name_ok = !name.is_empty()
            && name.len() <= 20
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !name_ok {
            c.problems.push(
                err(span.clone(), format!("`{name}` cannot be a zone name"))
                    .expected("1 to 20 letters, digits, `_` or `-`"),
            );
        }
        if RESERVED_ZONES.contains(&name.as_str()) {
            c.problems.push(
                err(
                    span.clone(),
                    format!("`{name}` is reserved and cannot name a zone"),
                )
                .fix(format!("call it something else, e.g. [zones.{name}net]")),
            );
        }
        if z.interfaces.is_empty() && z.networks.is_empty() {
            c.problems.push(
                err(span.clone(), format!("zone `{name}` has neither interfaces nor networks, so nothing belongs to it"))
                    .fix("add interfaces = [\"eth0\"] or networks = [\"192.168.1.0/24\"]"),
            );
        }
        let interfaces = z
            .interfaces
            .iter()
            .filter_map(|i| c.take(interface(i)))
            .collect();
        let networks = z
            .networks
            .iter()
            .filter_map(|n| c.take(network(n)))
            .collect();
        let snat = z.snat.as_ref().and_then(|s| c.take(address(s)));
        if snat.is_some() && z.masquerade == Some(true) {
            c.problems.push(
                err(
                    span.clone(),
                    format!("zone `{name}` has both masquerade and snat"),
                )
                .fix("keep one: masquerade takes the interface's address, snat a fixed one"),
            );
        }
        zones.push(Zone {
            name: name.clone(),
            interfaces,
            networks,
            input: z
                .input
                .as_ref()
                .and_then(|t| c.take(verdict(t)))
                .unwrap_or(defaults.input),
            masquerade: z.masquerade.unwrap_or(false),
            masquerade_ipv6: z.masquerade_ipv6.unwrap_or(false),
            snat,
            span,
        });
    }
    let icmp = match &file.icmp {
        None => IcmpPolicy::Ping,
        Some(t) => match t.get_ref().to_ascii_lowercase().as_str() {
            "all" | "accept" => IcmpPolicy::All,
            "ping" => IcmpPolicy::Ping,
            "none" | "drop" => IcmpPolicy::None,
            other => {
                c.problems.push(
                    err(span_of(t), format!("unknown icmp policy `{other}`"))
                        .expected("\"all\", \"ping\" or \"none\""),
                );
                IcmpPolicy::Ping
            }
        },
    };
    let mut services = Vec::new();
    for (i, s) in file.service.iter().enumerate() {
        let span = span_of(s);
        let s = s.get_ref();
        let name = s.name.as_ref().and_then(|n| c.take(label(n)));
        let port_value = s.port.clone().or_else(|| {
            s.name
                .as_ref()
                .map(|n| toml::Spanned::new(span_of(n), toml::Value::String(n.get_ref().clone())))
        });
        let Some(port_value) = port_value else {
            c.problems.push(
                err(span.clone(), "this service has neither a port nor a name")
                    .expected("name = \"ssh\" (a name from /etc/services) or port = 22")
                    .fix("add port = 22 (and name = \"...\" to label it)"),
            );
            continue;
        };
        let Some(spec) = c.take(ports(&port_value, db)) else {
            continue;
        };
        let protos = default_protos(&mut c, s.proto.as_ref(), &spec.implied);
        let zones_of = check_zone_list(&mut c, s.zones.as_ref(), &zone_names, false);
        let sources = s
            .sources
            .iter()
            .filter_map(|n| c.take(network(n)))
            .collect();
        let limit = match &s.limit {
            None => Limits::default(),
            Some(l) => {
                let l = l.get_ref();
                Limits {
                    connections: l
                        .connections
                        .as_ref()
                        .and_then(|n| c.take(count(n, "connection limit", 65535))),
                    rate: l.rate.as_ref().and_then(|r| c.take(rate(r))),
                    burst: l
                        .burst
                        .as_ref()
                        .and_then(|n| c.take(count(n, "burst", 10000))),
                }
            }
        };
        let name = name.unwrap_or_else(|| match spec.ranges.first() {
            Some(r) if r.first == r.last => format!("port {}", r.first),
            Some(r) => format!("ports {}-{}", r.first, r.last),
            None => format!("service {}", i + 1),
        });
        services.push(Service {
            name,
            ports: spec.ranges,
            protos,
            zones: zones_of,
            sources,
            limit,
            log: s.log.unwrap_or(false),
            span,
        });
    }
    let mut forwards = Vec::new();
    for f in &file.forward {
        let span = span_of(f);
        let f = f.get_ref();
        let from = check_zone_list(&mut c, Some(&f.from), &zone_names, false);
        let to = check_zone_list(&mut c, Some(&f.to), &zone_names, false);
        let spec = f
            .port
            .as_ref()
            .and_then(|p| c.take(ports(p, db)))
            .unwrap_or_default();
        let protos = match c.take(protos(f.proto.as_ref())).flatten() {
            Some(p) => p,
            None if !spec.ranges.is_empty() => default_protos(&mut c, None, &spec.implied),
            None => Vec::new(),
        };
        forwards.push(ZoneForward {
            from,
            to,
            protos,
            ports: spec.ranges,
            span,
        });
    }
    let mut port_forwards = Vec::new();
    for (i, pf) in file.port_forward.iter().enumerate() {
        let span = span_of(pf);
        let pf = pf.get_ref();
        let Some(spec) = c.take(ports(&pf.port, db)) else {
            continue;
        };
        if spec.ranges.len() != 1 {
            c.problems.push(
                err(
                    span_of(&pf.port),
                    "a port forward takes one port or one range",
                )
                .fix("write one [[port_forward]] per port"),
            );
            continue;
        }
        let public = spec.ranges[0];
        let protos = default_protos(&mut c, pf.proto.as_ref(), &spec.implied);
        let (mut to, mut to_port) = (None, None);
        if let Some(t) = &pf.to {
            if let Some((a, p)) = c.take(endpoint(t)) {
                to = a;
                to_port = p;
            }
        }
        if let Some(p) = &pf.to_port {
            match c.take(count(p, "port", 65535)) {
                Some(n) if to_port.is_some() && to_port != Some(n as u16) => c.problems.push(
                    err(span_of(p), "the port is given twice, differently")
                        .fix("keep either the port in `to` or `to_port`"),
                ),
                Some(n) => to_port = Some(n as u16),
                None => {}
            }
        }
        if pf.to.is_none() && to_port.is_none() {
            c.problems.push(
                err(span.clone(), "this port forward says where from but not where to")
                    .expected("to = \"192.168.1.100\" (an inside host, optionally with :port) or to_port = 25 (another port of this host)"),
            );
            continue;
        }
        if public.first != public.last && to_port.is_some_and(|p| p != public.first) {
            c.problems.push(
                err(span.clone(), "a forwarded port range keeps its ports")
                    .fix("remove the target port, or forward single ports"),
            );
        }
        let from = check_zone_list(&mut c, pf.from.as_ref(), &zone_names, true);
        let address = pf.address.as_ref().and_then(|a| c.take(address(a)));
        if let (Some(a), Some(t)) = (address, to) {
            if family_of(&a) != family_of(&t) {
                c.problems.push(err(span.clone(), "the public address and the inside host are of different IP versions").fix("use two IPv4 or two IPv6 addresses (moat does not translate between IPv4 and IPv6)"));
            }
        }
        let name = pf
            .name
            .as_ref()
            .and_then(|n| c.take(label(n)))
            .unwrap_or_else(|| match public.first == public.last {
                true => format!("port {}", public.first),
                false => format!("ports {}-{}", public.first, public.last),
            });
        let _ = i;
        port_forwards.push(PortForward {
            name,
            ports: public,
            protos,
            to,
            to_port,
            from,
            address,
            hairpin: pf.hairpin.unwrap_or(true),
            span,
        });
    }
    let mut balances = Vec::new();
    for b in &file.balance {
        let span = span_of(b);
        let b = b.get_ref();
        let Some(port) = c.take(single_port(&b.port, db)) else {
            continue;
        };
        let implied = c
            .take(ports(&b.port, db))
            .map(|s| s.implied)
            .unwrap_or_default();
        let protos = default_protos(&mut c, b.proto.as_ref(), &implied);
        let address = b.address.as_ref().and_then(|a| c.take(address(a)));
        let from = check_zone_list(&mut c, b.from.as_ref(), &zone_names, false);
        let mode = b
            .mode
            .as_ref()
            .and_then(|m| c.take(balance::mode(m)))
            .unwrap_or(BalanceMode::Random);
        let check = c.take(balance::check(b)).flatten();
        let affinity = c.take(balance::affinity(b)).flatten();
        let mut backends = Vec::new();
        for be in b.backends.get_ref() {
            let be_span = span_of(be);
            let be = be.get_ref();
            let Some((addr, port)) = c.take(endpoint(&be.to)) else {
                continue;
            };
            let Some(addr) = addr else {
                c.problems.push(
                    err(span_of(&be.to), "a backend needs an address")
                        .expected("\"10.10.7.14:8080\""),
                );
                continue;
            };
            let weight = be
                .weight
                .as_ref()
                .and_then(|w| c.take(count(w, "weight", 1000)))
                .unwrap_or(1);
            if let Some(a) = address {
                if family_of(&a) != family_of(&addr) {
                    c.problems.push(err(
                        be_span.clone(),
                        "this backend's IP version differs from the public address's",
                    ));
                }
            }
            if let Some(first) = backends.first().map(|f: &Backend| f.addr) {
                if family_of(&first) != family_of(&addr) {
                    c.problems.push(
                        err(
                            be_span,
                            "backends of one service must all be IPv4 or all IPv6",
                        )
                        .fix("make a second [[balance]] for the other IP version"),
                    );
                }
            }
            backends.push(Backend {
                addr,
                port,
                weight,
                backup: be.backup.unwrap_or(false),
                drain: be.drain.unwrap_or(false),
            });
        }
        if backends.is_empty() {
            c.problems.push(
                err(
                    span_of(&b.backends),
                    "a balanced service needs at least one backend",
                )
                .expected("backends = [{ to = \"10.10.7.14:8080\" }, ...]"),
            );
            continue;
        }
        if backends.iter().all(|be| be.backup) {
            c.problems.push(
                err(span_of(&b.backends), "every backend is a backup")
                    .fix("remove `backup = true` from the backends that serve normally"),
            );
            continue;
        }
        let name = b
            .name
            .as_ref()
            .and_then(|n| c.take(label(n)))
            .unwrap_or_else(|| format!("port {port}"));
        balances.push(Balance {
            name,
            port,
            protos,
            address,
            from,
            mode,
            backends,
            check,
            affinity,
            span,
        });
    }
    let mut outgoing = Vec::new();
    for o in &file.outgoing {
        let span = span_of(o);
        let o = o.get_ref();
        let is_icmp = o.proto.as_ref().is_some_and(|p| {
            p.get_ref().eq_ignore_ascii_case("icmp") || p.get_ref().eq_ignore_ascii_case("ping")
        });
        let spec = o
            .port
            .as_ref()
            .and_then(|p| c.take(ports(p, db)))
            .unwrap_or_default();
        let protos = if is_icmp {
            Vec::new()
        } else {
            default_protos(&mut c, o.proto.as_ref(), &spec.implied)
        };
        let to = o.to.iter().filter_map(|n| c.take(network(n))).collect();
        let name = o
            .name
            .as_ref()
            .and_then(|n| c.take(label(n)))
            .unwrap_or_else(|| "outgoing".into());
        outgoing.push(Outgoing {
            name,
            protos,
            icmp: is_icmp,
            ports: spec.ranges,
            to,
            span,
        });
    }
    let log = {
        let l = file.log.as_ref().map(|l| l.get_ref());
        let prefix = l
            .and_then(|l| l.prefix.as_ref())
            .and_then(|p| c.take(label(p)))
            .unwrap_or_else(|| "moat".into());
        if prefix.len() > 20 {
            let span = l.and_then(|l| l.prefix.as_ref()).map(span_of);
            c.problems.push(Diagnostic::new(span, format!("log prefix `{prefix}` is too long")).expected("at most 20 characters (the kernel keeps 29, and moat adds \" drop: \" or \" new: \")"));
        }
        LogConfig {
            drops: l.and_then(|l| l.drops).unwrap_or(false),
            new_connections: l.and_then(|l| l.new_connections).unwrap_or(false),
            prefix,
            rate: l
                .and_then(|l| l.rate.as_ref())
                .and_then(|r| c.take(rate(r)))
                .unwrap_or_else(|| "5/minute".into()),
            burst: l
                .and_then(|l| l.burst.as_ref())
                .and_then(|b| c.take(count(b, "burst", 10000)))
                .unwrap_or(5),
            file: l.and_then(|l| crate::packet_log::validate(l, &mut c.problems)),
        }
    };
    let mut raw = Vec::new();
    for (family, section) in [
        (Family::Ipv4, &file.iptables),
        (Family::Ipv6, &file.ip6tables),
    ] {
        for r in section.iter().flat_map(|s| s.get_ref().rules.iter()) {
            raw.push(RawRule {
                family,
                text: r.get_ref().clone(),
                span: span_of(r),
            });
        }
    }
    let blocks = crate::blocks::validate(&file.block, &mut c.problems);
    let mut daemon = crate::jails::daemon(file.daemon.as_ref(), &mut c.problems);
    daemon.metrics = file
        .metrics
        .as_ref()
        .and_then(|m| c.take(crate::jails::metrics_listen(m)));
    let jails = crate::jails::validate(&file.jail, &daemon, db, &mut c.problems);
    if c.problems.is_empty() {
        Ok(Config {
            defaults,
            zones,
            icmp,
            services,
            forwards,
            port_forwards,
            balances,
            outgoing,
            log,
            blocks,
            raw,
            jails,
            daemon,
        })
    } else {
        Err(c.problems)
    }
}

/// Reads a TOML text into the schema, turning serde's complaints into located problems.
pub(crate) fn read(text: &str) -> Result<File, Diagnostic> {
    toml::from_str::<File>(text).map_err(|e| {
        let message = e.message().trim().to_string();
        let mut d = Diagnostic::new(e.span(), message.clone());
        if let Some(rest) = message.strip_prefix("unknown field `") {
            if let Some((field, expected)) = rest.split_once("`, expected ") {
                let options: Vec<String> = expected
                    .split(['`', ','])
                    .map(|s| s.trim().trim_start_matches("one of").trim().to_string())
                    .filter(|s| !s.is_empty() && s != "or")
                    .collect();
                d = Diagnostic::new(e.span(), format!("unknown key `{field}`"))
                    .expected(options.join(", "));
                if let Some(c) = closest(field, options.iter().map(String::as_str)) {
                    d = d.fix(format!("write `{c}`"));
                }
            }
        }
        d
    })
}
