//! The balanced services as one of the daemon's jobs: one check task per
//! backend feeds one task that keeps every backend's health and, when the
//! set of backends taking new connections changes, rewrites the service's
//! slots in the kernel (one transaction) and then forgets the connections
//! of a backend that went down.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moat_config::model::HealthCheck;
use moat_daemon::{log, socket, Job, JobError, Level, Started, Stop};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::check::probe;
use crate::control::{BackendStatus, Reply, Request, ServiceStatus, SOCKET_NAME};
use crate::health::{Health, State};
use crate::kernel::{self, KernelService};
use crate::service::Service;
use crate::slots::Spread;
use crate::{conntrack, BalanceError};

const JOB: &str = "balance";

/// The balance job: checks the backends of `services` and keeps their
/// maps in the kernel current.
#[derive(Debug)]
pub struct BalanceJob {
    services: Vec<Service>,
}

impl BalanceJob {
    /// A job for `services` (made by [`Service::all`]).
    pub fn new(services: Vec<Service>) -> Self {
        BalanceJob { services }
    }
}

impl Job for BalanceJob {
    fn name(&self) -> String {
        JOB.into()
    }

    fn run(
        self: Box<Self>,
        stop: Stop,
        started: Started,
    ) -> Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>> {
        Box::pin(async move {
            run(self.services, stop, started)
                .await
                .map_err(|message| JobError {
                    job: JOB.into(),
                    message,
                })
        })
    }
}

/// One service and what the job knows of it.
struct Tracked {
    service: Service,
    health: Vec<Health>,
    /// The backends the kernel's slots hold now (indexes).
    rotation: Vec<usize>,
    /// Whether the last write of the slots failed (it is tried again).
    stale: bool,
    /// Each backend's state, shared with its check task.
    up: Vec<Arc<AtomicBool>>,
}

impl Tracked {
    /// Starts from what the kernel holds: a backend in the slots is up; a
    /// primary missing from them is down (the daemon took it out before a
    /// reload); backups and draining backends are taken as up until checked.
    fn new(service: Service, kernel: &KernelService) -> Tracked {
        let in_slots = |i: usize| kernel.slots.contains(&service.backends[i].addr);
        let health: Vec<Health> = (0..service.backends.len())
            .map(|i| {
                let b = &service.backends[i];
                let up = in_slots(i) || b.backup || b.drain;
                Health::new(if up { State::Up } else { State::Down })
            })
            .collect();
        let rotation = (0..service.backends.len())
            .filter(|&i| in_slots(i))
            .collect();
        let up = health
            .iter()
            .map(|h| Arc::new(AtomicBool::new(h.state == State::Up)))
            .collect();
        Tracked {
            service,
            health,
            rotation,
            stale: false,
            up,
        }
    }

    fn up(&self) -> Vec<bool> {
        self.health.iter().map(|h| h.state == State::Up).collect()
    }
}

/// A check's result for backend `backend` of service `service`.
struct Outcome {
    service: usize,
    backend: usize,
    result: Result<(), String>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BalanceError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The checks of one backend.
struct CheckTask {
    service: usize,
    backend: usize,
    target: SocketAddr,
    check: HealthCheck,
    /// The backend's state as the job last recorded it.
    up: Arc<AtomicBool>,
}

impl CheckTask {
    /// Checks every interval; after a check that disagrees with the
    /// backend's state the next one comes after a quarter of it (HAProxy's
    /// `fastinter`), so `fall` failures take little more than one interval.
    async fn run(self, tx: mpsc::Sender<Outcome>, stop: Stop) {
        loop {
            let started = Instant::now();
            let result = probe(&self.check.kind, self.target, self.check.timeout).await;
            let disagrees = result.is_ok() != self.up.load(Ordering::Relaxed);
            let outcome = Outcome {
                service: self.service,
                backend: self.backend,
                result,
            };
            if tx.send(outcome).await.is_err() {
                return;
            }
            let period = if disagrees {
                self.check.interval / 4
            } else {
                self.check.interval
            };
            let wait = period.saturating_sub(started.elapsed());
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

async fn run(services: Vec<Service>, stop: Stop, started: Started) -> Result<(), String> {
    let kernel = blocking(kernel::read).await?;
    let mut tracked = Vec::new();
    for service in services {
        match kernel.get(&service.id) {
            Some(k) if k.definition == service.definition() => {
                tracked.push(Tracked::new(service, k));
            }
            _ => log(
                Level::Error,
                JOB,
                &format!(
                    "service {}: the kernel does not hold it as configured; run `moat apply` with this configuration",
                    service.name
                ),
            ),
        }
    }
    let listener = socket::bind(SOCKET_NAME).map_err(|e| format!("control socket: {e}"))?;
    let (tx, mut rx) = mpsc::channel(1024);
    let mut checks = JoinSet::new();
    for (si, t) in tracked.iter().enumerate() {
        let Some(check) = t.service.check.clone() else {
            continue;
        };
        for (bi, b) in t.service.backends.iter().enumerate() {
            let target = SocketAddr::new(b.addr.ip(), check.port.unwrap_or(b.addr.port()));
            let task = CheckTask {
                service: si,
                backend: bi,
                target,
                check: check.clone(),
                up: Arc::clone(&t.up[bi]),
            };
            checks.spawn(task.run(tx.clone(), stop.clone()));
        }
    }
    drop(tx);
    started.done();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(outcome) = rx.recv() => record(&mut tracked, outcome).await,
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    answer(stream, &tracked).await;
                }
            }
        }
    }
    checks.abort_all();
    Ok(())
}

