//! The jails as one of the daemon's jobs: logs in, bans out.
//!
//! One task reads every jail's logs (each log once, however many jails
//! read it), runs each line through the filters of the jails that read
//! it, counts the failures, and carries out the bans: the kernel first
//! (one netlink message per ban), then the store, then the log positions,
//! so a crash at any moment loses no ban (a ban only the kernel holds is
//! recorded at the next start) and replays no line that was acted on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use moat_ban::Store;
use moat_daemon::{log, Job, JobError, Level, Started, Stop};
use moat_logmatch::{Filter, Matcher};
use moat_logsource::{Batch, Follower, Position, SourceEvent, SourceSpec, Update};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::control::{self, JailStatus, Reply, Request};
use crate::engine::{BanLookup, Jail, Verdict};
use crate::order::{BanOrder, Failure, Origin};
use crate::rules::BanTime;
use crate::sink::{describe_time, BanSink, KernelSink};
use crate::spec::JailSpec;

/// How often log positions are saved when lines arrive but nothing is banned.
const SAVE_POSITIONS_EVERY: Duration = Duration::from_secs(1);

/// The jails job.
#[derive(Debug)]
pub struct JailsJob {
    specs: Vec<JailSpec>,
    store: PathBuf,
    memory: JailMemory,
}

impl JailsJob {
    /// A job running `specs`, keeping its state in the store at `store`;
    /// it takes over from `memory` the jails whose definition did not
    /// change, and leaves its own there when it stops.
    pub fn new(specs: Vec<JailSpec>, store: PathBuf, memory: JailMemory) -> Self {
        JailsJob {
            specs,
            store,
            memory,
        }
    }
}

/// What a stopped jails job leaves to the one that replaces it on a
/// reload: each jail's engine (its failures inside the window, the bans it
/// knows) and its counts. Shared by the daemon's successive jobs.
#[derive(Debug, Clone, Default)]
pub struct JailMemory(Arc<Mutex<Vec<Kept>>>);

/// One jail as its job left it.
#[derive(Debug)]
struct Kept {
    spec: JailSpec,
    jail: Jail,
    failures: u64,
    bans: u64,
}

impl JailMemory {
    /// Takes what the last job left (nothing is left for the next).
    fn take(&self) -> Vec<Kept> {
        std::mem::take(&mut *self.lock())
    }

