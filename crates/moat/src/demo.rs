//! `moat demo`: the 2010 stateful-firewall article's firewall and the 2016
//! port-forwarding article's router on a throwaway lab of network namespaces, with real traffic.
//!
//! Everything happens in namespaces the demo creates and removes; the host's
//! own firewall and routes are never touched.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use moat_testnet::topology::{
    CLIENT_V4, GATEWAY_LAN_IF, GATEWAY_LAN_V4, GATEWAY_WAN_IF, LAN_NET_V4, SERVER_V4,
};
use moat_testnet::{ping, tcp_connect, Netns, TcpOutcome, TcpServer, Topology};

/// The firewall the demo applies: the 2010 stateful-firewall article's on
/// the client-facing interface, then the 2016 port-forwarding article's
/// stateful forwarding.
fn demo_commands() -> Vec<String> {
    let ext = GATEWAY_LAN_IF;
    let mut cmds = vec![
        "-P INPUT ACCEPT".to_string(),
        "-F INPUT".to_string(),
        format!("-A INPUT -i ! {ext} -j ACCEPT"),
    ];
    for port in [22, 80] {
        cmds.push(format!("-A INPUT -p tcp --dport {port} -j ACCEPT"));
    }
    cmds.extend([
        format!("-A INPUT -i {ext} -m state --state ESTABLISHED,RELATED -j ACCEPT"),
        "-A INPUT -p icmp -j ACCEPT".to_string(),
        "-A INPUT -j REJECT --reject-with icmp-host-prohibited".to_string(),
        "-P INPUT DROP".to_string(),
        "-P FORWARD DROP".to_string(),
        "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".to_string(),
        format!("-A FORWARD -i {ext} -o {GATEWAY_WAN_IF} -s {LAN_NET_V4} -m conntrack --ctstate NEW -j ACCEPT"),
    ]);
    cmds
}

/// What the demo applies, named by the articles it comes from.
const ARTICLES: &str =
    "the 2010 stateful-firewall article's firewall and the 2016 port-forwarding article's router";

fn describe(outcome: &TcpOutcome) -> String {
    match outcome {
        TcpOutcome::Connected { .. } => "connected".into(),
        TcpOutcome::Refused => "refused (TCP reset or ICMP port unreachable)".into(),
        TcpOutcome::Unreachable(u) => format!("rejected ({u:?} unreachable)"),
        TcpOutcome::TimedOut => "no answer (dropped)".into(),
    }
}

fn moat_in(ns: &Netns, args: &[&str]) -> Result<String> {
    let exe = std::env::current_exe().context("cannot find the moat binary")?;
    let mut argv: Vec<String> = vec![exe.display().to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let out = ns.exec(&argv)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        println!("      {line}");
    }
    if !out.status.success() {
        bail!("moat {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_demo() -> Result<()> {
    if let Some(reason) = moat_testnet::lab_unavailable() {
        bail!("the demo needs root and `ip netns`: {reason}");
    }
    println!("== Building a throwaway lab in network namespaces:");
    println!("   client {CLIENT_V4} -- ({GATEWAY_LAN_IF} {GATEWAY_LAN_V4}) gateway ({GATEWAY_WAN_IF}) -- server {SERVER_V4}");
    let lab = Topology::gateway()?;
    let _services: Vec<TcpServer> = [22, 80, 8080]
        .into_iter()
        .map(|port| TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, port))
        .collect::<Result<_, _>>()?;
    let _web = TcpServer::start(&lab.server, SERVER_V4, 80)?;
    let _client_ssh = TcpServer::start(&lab.client, CLIENT_V4, 22)?;

    println!("\n== Applying {ARTICLES} with moat on the gateway:");
    for cmd in demo_commands() {
        println!("   $ iptables {cmd}");
        let words: Vec<&str> = std::iter::once("iptables")
            .chain(cmd.split_whitespace())
            .collect();
        moat_in(&lab.gateway, &words)?;
    }

    println!("\n== Real traffic:");
    for port in [22, 80, 8080] {
        let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V4, port)?;
        println!("   client -> gateway tcp/{port:<5} {}", describe(&outcome));
    }
    let pinged = ping(&lab.client, GATEWAY_LAN_V4)?;
    println!(
        "   client -> gateway ping      {}",
        if pinged { "reply" } else { "no reply" }
    );
    let forward = tcp_connect(&lab.client, SERVER_V4, 80)?;
    println!(
        "   client -> server tcp/80     {} (forwarded, NEW from the LAN)",
        describe(&forward)
    );
    let back = tcp_connect(&lab.server, CLIENT_V4, 22)?;
    println!(
        "   server -> client tcp/22     {} (FORWARD policy DROP)",
        describe(&back)
    );

    println!("\n== moat iptables -vnL on the gateway:");
    print!("{}", moat_in(&lab.gateway, &["iptables", "-vnL"])?);
    println!("\n== moat iptables-save on the gateway:");
    print!("{}", moat_in(&lab.gateway, &["iptables-save"])?);
    drop(lab);
    println!("\n== Removed the lab; the host's own firewall was never touched.");
    Ok(())
}

/// Runs the demo.
pub fn run() -> ExitCode {
    match run_demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
