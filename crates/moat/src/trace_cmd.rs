//! `moat trace`: marks the packets a filter picks for the kernel's trace
//! (table `inet moat_trace`), reads the trace events (`nft -a monitor
//! trace`) and prints each packet's path through moat's tables in iptables
//! terms, until Ctrl-C or `--count` packets; the marking table is removed
//! on the way out, also on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use moat_backend::{Backend, NftCli};
use moat_model::{Family, Stage};
use moat_trace::marking::{removal, Pick};
use moat_trace::{describe, Event, Resolver, TraceLines};

/// Options of `moat trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// Source address or network.
    #[arg(long)]
    pub src: Option<String>,
    /// Destination address or network.
    #[arg(long)]
    pub dst: Option<String>,
    /// Protocol (tcp, udp, icmp, icmpv6, ...).
    #[arg(long, short = 'p')]
    pub proto: Option<String>,
    /// Source port (needs --proto).
    #[arg(long)]
    pub sport: Option<u16>,
    /// Destination port (needs --proto).
    #[arg(long)]
    pub dport: Option<u16>,
    /// Interface the packet comes in on (or, for this host's own packets, goes out of).
    #[arg(long = "iface", visible_alias = "in")]
    pub iface: Option<String>,
    /// Stop after this many packets.
    #[arg(long, short = 'c')]
    pub count: Option<usize>,
}

/// Set by SIGINT and SIGTERM: stop and clean up.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// How long after its last event a packet's path is printed.
const QUIET: Duration = Duration::from_millis(300);

/// `moat trace`.
pub fn run(args: &TraceArgs) -> ExitCode {
    let pick = Pick {
        src: args.src.clone(),
        dst: args.dst.clone(),
        proto: args.proto.clone(),
        sport: args.sport,
        dport: args.dport,
        iface: args.iface.clone(),
    };
    let script = match pick.script() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("moat trace: {e}");
            return ExitCode::from(2);
        }
    };
    let nft = NftCli::default();
    let result = nft
        .script(&script, false)
        .context("adding the marking table inet moat_trace")
        .and_then(|()| follow(args.count));
    let removed = nft.script(&removal(), false);
    match (result, removed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("moat trace: {e:#}");
            ExitCode::FAILURE
        }
        (Ok(()), Err(e)) => {
            eprintln!("moat trace: removing table inet moat_trace: {e}");
            ExitCode::FAILURE
        }
    }
}

/// moat's tables as the kernel holds them now.
fn resolver() -> Result<Resolver> {
    let backend = moat_backend::default_backend();
    let mut tables = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        for stage in Stage::ALL {
            tables.extend(backend.read(family, stage)?);
        }
    }
    Ok(Resolver::new(&tables))
}

fn monitor() -> Result<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new("nft")
        .args(["-a", "monitor", "trace"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run nft monitor trace (is nftables installed?)")?;
    let stdout = child.stdout.take().context("nft's output")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut events = TraceLines::default();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Some(event) = events.push(&line) else {
                continue;
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// Prints the path of the packet whose events `packet` holds (then
/// empties it), numbered after `printed`; how many packets it printed.
fn print(resolver: &Resolver, packet: &mut Vec<Event>, printed: usize) -> usize {
    if packet.is_empty() {
        return 0;
    }
    let lines = describe(resolver, packet);
    println!("packet {}: {}", printed + 1, lines.join("\n"));
    packet.clear();
    1
}

/// Prints packets' paths until `count` packets, Ctrl-C, or nft's end.
fn follow(count: Option<usize>) -> Result<()> {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let resolver = resolver()?;
    let (mut child, lines) = monitor()?;
    eprintln!("moat trace: following the packets picked; Ctrl-C ends");
    let mut packet: Vec<Event> = Vec::new();
    let mut printed = 0usize;
    while !STOP.load(Ordering::Relaxed) && count.is_none_or(|c| printed < c) {
        match lines.recv_timeout(QUIET) {
            Ok(line) => {
                let Some(event) = Event::parse(&line) else {
                    continue;
                };
                if packet.first().is_some_and(|p| p.id != event.id) {
                    printed += print(&resolver, &mut packet, printed);
                }
                packet.push(event);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                printed += print(&resolver, &mut packet, printed);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if count.is_none_or(|c| printed < c) {
        print(&resolver, &mut packet, printed);
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
