//! The balanced services as one of the daemon's jobs: one check task per
//! backend feeds one task that keeps every backend's health and, when the
//! set of backends taking new connections changes, rewrites the service's
//! slots in the kernel (one transaction) and then forgets the connections
//! of a backend that went down. The backends' health outlives a reload
//! ([`Memory`]); whenever the kernel's slots differ from that view (at
//! start, after a reload, after `moat boot` or a hand edit) the job
//! writes them from its view at once.

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
use crate::health::{Health, Memory, State};
use crate::kernel::{self, KernelService};
use crate::service::Service;
use crate::slots::Spread;
use crate::{conntrack, BalanceError};

const JOB: &str = "balance";
/// How often the job compares the kernel's slots with its view.
const VERIFY_EVERY: Duration = Duration::from_secs(2);

/// The balance job: checks the backends of `services` and keeps their
/// maps in the kernel current.
#[derive(Debug)]
pub struct BalanceJob {
    services: Vec<Service>,
    memory: Memory,
}

impl BalanceJob {
    /// A job for `services` (made by [`Service::all`]) that starts from the
    /// health `memory` holds and leaves its own there when it stops.
    pub fn new(services: Vec<Service>, memory: Memory) -> Self {
        BalanceJob { services, memory }
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
            run(self.services, self.memory, stop, started)
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
    /// Starts from `memory` for each backend it remembers; otherwise from
    /// what the kernel holds: a backend in the slots is up; a primary
    /// missing from them is down (the daemon took it out before it
    /// stopped); backups and draining backends are taken as up until checked.
    fn new(service: Service, kernel: &KernelService, memory: &Memory) -> Tracked {
        let in_slots = |i: usize| kernel.slots.contains(&service.backends[i].addr);
        let health: Vec<Health> = (0..service.backends.len())
            .map(|i| {
                let b = &service.backends[i];
                memory.recall(&service.name, b.addr).unwrap_or_else(|| {
                    let up = in_slots(i) || b.backup || b.drain;
                    Health::new(if up { State::Up } else { State::Down })
                })
            })
            .collect();
        let up = health
            .iter()
            .map(|h| Arc::new(AtomicBool::new(h.state == State::Up)))
            .collect();
        Tracked {
            rotation: held_rotation(&service, &kernel.slots),
            service,
            health,
            stale: false,
            up,
        }
    }

    fn up(&self) -> Vec<bool> {
        self.health.iter().map(|h| h.state == State::Up).collect()
    }

    /// The slots' backends for the backends in `rotation` (indexes).
    fn slots_of(&self, rotation: &[usize]) -> Vec<SocketAddr> {
        self.service
            .slots(rotation)
            .into_iter()
            .map(|i| self.service.backends[i].addr)
            .collect()
    }

    /// Whether `held` (the kernel's slots) differs from the slots the
    /// backends' health calls for.
    fn differs(&self, held: &[SocketAddr]) -> bool {
        held != self.slots_of(&self.service.in_rotation(&self.up()))
    }
}

/// The backends (indexes) of `service` that the slots `held` name.
fn held_rotation(service: &Service, held: &[SocketAddr]) -> Vec<usize> {
    (0..service.backends.len())
        .filter(|&i| held.contains(&service.backends[i].addr))
        .collect()
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

async fn run(
    services: Vec<Service>,
    memory: Memory,
    stop: Stop,
    started: Started,
) -> Result<(), String> {
    let kernel = blocking(kernel::read).await?;
    let mut tracked = Vec::new();
    for service in services {
        match kernel.get(&service.id) {
            Some(k) if k.definition == service.definition() => {
                let mut t = Tracked::new(service, k, &memory);
                settle(&mut t, &k.slots).await;
                tracked.push(t);
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
    memory.clear();
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
    let mut verify =
        tokio::time::interval_at(tokio::time::Instant::now() + VERIFY_EVERY, VERIFY_EVERY);
    verify.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(outcome) = rx.recv() => record(&mut tracked, outcome).await,
            _ = verify.tick() => verify_all(&mut tracked).await,
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    answer(stream, &tracked).await;
                }
            }
        }
    }
    checks.abort_all();
    memory.keep(tracked.into_iter().flat_map(|t| {
        let name = t.service.name;
        t.service
            .backends
            .into_iter()
            .zip(t.health)
            .map(move |(b, h)| (name.clone(), b.addr, h))
    }));
    Ok(())
}

/// Compares every service's slots in the kernel with the job's view and
/// rewrites those that differ; a service the kernel no longer holds as
/// configured (a table flushed, not put back yet) is left alone.
async fn verify_all(tracked: &mut [Tracked]) {
    let Ok(kernel) = blocking(kernel::read).await else {
        return;
    };
    for t in tracked.iter_mut() {
        if let Some(k) = kernel
            .get(&t.service.id)
            .filter(|k| k.definition == t.service.definition())
        {
            settle(t, &k.slots).await;
        }
    }
}

/// When the kernel's slots `held` differ from what the backends' health
/// calls for, writes them from the job's view at once and forgets the
/// connections of the down backends that leave them.
async fn settle(t: &mut Tracked, held: &[SocketAddr]) {
    if !t.differs(held) {
        return;
    }
    log(
        Level::Notice,
        JOB,
        &format!(
            "service {}: the kernel's slots do not match the backends' health; writing them again",
            t.service.name
        ),
    );
    t.rotation = held_rotation(&t.service, held);
    t.stale = true;
    let before = t.rotation.clone();
    write(t).await;
    let up = t.up();
    for i in before.into_iter().filter(|&i| !up[i]) {
        forget(t, i).await;
    }
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
    if changed.is_some() || t.stale {
        write(t).await;
    }
    if changed == Some(State::Down) {
        forget(t, outcome.backend).await;
    }
}

/// Puts the slots of the backends the job's view has in rotation in the
/// kernel when that rotation changed or the last write failed (it is tried
/// again at the next check).
async fn write(t: &mut Tracked) {
    let rotation = t.service.in_rotation(&t.up());
    if rotation == t.rotation && !t.stale {
        return;
    }
    let left = t.rotation.iter().any(|i| !rotation.contains(i));
    let script = kernel::slots_script(&t.service, &t.slots_of(&rotation), left);
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

/// Deletes the conntrack entries of backend `backend` (an index) of `t`.
async fn forget(t: &Tracked, backend: usize) {
    let addr = t.service.backends[backend].addr;
    for proto in t.service.protos.clone() {
        match blocking(move || conntrack::forget(addr, proto)).await {
            Ok(0) => {}
            Ok(n) => log(
                Level::Info,
                JOB,
                &format!(
                    "service {}: forgot {n} {} connection(s) to {addr}",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 10, 7, last], 8080))
    }

    fn web() -> Service {
        Service::plain("web", "b0", &[addr(14), addr(15)])
    }

    /// The kernel after `moat boot` or a changed-file `moat apply`: every backend in the slots.
    fn refilled(s: &Service) -> KernelService {
        KernelService {
            definition: s.definition(),
            name: s.name.clone(),
            slots: vec![addr(14), addr(15)],
            ..KernelService::default()
        }
    }

    #[test]
    fn a_reload_keeps_a_down_backend_down_and_rewrites_slots_that_hold_it() {
        let memory = Memory::default();
        memory.keep([("web".to_string(), addr(15), Health::new(State::Down))]);
        let t = Tracked::new(web(), &refilled(&web()), &memory);
        assert_eq!(t.up(), [true, false]);
        assert!(t.differs(&[addr(14), addr(15)]));
        assert!(!t.differs(&[addr(14), addr(14)]));
    }

    #[test]
    fn every_backend_down_calls_for_empty_slots() {
        let memory = Memory::default();
        memory.keep([14, 15].map(|last| ("web".to_string(), addr(last), Health::new(State::Down))));
        let t = Tracked::new(web(), &refilled(&web()), &memory);
        assert!(t.differs(&[addr(14), addr(15)]));
        assert!(!t.differs(&[]));
    }

    #[test]
    fn without_memory_the_kernel_says_which_backends_are_up() {
        let kernel = KernelService {
            slots: vec![addr(14), addr(14)],
            ..refilled(&web())
        };
        let t = Tracked::new(web(), &kernel, &Memory::default());
        assert_eq!(t.up(), [true, false]);
        assert!(!t.differs(&kernel.slots));
    }
}
