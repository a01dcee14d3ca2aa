//! `moat daemon`: wires the jails and the balanced services' health
//! checks into the daemon's supervisor.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use moat_balance::{health::Memory, kernel, BalanceJob, Service};
use moat_daemon::{log, Job, Level, Plan};
use moat_jail::{JailMemory, JailsJob};
use moat_logger::{LoggerJob, LoggerStats, SharedSocket};
use moat_metrics::MetricsJob;

use crate::jails::{self, ConfigFile, JailSources};
use crate::log_cmd::{self, LoggerArgs};

/// Options of `moat daemon`.
#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// The moat.toml whose `[[jail]]`s and `[daemon]` settings to run
    /// (default: the one `moat apply` kept in /etc/moat).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// fail2ban jail files or directories to run as well (jail.conf with
    /// its jail.local and jail.d/, or a directory holding them). Repeatable.
    #[arg(long = "jails", value_name = "PATH")]
    pub jails: Vec<PathBuf>,
    /// Directory of the ban store (default: $MOAT_STATE or /var/lib/moat).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9469);
    /// overrides moat.toml's `[metrics] listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The packet logger.
    #[command(flatten)]
    pub logger: LoggerArgs,
}

struct DaemonPlan {
    sources: JailSources,
    state: Option<PathBuf>,
    metrics: Option<std::net::SocketAddr>,
    logger: LoggerArgs,
    /// The packet log's netlink socket, kept across reloads.
    log_socket: SharedSocket,
    log_stats: Arc<LoggerStats>,
    /// The jails' failures and counts, kept across reloads.
    jail_memory: JailMemory,
    /// The backends' health, kept across reloads.
    balance_memory: Memory,
    /// Whether jobs run already: later configurations are reloads.
    running: bool,
}

impl DaemonPlan {
    /// Refuses a reload whose balanced services the kernel does not hold
    /// as configured (a kept file edited by hand, not applied): the jobs
    /// that run keep checking the services the kernel holds.
    fn check_held(&self, services: &[Service]) -> anyhow::Result<()> {
        if !self.running || services.is_empty() {
            return Ok(());
        }
        let held = kernel::read().context("reading table inet moat_lb")?;
        let names = kernel::not_held(services, &held);
        if names.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "the kernel does not hold balanced service(s) {} as the configuration has them; run `moat apply` with it",
            names.join(", ")
        )
    }
}

impl Plan for DaemonPlan {
    type Error = anyhow::Error;

    fn jobs(&mut self) -> anyhow::Result<Vec<Box<dyn Job>>> {
        let loaded = jails::load(&self.sources)?;
        for w in &loaded.warnings {
            log(Level::Warning, "daemon", w);
        }
        let services = loaded.config.as_ref().map(Service::all).unwrap_or_default();
        self.check_held(&services)?;
        let mut jobs: Vec<Box<dyn Job>> = Vec::new();
        let no_jails = loaded.specs.is_empty();
        if !no_jails {
            let store = jails::store_path(self.state.as_deref());
            jobs.push(Box::new(JailsJob::new(
                loaded.specs,
                store,
                self.jail_memory.clone(),
            )));
        }
        if !services.is_empty() {
            jobs.push(Box::new(BalanceJob::new(
                services,
                self.balance_memory.clone(),
            )));
        }
        let logging = log_cmd::settings(loaded.config.as_ref(), &self.logger);
        let logging_on = logging.is_some();
        if let Some(settings) = logging {
            jobs.push(Box::new(LoggerJob::new(
                settings,
                self.log_socket.clone(),
                Arc::new(log_cmd::KernelRules),
                self.log_stats.clone(),
            )));
        }
        let metrics = self
            .metrics
            .or(loaded.config.as_ref().and_then(|c| c.daemon.metrics));
        if let Some(listen) = metrics {
            let stats = self.log_stats.clone();
            let collect: moat_metrics::Collect = Arc::new(move || {
                let mut e = crate::metrics_cmd::collect();
                if logging_on {
                    crate::metrics_cmd::add_logger(&mut e, stats.read());
                }
                e
            });
            jobs.push(Box::new(MetricsJob::new(listen, collect)));
        }
        if jobs.is_empty() {
            log(
                Level::Warning,
                "daemon",
                "no jails to run and no balanced service to check: add [[jail]], a [[balance]] with a check, [log] file or [metrics] to moat.toml, or name fail2ban's files with --jails; waiting for a reload (SIGHUP)",
            );
        }
        // Jails a reload removed (or an earlier configuration left) are
        // taken out of the kernel, with their bans, by a jails job of none.
        if no_jails && jails::kernel_holds_jails() {
            jobs.push(Box::new(JailsJob::new(
                Vec::new(),
                jails::store_path(self.state.as_deref()),
                self.jail_memory.clone(),
            )));
        }
        self.running = true;
        Ok(jobs)
    }
}

/// `moat daemon`.
pub fn run(args: DaemonArgs) -> ExitCode {
    let plan = DaemonPlan {
        sources: JailSources {
            config: args.config.map_or(ConfigFile::Kept, ConfigFile::Path),
            fail2ban: args.jails,
        },
        state: args.state,
        metrics: args.metrics,
        logger: args.logger,
        log_socket: SharedSocket::default(),
        log_stats: Arc::new(LoggerStats::default()),
        jail_memory: JailMemory::default(),
        balance_memory: Memory::default(),
        running: false,
    };
    match moat_daemon::run(plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat daemon: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks the daemon of this network namespace, if one runs, to read the
/// kept configuration again (after `moat apply` or `moat confirm` kept a
/// new one).
pub fn reload_running() {
    if let Ok(true) = moat_daemon::request_reload() {
        println!("moat daemon reads its configuration again");
    }
}
