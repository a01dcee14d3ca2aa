//! Starting, reloading and stopping the jobs.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
pub use tokio_util::sync::CancellationToken as Stop;

use crate::control;
use crate::log::{log, Level};
use crate::notify::notify;

/// How long jobs get to save their state once asked to stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Why a job ended with an error.
#[derive(Debug, thiserror::Error)]
#[error("{job}: {message}")]
pub struct JobError {
    /// The job's name.
    pub job: String,
    /// What went wrong.
    pub message: String,
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The first set of jobs could not be built.
    #[error("cannot start: {0}")]
    Start(String),
    /// A job failed; the others were stopped.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The runtime or the signal handlers could not be set up.
    #[error("cannot set up the daemon: {0}")]
    Setup(#[from] std::io::Error),
}

/// A job's word that it is at work (its logs opened, its sockets bound):
/// the daemon tells systemd it is ready once every job said so.
#[derive(Debug)]
pub struct Started(oneshot::Sender<()>);

impl Started {
    /// Says the job is at work.
    pub fn done(self) {
        let _ = self.0.send(());
    }
}

/// One of the daemon's jobs (the jails, the packet logger, ...).
pub trait Job: Send + 'static {
    /// The job's name, for log lines.
    fn name(&self) -> String;
    /// Runs until `stop` is cancelled (then saves its state and returns)
    /// or until it fails; calls `started.done()` once it is at work.
    fn run(
        self: Box<Self>,
        stop: Stop,
        started: Started,
    ) -> Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
}

/// Where the jobs come from: read at start and again on every SIGHUP.
pub trait Plan {
    /// Why a configuration could not be turned into jobs.
    type Error: Display;
    /// Builds the jobs from the current configuration. Must not disturb
    /// the running jobs: a failed reload leaves them as they are.
    fn jobs(&mut self) -> Result<Vec<Box<dyn Job>>, Self::Error>;
}

/// Runs the daemon until SIGTERM or SIGINT (returns `Ok`) or until a job
/// fails (returns its error after stopping the others).
pub fn run<P: Plan>(mut plan: P) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let jobs = plan.jobs().map_err(|e| DaemonError::Start(e.to_string()))?;
    runtime.block_on(supervise(plan, jobs))
}

struct Running {
    stop: Stop,
    set: JoinSet<Result<(), JobError>>,
}

impl Running {
    /// Starts `jobs` and waits until each said it is at work (or ended).
    async fn start(jobs: Vec<Box<dyn Job>>) -> Running {
        let stop = Stop::new();
        let mut set = JoinSet::new();
        let mut waiting = Vec::new();
        for job in jobs {
            let (tx, rx) = oneshot::channel();
            waiting.push((job.name(), rx));
            set.spawn(job.run(stop.child_token(), Started(tx)));
        }
        for (name, rx) in waiting {
            // A job that ends before it started drops its sender; its
            // error comes out of the join set.
            if rx.await.is_ok() {
                log(Level::Info, &name, "started");
            }
        }
        Running { stop, set }
    }

    async fn stop(mut self) -> Result<(), JobError> {
        self.stop.cancel();
        let mut first_error = None;
        let deadline = tokio::time::sleep(STOP_GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.set.join_next() => match next {
                    None => break,
                    Some(result) => {
                        if let Err(e) = flatten(result) {
                            first_error.get_or_insert(e);
                        }
                    }
                },
                _ = &mut deadline => {
                    log(Level::Error, "daemon", "jobs did not stop in time; ending them");
                    self.set.abort_all();
                    break;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn flatten(result: Result<Result<(), JobError>, tokio::task::JoinError>) -> Result<(), JobError> {
    result.unwrap_or_else(|e| {
        Err(JobError {
            job: "daemon".into(),
            message: format!("a job ended abnormally: {e}"),
        })
    })
}

async fn supervise<P: Plan>(mut plan: P, jobs: Vec<Box<dyn Job>>) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let control = control::listen()?;
    let mut running = Running::start(jobs).await;
    notify("READY=1\nSTATUS=running");
    log(Level::Info, "daemon", "ready");
    loop {
        let reload = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => true,
            asked = control.accept() => {
                if let Ok((stream, _)) = asked {
                    control::answer(stream).await
                } else {
                    false
                }
            }
            Some(result) = running.set.join_next() => {
                if let Err(e) = flatten(result) {
                    log(Level::Error, &e.job, &e.message);
                    notify("STOPPING=1");
                    let _ = running.stop().await;
                    return Err(e.into());
                }
                false
            }
        };
        if reload {
            notify("RELOADING=1");
            match plan.jobs() {
                Ok(jobs) => {
                    if let Err(e) = running.stop().await {
                        log(Level::Error, &e.job, &e.message);
                    }
                    running = Running::start(jobs).await;
                    log(Level::Notice, "daemon", "configuration reloaded");
                }
                Err(e) => log(
                    Level::Error,
                    "daemon",
                    &format!("reload failed, the running configuration stays: {e}"),
                ),
            }
            notify("READY=1");
        }
    }
    notify("STOPPING=1");
    log(Level::Info, "daemon", "stopping");
    running.stop().await.map_err(DaemonError::from)
}