    /// Leaves `kept` for the next job.
    fn leave(&self, kept: Vec<Kept>) {
        *self.lock() = kept;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Job for JailsJob {
    fn name(&self) -> String {
        "jails".into()
    }

    fn run(
        self: Box<Self>,
        stop: Stop,
        started: Started,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), JobError>> + Send>> {
        Box::pin(async move {
            run(*self, stop, started).await.map_err(|message| JobError {
                job: "jails".into(),
                message,
            })
        })
    }
}

/// One running jail.
struct Running {
    jail: Jail,
    spec: JailSpec,
    matchers: HashMap<usize, Matcher<'static>>,
    failures: u64,
    bans: u64,
}

impl Running {
    /// A jail with nothing counted yet.
    fn fresh(spec: JailSpec, matchers: HashMap<usize, Matcher<'static>>) -> Running {
        Running {
            jail: Jail::new(spec.rules.clone(), spec.ignore.clone()),
            spec,
            matchers,
            failures: 0,
            bans: 0,
        }
    }

    /// A jail as the last job left it, now defined (the same) by `spec`.
    fn resumed(kept: Kept, spec: JailSpec, matchers: HashMap<usize, Matcher<'static>>) -> Running {
        Running {
            jail: kept.jail,
            spec,
            matchers,
            failures: kept.failures,
            bans: kept.bans,
        }
    }
}

/// Everything the loop works on.
struct State {
    jails: Vec<Running>,
    /// For each source: the jails that read it.
    readers: Vec<Vec<usize>>,
    keys: Vec<String>,
    sink: KernelSink,
    positions: HashMap<String, Vec<u8>>,
    unresolved: std::collections::HashSet<String>,
}

fn source_key(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::File(path) => format!("file:{}", path.display()),
        SourceSpec::Journal { matches, directory } => format!(
            "journal:{}:{}",
            directory
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            matches.join(" ")
        ),
    }
}

async fn run(job: JailsJob, stop: Stop, started: Started) -> Result<(), String> {
    let store = Store::open(&job.store).map_err(|e| e.to_string())?;
    let scopes: Vec<_> = job.specs.iter().map(|s| s.scope.clone()).collect();
    let mut sink = KernelSink::open(store, &scopes).map_err(|e| e.to_string())?;
    let names: Vec<&str> = job.specs.iter().map(|s| s.rules.name.as_str()).collect();
    let lifted = tokio::task::block_in_place(|| sink.lift_removed_jails(&names))
        .map_err(|e| e.to_string())?;
    if !lifted.is_empty() {
        log(
            Level::Notice,
            "jails",
            &format!(
                "took out {}, no longer configured: the bans in them are lifted (the store \
                 keeps them, should they come back)",
                lifted.join(", ")
            ),
        );
    }
    if job.specs.is_empty() {
        return Ok(());
    }
    let restored = sink.restore(SystemTime::now()).map_err(|e| e.to_string())?;
    if restored > 0 {
        log(
            Level::Notice,
            "jails",
            &format!("restored {restored} bans from the store"),
        );
    }
    let listener = moat_daemon::socket::bind(control::SOCKET_NAME)
        .map_err(|e| format!("control socket: {e}"))?;
    let mut state = State::new(job.specs, sink, job.memory.take());
    let mut sources = Vec::new();
    for key in &state.keys {
        let position = state
            .sink
            .store()
            .position(key)
            .map_err(|e| e.to_string())?
            .and_then(|bytes| Position::from_bytes(&bytes).ok());
        sources.push(position);
    }
    let specs = state.source_specs();
    let (tx, mut rx) = mpsc::channel(64);
    let follower = Follower::spawn(specs.into_iter().zip(sources).collect(), tx, &stop)
        .map_err(|e| e.to_string())?;
    for r in &state.jails {
        log(
            Level::Info,
            &r.spec.rules.name,
            &format!(
                "watching {} with filter {} (maxretry {}, findtime {} s, bantime {})",
                r.spec
                    .sources
                    .iter()
                    .map(describe_source)
                    .collect::<Vec<_>>()
                    .join(", "),
                r.spec.filter_name,
                r.spec.rules.maxretry,
                r.spec.rules.findtime.as_secs(),
                match r.spec.rules.bantime {
                    BanTime::For(d) => format!("{} s", d.as_secs()),
                    BanTime::Permanent => "permanent".into(),
                }
            ),
        );
    }
    state.sink.record_orphans();
    started.done();
    let mut tick = tokio::time::interval(SAVE_POSITIONS_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            update = rx.recv() => match update {
                Some(Update::Lines(batch)) => state.lines(batch),
                Some(Update::Event(event)) => report(&state, event),
                None => break,
            },
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    state.control(stream).await;
                }
            }
            _ = tick.tick() => {
                state.save_positions();
            }
        }
    }
    state.save_positions();
    follower.shutdown().await;
    tokio::task::block_in_place(|| state.sink.flush());
    job.memory.leave(state.into_kept());
    Ok(())
}

fn describe_source(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::File(p) => p.display().to_string(),
        SourceSpec::Journal { .. } => "the journal".into(),
    }
}

fn report(state: &State, event: SourceEvent) {
    let name = |i: usize| state.keys.get(i).cloned().unwrap_or_default();
    let (level, text) = match event {
        SourceEvent::Missing { path, .. } => (
            Level::Warning,
            format!(
                "{} does not exist (yet); it is read when it appears",
                path.display()
            ),
        ),
        SourceEvent::Unreadable { source, error } => (
            Level::Error,
            format!("{} cannot be read: {error}; retrying", name(source)),
        ),
        SourceEvent::Recovered { source } => {
            (Level::Info, format!("{} is read again", name(source)))
        }
        SourceEvent::Rotated { path, .. } => {
            (Level::Info, format!("{} was rotated", path.display()))
        }
        SourceEvent::Truncated { path, .. } => (
            Level::Info,
            format!(
                "{} was truncated; reading it from its start",
                path.display()
            ),
        ),
        SourceEvent::LongLine {
            source,
            line_no,
            length,
        } => (
            Level::Warning,
            format!(
                "{} line {line_no} is {length} bytes long; only its start is read",
                name(source)
            ),
        ),
    };
    log(level, "jails", &text);
}

