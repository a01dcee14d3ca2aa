//! `moat bans`, `moat ban` and `moat unban`: through the running daemon
//! when there is one (so its counts stay true and a ban by hand takes the
//! same path as one from a log), else on the kernel's sets and the store.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use ipnet::IpNet;
use moat_ban::{Ban, BanTable, Store};
use moat_jail::control::{self, ControlError, JailStatus, Reply, Request};
use moat_jail::{parse_target, show_target};
use serde::Serialize;

use moat_host::guard;

/// Options of `moat bans`.
#[derive(Args, Debug)]
pub struct BansArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `moat ban`.
#[derive(Args, Debug)]
pub struct BanArgs {
    /// The jail whose ports the ban closes.
    pub jail: String,
    /// The address (or, for a jail that bans IPv6 by prefix, network).
    pub address: String,
    /// How long: seconds or fail2ban's syntax (10m, 1h30m, 1d); -1 for good
    /// (default: the jail's ban time, or 10 minutes without the daemon).
    #[arg(long, allow_hyphen_values = true)]
    pub time: Option<String>,
    /// Ban even the address of the SSH connection this command runs in.
    #[arg(long)]
    pub force: bool,
}

/// Options of `moat unban`.
#[derive(Args, Debug)]
pub struct UnbanArgs {
    /// The address or network to lift every ban of.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub address: Option<String>,
    /// Lift every ban.
    #[arg(long)]
    pub all: bool,
    /// Only this jail's bans.
    #[arg(long)]
    pub jail: Option<String>,
}

/// Ban time without a daemon to ask for the jail's own.
const DEFAULT_BAN: Duration = Duration::from_secs(600);

fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the daemon; `None` when no daemon runs in this namespace.
fn ask(request: &Request) -> Result<Option<Reply>> {
    match control::ask(request) {
        Ok(reply) => Ok(Some(reply)),
        Err(ControlError::NoDaemon) => Ok(None),
        Err(ControlError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn done(reply: Reply) -> Result<()> {
    match reply {
        Reply::Done { message } => {
            println!("{message}");
            Ok(())
        }
        Reply::Error { message } => bail!("{message}"),
        Reply::Status { .. } => bail!("the daemon answered with something else"),
    }
}

/// `moat ban`.
pub fn run_ban(args: BanArgs) -> ExitCode {
    finish(ban(&args))
}

fn parse_time(text: &str) -> Result<Option<Duration>> {
    let secs =
        moat_fail2ban::duration::seconds(text).map_err(|e| anyhow::anyhow!("--time: {e}"))?;
    Ok((secs >= 0.0).then(|| Duration::from_secs_f64(secs)))
}

fn ban(args: &BanArgs) -> Result<()> {
    let target = parse_target(&args.address).map_err(|e| anyhow::anyhow!(e))?;
    if !args.force {
        if let Some(flow) = guard::protected_flows()
            .into_iter()
            .find(|f| target.contains(&f.client.ip()))
        {
            bail!(
                "{} is the client address of {} ({}); banning it would cut you off. Use --force if you mean it",
                flow.client.ip(),
                flow.origin,
                flow.client
            );
        }
    }
    let time = args.time.as_deref().map(parse_time).transpose()?;
    let request = Request::Ban {
        jail: args.jail.clone(),
        target: args.address.clone(),
        seconds: time.flatten().map(|d| d.as_secs()),
        permanent: matches!(time, Some(None)),
    };
    if let Some(reply) = ask(&request)? {
        return done(reply);
    }
    let mut table = BanTable::open()?;
    let duration = time.unwrap_or(Some(DEFAULT_BAN));
    let target = table.ban(&args.jail, target, duration)?;
    let store = Store::open_default()?;
    let now = SystemTime::now();
    let count = store.ban_count(Some(&args.jail), target)? + 1;
    store.record_ban(&Ban {
        jail: args.jail.clone(),
        addr: target,
        start: now,
        end: duration.map(|d| now + d),
        count,
    })?;
    println!(
        "banned {} in {} {}",
        show_target(target),
        args.jail,
        moat_jail::describe_time(duration)
    );
    Ok(())
}

/// `moat unban`.
pub fn run_unban(args: UnbanArgs) -> ExitCode {
    finish(unban(&args))
}

fn unban(args: &UnbanArgs) -> Result<()> {
    let target = args
        .address
        .as_deref()
        .map(parse_target)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let request = Request::Unban {
        target: args.address.clone(),
        jail: args.jail.clone(),
        all: args.all,
    };
    if let Some(reply) = ask(&request)? {
        return done(reply);
    }
    let mut table = BanTable::open()?;
    let store = Store::open_default()?;
    let targets: Vec<IpNet> = match target {
        Some(t) => vec![t],
        None => vec!["0.0.0.0/0".parse()?, "::/0".parse()?],
    };
    let mut lifted = 0;
    for t in targets {
        lifted += table.unban(args.jail.as_deref(), t)?;
        store.remove_ban(args.jail.as_deref(), t)?;
    }
    let what = target.map_or("every address".to_string(), show_target);
    println!("lifted {lifted} bans of {what}");
    Ok(())
}

/// One ban, as `moat bans` shows it.
#[derive(Debug, Serialize)]
struct BanLine {
    jail: String,
    address: String,
    /// Seconds left; `None` for good.
    seconds_left: Option<u64>,
    /// Times banned (with this ban), from the store.
    times_banned: u32,
}

/// What `moat bans --json` prints.
#[derive(Debug, Serialize)]
struct Listing {
    /// A daemon runs in this network namespace.
    daemon: bool,
    /// That daemon runs jails (and answered with their counts).
    daemon_jails: bool,
    jails: Vec<JailLine>,
    bans: Vec<BanLine>,
}

#[derive(Debug, Serialize)]
struct JailLine {
    name: String,
    banned: usize,
    #[serde(flatten)]
    live: Option<LiveCounts>,
}

/// A running jail's counts (its name is the line's).
#[derive(Debug, Serialize)]
struct LiveCounts {
    watched: usize,
    failures: u64,
    bans: u64,
}

impl From<&JailStatus> for LiveCounts {
    fn from(s: &JailStatus) -> Self {
        LiveCounts {
            watched: s.watched,
            failures: s.failures,
            bans: s.bans,
        }
    }
}

/// `moat bans`.
pub fn run_bans(args: BansArgs) -> ExitCode {
    finish(bans(&args))
}

fn bans(args: &BansArgs) -> Result<()> {
    let status = match ask(&Request::Status)? {
        Some(Reply::Status { jails }) => Some(jails),
        Some(Reply::Error { message }) => bail!("{message}"),
        _ => None,
    };
    let mut table = BanTable::open()?;
    let scopes = table
        .jails()
        .context("cannot read the kernel's ban table")?;
    let kernel = table.list()?;
    let store = Store::open_existing(&Store::default_path()).ok().flatten();
    let mut lines: Vec<BanLine> = kernel
        .into_iter()
        .map(|b| BanLine {
            times_banned: store
                .as_ref()
                .and_then(|s| s.ban_count(Some(&b.jail), b.addr).ok())
                .unwrap_or(1)
                .max(1),
            jail: b.jail,
            address: show_target(b.addr),
            seconds_left: b.expires_in.map(|d| d.as_secs()),
        })
        .collect();
    lines.sort_by(|a, b| (&a.jail, &a.address).cmp(&(&b.jail, &b.address)));
    let jails: Vec<JailLine> = scopes
        .iter()
        .map(|s| JailLine {
            name: s.name.clone(),
            banned: lines.iter().filter(|l| l.jail == s.name).count(),
            live: status
                .as_ref()
                .and_then(|st| st.iter().find(|j| j.name == s.name))
                .map(LiveCounts::from),
        })
        .collect();
    let listing = Listing {
        daemon: status.is_some() || moat_daemon::daemon_runs().unwrap_or(false),
        daemon_jails: status.is_some(),
        jails,
        bans: lines,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    print_listing(&listing);
    Ok(())
}

fn print_listing(listing: &Listing) {
    if !listing.daemon {
        println!("(no moat daemon runs here: bans from the kernel and the store only)");
    } else if !listing.daemon_jails {
        println!("(the moat daemon here runs no jails: bans from the kernel and the store only)");
    }
    if listing.jails.is_empty() {
        println!("no jails in the kernel's ban table");
        return;
    }
    for jail in &listing.jails {
        match &jail.live {
            Some(live) => println!(
                "jail {}: {} banned, {} addresses failing now, {} failures and {} bans since the daemon started",
                jail.name, jail.banned, live.watched, live.failures, live.bans
            ),
            None => println!("jail {}: {} banned", jail.name, jail.banned),
        }
        for ban in listing.bans.iter().filter(|b| b.jail == jail.name) {
            let left = ban
                .seconds_left
                .map_or("for good".to_string(), |s| format!("{s} s left"));
            println!(
                "  {:<40} {left:<14} banned {} time{}",
                ban.address,
                ban.times_banned,
                if ban.times_banned == 1 { "" } else { "s" }
            );
        }
    }
}
