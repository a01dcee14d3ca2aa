//! The packet logger as one of the daemon's jobs: reads the bound log
//! groups on a thread of its own and writes a line per packet.
//!
//! The netlink socket outlives the job ([`SharedSocket`]): on a reload
//! the next job takes it over with its groups still bound, so packets
//! logged meanwhile wait in the kernel instead of being lost, and the
//! file is opened again (what logrotate's SIGHUP asks for).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moat_daemon::{log, Job, JobError, Level, Started, Stop};

use crate::ifaces::Interfaces;
use crate::limit::RateLimit;
use crate::nflog::{NflogPacket, NflogSocket, Received};
use crate::output::{LogFile, Rotation};
use crate::record::{Context, LogLine};
use crate::route::split_tag;
use crate::rules::{ReadRules, RuleIndex};
use crate::stats::LoggerStats;

const JOB: &str = "logger";
/// How long a read waits before the job looks at its stop token.
const WAIT: Duration = Duration::from_millis(200);
/// The longest lines wait in memory under a steady stream of packets.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// The shortest time between two warnings of the same kind.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// The kernel log's `IN=... OUT=... SRC=...` layout, after the time.
    Text,
}

/// What the logger does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file lines go to.
    pub file: PathBuf,
    /// JSON or text.
    pub format: Format,
    /// The group moat's LOG rules go to, when they are routed here.
    pub route_group: Option<u16>,
    /// The user's NFLOG groups to read; `None`: every group an NFLOG rule
    /// of moat's ruleset names.
    pub groups: Option<Vec<u16>>,
    /// Rotation and kept files.
    pub rotation: Rotation,
    /// At most this many lines a second (the rest are counted and said).
    pub max_rate: Option<u32>,
}

/// The logger's netlink socket, kept by the daemon across reloads.
pub type SharedSocket = Arc<Mutex<Option<NflogSocket>>>;

/// The packet logger job.
pub struct LoggerJob {
    settings: Settings,
    socket: SharedSocket,
    rules: ReadRules,
    stats: Arc<LoggerStats>,
}

impl LoggerJob {
    /// A job writing what `settings` say, reading through `socket` (opened
    /// on first use), naming rules with `rules` and counting in `stats`.
    pub fn new(
        settings: Settings,
        socket: SharedSocket,
        rules: ReadRules,
        stats: Arc<LoggerStats>,
    ) -> Self {
        LoggerJob {
            settings,
            socket,
            rules,
            stats,
        }
    }
}

fn job_error(message: String) -> JobError {
    JobError {
        job: JOB.into(),
        message,
    }
}

fn now() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

impl Job for LoggerJob {
    fn name(&self) -> String {
        JOB.into()
    }

    fn run(
        self: Box<Self>,
        stop: Stop,
        started: Started,
    ) -> Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.work(&stop, started))
                .await
                .map_err(|e| job_error(format!("the logger thread ended: {e}")))?
        })
    }
}

/// The writing side: file, rate limit, rule names, counters.
struct Writer {
    file: LogFile,
    format: Format,
    limit: Option<RateLimit>,
    index: RuleIndex,
    ifaces: Interfaces,
    stats: Arc<LoggerStats>,
    last_seq: HashMap<u16, u32>,
    last_warning: HashMap<&'static str, Instant>,
}

impl Writer {
    fn warn(&mut self, kind: &'static str, message: &str) {
        let due = self
            .last_warning
            .get(kind)
            .is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            self.last_warning.insert(kind, Instant::now());
            log(Level::Warning, JOB, message);
        }
    }

    fn write(&mut self, line: &LogLine) {
        let text = match self.format {
            Format::Json => line.to_json(),
            Format::Text => line.to_text(),
        };
        match self.file.write_line(&text) {
            Ok(()) => LoggerStats::add(&self.stats.written, 1),
            Err(e) => {
                LoggerStats::add(&self.stats.write_errors, 1);
                let message = format!("cannot write {}: {e}", self.file.path().display());
                self.warn("write", &message);
            }
        }
    }

    /// Counts the packets the kernel could not hand over before this one.
    fn count_gap(&mut self, p: &NflogPacket<'_>) {
        let Some(seq) = p.seq else { return };
        if let Some(last) = self.last_seq.insert(p.group, seq) {
            let gap = seq.wrapping_sub(last).wrapping_sub(1);
            if gap > 0 && gap < u32::MAX / 2 {
                LoggerStats::add(&self.stats.lost, u64::from(gap));
            }
        }
    }

    fn packet(&mut self, p: &NflogPacket<'_>, route_group: Option<u16>) {
        self.count_gap(p);
        if let Some(limit) = &mut self.limit {
            if !limit.allow(Instant::now()) {
                LoggerStats::add(&self.stats.rate_limited, 1);
                return;
            }
        }
        let raw = p.prefix.unwrap_or("");
        let (prefix, id) = if Some(p.group) == route_group {
            split_tag(raw)
        } else {
            (raw, None)
        };
        let rule = match id {
            Some(id) => self.index.by_id(id),
            None => self.index.by_group(p.group, raw),
        };
        let ifaces = (
            p.in_ifindex.and_then(|i| self.ifaces.name(i)),
            p.out_ifindex.and_then(|i| self.ifaces.name(i)),
        );
        let cx = Context {
            now: now(),
            prefix: (!prefix.is_empty()).then_some(prefix),
            rule,
            ifaces,
        };
        self.write(&LogLine::from_packet(p, cx));
    }

    /// Says in the file (and the daemon's log) how many lines the rate limit left out.
    fn report_dropped(&mut self) {
        let Some(dropped) = self.limit.as_mut().map(RateLimit::take_dropped) else {
            return;
        };
        if dropped > 0 {
            self.write(&LogLine::dropped(now(), dropped));
            let message = format!("the rate limit left out {dropped} packet log lines");
            self.warn("rate", &message);
        }
    }
}