impl State {
    fn new(specs: Vec<JailSpec>, sink: KernelSink, mut kept: Vec<Kept>) -> State {
        let mut keys: Vec<String> = Vec::new();
        let mut readers: Vec<Vec<usize>> = Vec::new();
        let mut jails = Vec::new();
        for (j, spec) in specs.into_iter().enumerate() {
            let mut matchers = HashMap::new();
            for source in &spec.sources {
                let key = source_key(source);
                let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key);
                    readers.push(Vec::new());
                    keys.len() - 1
                });
                readers[index].push(j);
                matchers.insert(index, Filter::shared_matcher(Arc::clone(&spec.filter)));
            }
            let mut running = match kept.iter().position(|k| k.spec.same_definition(&spec)) {
                Some(i) => Running::resumed(kept.swap_remove(i), spec, matchers),
                None => Running::fresh(spec, matchers),
            };
            for name in running.jail.ignore_mut().refresh() {
                log(
                    Level::Warning,
                    &running.spec.rules.name,
                    &format!("ignoreip name {name} does not resolve now"),
                );
            }
            jails.push(running);
        }
        State {
            jails,
            readers,
            keys,
            sink,
            positions: HashMap::new(),
            unresolved: Default::default(),
        }
    }

    /// The jails, to be left for the next job.
    fn into_kept(self) -> Vec<Kept> {
        self.jails
            .into_iter()
            .map(|r| Kept {
                spec: r.spec,
                jail: r.jail,
                failures: r.failures,
                bans: r.bans,
            })
            .collect()
    }

    fn source_specs(&self) -> Vec<SourceSpec> {
        let mut specs: Vec<Option<SourceSpec>> = vec![None; self.keys.len()];
        for r in &self.jails {
            for s in &r.spec.sources {
                if let Some(i) = self.keys.iter().position(|k| *k == source_key(s)) {
                    specs[i] = Some(s.clone());
                }
            }
        }
        specs.into_iter().flatten().collect()
    }

    /// Runs a batch through the jails that read its source, carries out
    /// the bans, and keeps the position for saving.
    fn lines(&mut self, batch: Batch) {
        let now = SystemTime::now();
        let mut orders = Vec::new();
        let readers = self.readers.get(batch.source).cloned().unwrap_or_default();
        let key = self.keys[batch.source].clone();
        for &j in &readers {
            let running = &mut self.jails[j];
            let Some(matcher) = running.matchers.get_mut(&batch.source) else {
                continue;
            };
            for line in &batch.lines {
                let found = match line.time {
                    Some(t) => matcher.feed_at(&line.text, line.line_no, t),
                    None => matcher.feed(&line.text, line.line_no, now),
                };
                for f in found {
                    let Some(addr) = f.addr else {
                        if self.unresolved.insert(f.host.clone()) {
                            log(
                                Level::Warning,
                                &running.spec.rules.name,
                                &format!(
                                    "found host name {} at {key} line {}: moat bans addresses, not names; not counted",
                                    f.host, f.line
                                ),
                            );
                        }
                        continue;
                    };
                    running.failures += 1;
                    let failure = Failure {
                        addr,
                        time: f.time.unwrap_or(now),
                        origin: Origin::Log {
                            source: describe_key(&key),
                            line: f.line,
                        },
                    };
                    let name = running.spec.rules.name.clone();
                    let overall = running
                        .spec
                        .rules
                        .increment
                        .as_ref()
                        .is_some_and(|i| i.overalljails);
                    let lookup = SinkLookup {
                        sink: &mut self.sink,
                        jail: &name,
                        overall,
                    };
                    let verdict = running.jail.failure(&failure, now, lookup, jitter());
                    match verdict {
                        Verdict::Ban(order) => {
                            running.bans += 1;
                            orders.push(order);
                        }
                        Verdict::Ignored(reason) => {
                            log(Level::Info, &name, &format!("Ignore {addr}: {reason}"))
                        }
                        Verdict::Counted { failures } => log(
                            Level::Info,
                            &name,
                            &format!(
                                "Found {addr} ({failures} of {})",
                                running.spec.rules.maxretry
                            ),
                        ),
                        Verdict::AlreadyBanned | Verdict::Stale => {}
                    }
                }
            }
        }
        self.carry_out(&orders);
        self.positions.insert(key, batch.position.to_bytes());
        if !orders.is_empty() {
            self.save_positions();
        }
    }

    fn carry_out(&mut self, orders: &[BanOrder]) {
        if orders.is_empty() {
            return;
        }
        if let Err(e) = self.sink.apply(orders) {
            log(Level::Error, "jails", &format!("a ban failed: {e}"));
        }
        for o in orders {
            log(
                Level::Notice,
                &o.jail,
                &format!(
                    "Ban {} {}",
                    show_target(o.target),
                    describe_time(o.duration)
                ),
            );
        }
    }

    fn save_positions(&mut self) {
        if self.positions.is_empty() {
            return;
        }
        let items: Vec<(String, Vec<u8>)> = self.positions.drain().collect();
        if let Err(e) = self.sink.store().set_positions(&items) {
            log(
                Level::Error,
                "jails",
                &format!("cannot save log positions: {e}"),
            );
            self.positions.extend(items);
        }
    }

    async fn control(&mut self, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let mut reader = BufReader::new(read);
        let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
        let reply = match read {
            Ok(Ok(_)) => match serde_json::from_str::<Request>(&line) {
                Ok(request) => self.answer(request),
                Err(e) => Reply::Error {
                    message: format!("bad request: {e}"),
                },
            },
            _ => return,
        };
        if let Ok(mut text) = serde_json::to_string(&reply) {
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        }
    }

    fn answer(&mut self, request: Request) -> Reply {
        let now = SystemTime::now();
        match request {
            Request::Status => Reply::Status {
                jails: self
                    .jails
                    .iter()
                    .map(|r| JailStatus {
                        name: r.spec.rules.name.clone(),
                        watched: r.jail.watched(),
                        failures: r.failures,
                        bans: r.bans,
                    })
                    .collect(),
            },
            Request::Ban {
                jail,
                target,
                seconds,
                permanent,
            } => {
                let Some(r) = self.jails.iter_mut().find(|r| r.spec.rules.name == jail) else {
                    return Reply::Error {
                        message: format!("the daemon runs no jail {jail:?}"),
                    };
                };
                let target = match parse_target(&target) {
                    Ok(t) => r.jail.target_of(t),
                    Err(message) => return Reply::Error { message },
                };
                let duration = if permanent {
                    Some(BanTime::Permanent)
                } else {
                    seconds.map(|s| BanTime::For(Duration::from_secs(s)))
                };
                let earlier = self.sink.earlier_bans(Some(&jail), target);
                match r.jail.order(target, duration, earlier, Origin::Manual, now) {
                    Ok(order) => {
                        r.bans += 1;
                        let message = format!(
                            "banned {} in {jail} {}",
                            show_target(order.target),
                            describe_time(order.duration)
                        );
                        match self.sink.apply(std::slice::from_ref(&order)) {
                            Ok(()) => {
                                log(
                                    Level::Notice,
                                    &jail,
                                    &format!("Ban {} by hand", show_target(order.target)),
                                );
                                Reply::Done { message }
                            }
                            Err(e) => Reply::Error {
                                message: e.to_string(),
                            },
                        }
                    }
                    Err(reason) => Reply::Error {
                        message: format!("{} is not banned: {reason}", show_target(target)),
                    },
                }
            }
            Request::Unban { target, jail, all } => {
                let target = match (target, all) {
                    (_, true) => None,
                    (Some(t), false) => match parse_target(&t) {
                        Ok(t) => Some(t),
                        Err(message) => return Reply::Error { message },
                    },
                    (None, false) => {
                        return Reply::Error {
                            message: "name an address or --all".into(),
                        }
                    }
                };
                match self.sink.lift(jail.as_deref(), target) {
                    Ok(n) => {
                        for r in &mut self.jails {
                            if jail.as_ref().is_none_or(|j| *j == r.spec.rules.name) {
                                match target {
                                    Some(t) => r.jail.forget(t),
                                    None => {
                                        r.jail.forget("0.0.0.0/0".parse().expect("network"));
                                        r.jail.forget("::/0".parse().expect("network"));
                                    }
                                }
                            }
                        }
                        let what = target.map_or("every address".to_string(), show_target);
                        log(
                            Level::Notice,
                            "jails",
                            &format!("Unban {what}: {n} bans lifted"),
                        );
                        Reply::Done {
                            message: format!("lifted {n} bans of {what}"),
                        }
                    }
                    Err(e) => Reply::Error {
                        message: e.to_string(),
                    },
                }
            }
        }
    }
}

/// The engine's view of the bans in the kernel and the store, for one jail.
struct SinkLookup<'a> {
    sink: &'a mut KernelSink,
    jail: &'a str,
    /// Earlier bans count over all jails (`bantime.overalljails`).
    overall: bool,
}

impl BanLookup for SinkLookup<'_> {
    fn earlier_bans(&mut self, target: IpNet) -> u32 {
        let jail = (!self.overall).then_some(self.jail);
        self.sink.earlier_bans(jail, target)
    }

    fn current_ban(&mut self, target: IpNet, now: SystemTime) -> Option<Option<SystemTime>> {
        self.sink.current_ban(self.jail, target, now)
    }
}

/// An address or network as typed (`203.0.113.9`, `2001:db8::/64`).
pub fn parse_target(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| format!("{text:?} is not an IP address or network"))
}

/// An address without `/32`/`/128`; a network with its length.
pub fn show_target(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

fn describe_key(key: &str) -> String {
    key.strip_prefix("file:").unwrap_or(key).to_string()
}

/// A number in [0, 1) for `bantime.rndtime`, from the clock's nanoseconds.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos) / 1e9
}
