//! `moat install` (the binary and its systemd unit) and `moat boot` (what
//! the unit runs: the kept ruleset put back in one transaction).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::config_balance;
use crate::config_blocks;
use crate::docs;
use crate::jails;
use moat_host::lock::RulesetLock;
use moat_host::persist;
use moat_host::set_copies;
use moat_host::snapshot::{model_tables, restore_snapshot, Snapshot};
use moat_iptables_cmd::install;

/// The systemd unit moat ships (dist/moat.service).
pub const UNIT: &str = include_str!("../../../dist/moat.service");
/// Where the unit wants to be enabled.
const WANTED_BY: &str = "sysinit.target.wants";
/// The daemon's unit (dist/moat-daemon.service).
pub const DAEMON_UNIT: &str = include_str!("../../../dist/moat-daemon.service");
/// Where the daemon's unit wants to be enabled.
const DAEMON_WANTED_BY: &str = "multi-user.target.wants";

/// Options of `moat install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Install under this root instead of / (`MOAT_ROOT` also sets it).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Also make moat the host's iptables: the iptables, ip6tables, -save
    /// and -restore commands in /usr/local/lib/moat, registered with
    /// update-alternatives and chosen (`update-alternatives --auto
    /// iptables` and `... ip6tables` go back).
    #[arg(long)]
    pub iptables: bool,
}

/// The files `moat install` writes under `root`: binary, units, enable
/// links, config directory, shell completions and the manual page.
pub fn install_into(root: &Path, exe: &Path) -> Result<Vec<PathBuf>> {
    let bin = root.join("usr/local/bin/moat");
    let units = root.join("etc/systemd/system");
    let unit = units.join("moat.service");
    let wants = units.join(WANTED_BY);
    let daemon_wants = units.join(DAEMON_WANTED_BY);
    let etc = root.join("etc/moat");
    for dir in [
        bin.parent().unwrap_or(root),
        &units,
        &wants,
        &daemon_wants,
        &etc,
    ] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if exe != bin {
        let tmp = bin.with_extension("new");
        std::fs::copy(exe, &tmp)
            .with_context(|| format!("cannot copy {} to {}", exe.display(), tmp.display()))?;
        std::fs::rename(&tmp, &bin)?;
    }
    std::fs::write(&unit, UNIT).with_context(|| format!("cannot write {}", unit.display()))?;
    let link = enable(&wants, "moat.service")?;
    let daemon_unit = units.join("moat-daemon.service");
    std::fs::write(&daemon_unit, DAEMON_UNIT)
        .with_context(|| format!("cannot write {}", daemon_unit.display()))?;
    let daemon_link = enable(&daemon_wants, "moat-daemon.service")?;
    let mut files = vec![bin, unit, link, daemon_unit, daemon_link, etc];
    files.extend(docs::install_into(root)?);
    Ok(files)
}

/// Links `/etc/systemd/system/NAME` into the `wants` directory.
fn enable(wants: &Path, name: &str) -> Result<PathBuf> {
    let link = wants.join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{name}"), &link)
        .with_context(|| format!("cannot enable {name} ({})", link.display()))?;
    Ok(link)
}

/// `moat install`.
pub fn run_install(args: &InstallArgs) -> ExitCode {
    let result = (|| -> Result<()> {
        let root = args
            .root
            .clone()
            .or_else(|| std::env::var_os("MOAT_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let exe = std::env::current_exe().context("cannot find moat's own binary")?;
        for path in install_into(&root, &exe)? {
            println!("installed {}", path.display());
        }
        if args.iptables {
            switch_iptables(&root, &exe)?;
        }
        let live = root == Path::new("/") && Path::new("/run/systemd/system").exists();
        if live {
            let ok = Command::new("systemctl")
                .arg("daemon-reload")
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            println!(
                "{}: moat.service runs `moat boot` at every start, before the network comes up; moat-daemon.service runs the jails",
                if ok {
                    "enabled"
                } else {
                    "enabled (run `systemctl daemon-reload`)"
                }
            );
        } else {
            println!(
                "enabled for the next boot of {} (no running systemd to reload)",
                root.display()
            );
        }
        Ok(())
    })();
    result.map(|()| ExitCode::SUCCESS).unwrap_or_else(|e| {
        eprintln!("moat: {e:#}");
        ExitCode::FAILURE
    })
}

/// Makes moat's personalities the host's iptables (`moat install
/// --iptables`): the lean moat-iptables binary when it is beside `exe`,
/// else moat itself, which runs them by name too.
fn switch_iptables(root: &Path, exe: &Path) -> Result<()> {
    let lean = exe.with_file_name("moat-iptables");
    let binary = if lean.is_file() {
        lean
    } else {
        exe.to_path_buf()
    };
    for path in install::install_personalities(root, &binary)? {
        println!("installed {}", path.display());
    }
    install::choose_moat(root)?;
    println!(
        "iptables, ip6tables, iptables-save, iptables-restore, ip6tables-save and \
         ip6tables-restore now run moat (update-alternatives); `update-alternatives --auto \
         iptables; update-alternatives --auto ip6tables` goes back to Debian's"
    );
    Ok(())
}

/// Puts the kept ruleset back. A block list its rules look up that is
/// gone (one `moat block` made, which boot does not keep, or one whose
/// file is missing) is made empty first, with a warning, so that the rest
/// of the firewall comes back rather than none of it.
fn restore_kept(snapshot: &Snapshot) -> Result<()> {
    let gone = set_copies::missing_lists(&model_tables(&snapshot.states()?))?;
    if !gone.is_empty() {
        config_blocks::make_empty(&gone)?;
    }
    for name in &gone {
        eprintln!(
            "moat: warning: the kept rules look up block list {name}, which is gone \
             (boot keeps the lists of moat.toml's [[block]], not those `moat block` made); \
             it is empty until loaded again (moat block file {name} FILE)"
        );
    }
    restore_snapshot(&moat_backend::default_backend(), snapshot)?;
    Ok(())
}

/// `moat boot`: puts the kept ruleset back, then the bans still due.
pub fn run_boot() -> ExitCode {
    let result = (|| -> Result<bool> {
        let Some(snapshot) = persist::load_ruleset()? else {
            return Ok(false);
        };
        let _lock = RulesetLock::acquire(Duration::from_secs(30))?;
        let kept = persist::kept_config();
        if let Some(config) = &kept {
            // The ruleset comes back even when a list file is gone.
            let lists = config_blocks::read(config).and_then(|l| config_blocks::load(&l));
            if let Err(e) = lists {
                eprintln!("moat: warning: the configured block lists were not loaded: {e:#}");
            }
        }
        restore_kept(&snapshot)?;
        if let Err(e) = config_balance::apply(kept.as_ref()) {
            eprintln!("moat: warning: the balanced services were not set up: {e:#}");
        }
        Ok(true)
    })();
    let code = match result {
        Ok(true) => {
            println!(
                "moat: restored the ruleset kept in {}",
                persist::etc_dir().display()
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!(
                "moat: nothing to restore ({} has no {})",
                persist::etc_dir().display(),
                persist::RULESET
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    };
    match jails::restore_bans() {
        Ok(0) => {}
        Ok(n) => println!("moat: restored {n} bans still due"),
        Err(e) => eprintln!("moat: warning: the bans still due were not restored: {e:#}"),
    }
    code
}