/// Counts a check's result; on a change of state, updates the kernel.
async fn record(tracked: &mut [Tracked], outcome: Outcome) {
    let t = &mut tracked[outcome.service];
    let Some(check) = &t.service.check else {
        return;
    };
    let (fall, rise) = (check.fall, check.rise);
    let backend = t.service.backends[outcome.backend].addr;
    let changed = t.health[outcome.backend].record(outcome.result, fall, rise);
    if let Some(state) = changed {
        t.up[outcome.backend].store(state == State::Up, Ordering::Relaxed);
        let message = match state {
            State::Down => format!(
                "service {}: backend {backend} is down ({})",
                t.service.name,
                t.health[outcome.backend]
                    .reason
                    .as_deref()
                    .unwrap_or("failed")
            ),
            State::Up => format!("service {}: backend {backend} is up", t.service.name),
        };
        log(Level::Notice, JOB, &message);
    }
    if changed.is_none() && !t.stale {
        return;
    }
    let rotation = t.service.in_rotation(&t.up());
    if rotation != t.rotation || t.stale {
        let left = t.rotation.iter().any(|i| !rotation.contains(i));
        let slots: Vec<SocketAddr> = t
            .service
            .slots(&rotation)
            .into_iter()
            .map(|i| t.service.backends[i].addr)
            .collect();
        let script = kernel::slots_script(&t.service, &slots, left);
        match blocking(move || kernel::run(&script)).await {
            Ok(()) => {
                t.stale = false;
                t.rotation = rotation;
                log(Level::Info, JOB, &rotation_words(t));
            }
            Err(e) => {
                t.stale = true;
                log(
                    Level::Error,
                    JOB,
                    &format!(
                        "service {}: cannot update its backends: {e}",
                        t.service.name
                    ),
                );
            }
        }
    }
    if changed == Some(State::Down) {
        for proto in t.service.protos.clone() {
            match blocking(move || conntrack::forget(backend, proto)).await {
                Ok(0) => {}
                Ok(n) => log(
                    Level::Info,
                    JOB,
                    &format!(
                        "service {}: forgot {n} {} connection(s) to {backend}",
                        t.service.name,
                        proto.name()
                    ),
                ),
                Err(e) => log(
                    Level::Warning,
                    JOB,
                    &format!("service {}: {e}", t.service.name),
                ),
            }
        }
    }
}

fn rotation_words(t: &Tracked) -> String {
    if t.rotation.is_empty() {
        return format!(
            "service {}: every backend is down; new connections are refused",
            t.service.name
        );
    }
    let names: Vec<String> = t
        .rotation
        .iter()
        .map(|&i| t.service.backends[i].addr.to_string())
        .collect();
    format!(
        "service {}: new connections go to {}",
        t.service.name,
        names.join(", ")
    )
}

async fn answer(stream: UnixStream, tracked: &[Tracked]) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read);
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Status) => {
            let kernel = blocking(kernel::read).await.unwrap_or_default();
            Reply::Status {
                services: tracked.iter().map(|t| status(t, &kernel)).collect(),
            }
        }
        Err(_) => return,
    };
    let Ok(mut text) = serde_json::to_string(&reply) else {
        return;
    };
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}

fn status(t: &Tracked, kernel: &BTreeMap<String, KernelService>) -> ServiceStatus {
    let s = &t.service;
    let now = SystemTime::now();
    let k = kernel.get(&s.id);
    let slots = k.map(|k| k.slots.as_slice()).unwrap_or_default();
    let secs = |since: SystemTime| now.duration_since(since).unwrap_or_default().as_secs_f64();
    let backends = s
        .backends
        .iter()
        .zip(&t.health)
        .map(|(b, h)| {
            let held = slots.iter().filter(|a| **a == b.addr).count();
            BackendStatus {
                addr: b.addr.to_string(),
                weight: b.weight,
                backup: b.backup,
                drain: b.drain,
                state: h.state,
                in_rotation: held > 0,
                share: if slots.is_empty() {
                    0.0
                } else {
                    100.0 * held as f64 / slots.len() as f64
                },
                last_check_secs_ago: h.last_check.map(secs),
                reason: h.reason.clone(),
                state_secs: secs(h.since),
                checks: h.checks,
                failures: h.failures,
                new_connections: k
                    .and_then(|k| k.new_connections.get(&b.addr).copied())
                    .unwrap_or(0),
            }
        })
        .collect();
    ServiceStatus {
        name: s.name.clone(),
        public: match s.address {
            Some(a) => std::net::SocketAddr::new(a, s.port).to_string(),
            None => format!("*:{}", s.port),
        },
        mode: match s.spread {
            Spread::Random => "random",
            Spread::RoundRobin => "round-robin",
            Spread::Hash => "hash",
        }
        .into(),
        check: s.check.as_ref().map(crate::check::describe),
        backends,
    }
}