impl LoggerJob {
    fn wanted_groups(&self, index: &mut RuleIndex) -> BTreeSet<u16> {
        let mut groups: BTreeSet<u16> = match &self.settings.groups {
            Some(g) => g.iter().copied().collect(),
            None => index.nflog_groups().into_iter().collect(),
        };
        groups.extend(self.settings.route_group);
        groups
    }

    fn work(self, stop: &Stop, started: Started) -> Result<(), JobError> {
        let mut index = RuleIndex::new(self.rules.clone());
        let wanted = self.wanted_groups(&mut index);
        let file = LogFile::open(&self.settings.file, self.settings.rotation.clone())
            .map_err(|e| job_error(format!("cannot open {}: {e}", self.settings.file.display())))?;
        let mut shared = self
            .socket
            .lock()
            .map_err(|_| job_error("the packet log socket was poisoned".into()))?;
        if shared.is_none() {
            *shared = Some(NflogSocket::open().map_err(|e| job_error(format!("packet log: {e}")))?);
        }
        let socket = shared
            .as_mut()
            .ok_or_else(|| job_error("the packet log socket is gone".into()))?;
        for e in socket.set_groups(&wanted) {
            log(Level::Warning, JOB, &format!("not reading {e}"));
        }
        if socket.groups().is_empty() {
            return Err(job_error(
                "no log group to read: every group is taken or none is configured".into(),
            ));
        }
        let groups: Vec<String> = socket.groups().iter().map(u16::to_string).collect();
        log(
            Level::Info,
            JOB,
            &format!(
                "writing packets of log groups {} to {}",
                groups.join(", "),
                self.settings.file.display()
            ),
        );
        let mut writer = Writer {
            file,
            format: self.settings.format,
            limit: self.settings.max_rate.map(RateLimit::new),
            index,
            ifaces: Interfaces::default(),
            stats: self.stats.clone(),
            last_seq: HashMap::new(),
            last_warning: HashMap::new(),
        };
        started.done();
        let mut last_report = Instant::now();
        let mut last_flush = Instant::now();
        while !stop.is_cancelled() {
            let got = socket.receive(WAIT).map_err(|e| job_error(e.to_string()))?;
            match got {
                Received::Datagram(n) => {
                    for p in socket.packets(n) {
                        writer.packet(&p, self.settings.route_group);
                    }
                }
                Received::Idle => {}
                Received::Overrun(bytes) => {
                    LoggerStats::add(&self.stats.overruns, 1);
                    let message = format!(
                        "the kernel's packet log overran moat's buffer; grown to {} KiB (lost packets are counted in moat_log_packets_lost_total)",
                        bytes / 1024
                    );
                    writer.warn("overrun", &message);
                }
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                writer.report_dropped();
                last_report = Instant::now();
            }
            // Lines reach the file when the kernel has nothing more queued,
            // and at least every FLUSH_EVERY under a steady stream.
            if got == Received::Idle || last_flush.elapsed() >= FLUSH_EVERY {
                if let Err(e) = writer.file.flush() {
                    let message = format!("cannot write {}: {e}", self.settings.file.display());
                    writer.warn("write", &message);
                }
                last_flush = Instant::now();
            }
        }
        writer.report_dropped();
        writer.file.flush().map_err(|e| {
            job_error(format!(
                "cannot write {}: {e}",
                self.settings.file.display()
            ))
        })
    }
}
