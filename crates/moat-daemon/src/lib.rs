//! `moat daemon`: the long-running half of moat.
//!
//! The daemon runs [`Job`]s — the jails, and later the packet logger,
//! metrics and health checks — each as its own task, and owns the one
//! shutdown path: SIGTERM or SIGINT cancels every job's [`Stop`] token and
//! waits for the jobs to save their state. SIGHUP asks the [`Plan`] for a
//! new set of jobs; when that fails (a broken jail file), the running jobs
//! go on unchanged and the error is logged. systemd learns of each state
//! through `sd_notify` (READY once every job said it is at work,
//! RELOADING, STOPPING, STATUS) when it set `NOTIFY_SOCKET`; `moat apply`
//! asks for a reload through the daemon's control socket.

mod control;
mod log;
mod notify;
pub mod socket;
mod supervisor;

pub use control::{daemon_runs, request_reload, SOCKET_NAME};
pub use log::{log, Level};
pub use notify::notify;
pub use supervisor::{run, DaemonError, Job, JobError, Plan, Started, Stop};
