//! `moat explain`: the path a described packet takes through the ruleset in
//! the kernel (or a file), with the verdict. Exit status 0 when it is
//! accepted on every path, 1 when dropped or rejected on some, 2 on bad
//! input or an unreadable ruleset.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use moat_explain::{parse_icmp_type, parse_protocol, ConnState, PacketSpec};

use crate::{host_view, ruleset_source};

/// Options of `moat explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The interface the packet arrives on; without it, this host sends the packet.
    #[arg(long = "in", value_name = "IF")]
    pub in_iface: Option<String>,
    /// The interface it leaves through (default: the one the route to --dst takes).
    #[arg(long = "out", value_name = "IF")]
    pub out_iface: Option<String>,
    /// Source address (for a packet this host sends: its outgoing interface's address).
    #[arg(long, value_name = "ADDR")]
    pub src: Option<IpAddr>,
    /// Destination address.
    #[arg(long, value_name = "ADDR")]
    pub dst: IpAddr,
    /// tcp, udp, icmp, icmpv6 or a protocol number (default: tcp with ports, icmp with --icmp-type).
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,
    /// Source port.
    #[arg(long, value_name = "N")]
    pub sport: Option<u16>,
    /// Destination port.
    #[arg(long, value_name = "N")]
    pub dport: Option<u16>,
    /// ICMP type, with an optional code: 8, 3/3, echo-request.
    #[arg(long = "icmp-type", value_name = "T[/CODE]")]
    pub icmp_type: Option<String>,
    /// Connection state: new (default), established, related or invalid.
    #[arg(long, value_name = "STATE", default_value = "new")]
    pub state: String,
    /// The packet mark it starts with (decimal or 0x hex).
    #[arg(long, value_name = "N", value_parser = parse_mark)]
    pub mark: Option<u32>,
    /// The IP length, header included (otherwise length matches depend).
    #[arg(long, value_name = "N")]
    pub length: Option<u16>,
    /// A set (`-m set --match-set NAME`) the packet is in; repeat for more.
    #[arg(long = "in-set", value_name = "NAME")]
    pub in_set: Vec<String>,
    /// A set the packet is not in; matches on sets not named depend.
    #[arg(long = "not-in-set", value_name = "NAME")]
    pub not_in_set: Vec<String>,
    /// A moat.toml or iptables-save file (default: moat's tables in the kernel).
    #[arg(long, value_name = "FILE")]
    pub ruleset: Option<PathBuf>,
    /// Show every rule examined, and why those that do not match do not.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the explanation as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_mark(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not a mark (a number, decimal or 0x hex)"))
}

/// The packet the options describe.
fn spec(args: &ExplainArgs) -> Result<PacketSpec> {
    let icmp_proto = if args.dst.is_ipv4() { 1 } else { 58 };
    let protocol = match (&args.proto, &args.icmp_type, args.sport.or(args.dport)) {
        (Some(p), _, _) => parse_protocol(p)?,
        (None, Some(_), _) => icmp_proto,
        (None, None, Some(_)) => 6,
        (None, None, None) => bail!("give --proto (tcp, udp, icmp, icmpv6 or a number)"),
    };
    let icmp = match &args.icmp_type {
        Some(t) => Some(parse_icmp_type(t, protocol)?),
        None => None,
    };
    let spec = PacketSpec {
        in_iface: args.in_iface.clone(),
        out_iface: args.out_iface.clone(),
        source: args.src,
        destination: args.dst,
        protocol,
        source_port: args.sport,
        destination_port: args.dport,
        icmp,
        tcp_flags: None,
        state: args.state.parse::<ConnState>()?,
        mark: args.mark.unwrap_or(0),
        length: args.length,
        sets: args
            .in_set
            .iter()
            .map(|n| (n.clone(), true))
            .chain(args.not_in_set.iter().map(|n| (n.clone(), false)))
            .collect(),
    };
    spec.validate()?;
    Ok(spec)
}

/// `moat explain`.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let spec = match spec(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("moat explain: {e:#}");
            return ExitCode::from(2);
        }
    };
    let loaded =
        ruleset_source::load(args.ruleset.as_deref()).and_then(|r| Ok((r, host_view::read()?)));
    let ((name, tables), host) = match loaded {
        Ok((Some(r), host)) => (r, host),
        Ok((None, _)) => return ExitCode::from(2),
        Err(e) => {
            eprintln!("moat explain: {e:#}");
            return ExitCode::from(2);
        }
    };
    let explanation = moat_explain::explain(&tables, &spec, &host);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ruleset": name, "explanation": explanation})
        );
    } else if args.verbose {
        print!("ruleset: {name}\n{explanation:#}");
    } else {
        print!("ruleset: {name}\n{explanation}");
    }
    if explanation.accepted_everywhere() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
