//! Following files: one task and one inotify instance for all file sources. Each source is
//! re-examined when inotify reports something about its file or its name in the directory, and
//! once a second anyway (retries, and a safety net should an event be lost).
//!
//! Rename rotation (logrotate `create`): the old file is read to its end, then kept open and
//! watched for [`GRACE`] after its last write, since the writer may append a few lines before it
//! reopens; the new file is read from its start meanwhile. Deletion works the same way.
//! copytruncate: a file shorter than what was read, or whose first bytes changed, is read again
//! from its start.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventOwned, EventStream, WatchDescriptor};
use tokio::time::{Instant, MissedTickBehavior};

use crate::emit::{Counters, Emitter, Latch, Stopped};
use crate::file::{OpenFile, Placed, Start};
use crate::position::FilePosition;
use crate::rotation::{dir_of, examine, find_rotated, PathState};
use crate::watch::{Registry, Target};
use crate::{Batch, LogLine, LogSourceError, SourceEvent, MAX_BATCH_BYTES, MAX_BATCH_LINES};

/// How often every source is examined without an event.
const POLL: Duration = Duration::from_secs(1);
/// How long a rotated or deleted file is still read after its last write.
const GRACE: Duration = Duration::from_secs(5);
/// How many batches one source may send before the others get their turn.
const BUDGET: usize = 8;

/// A file source to follow.
pub(crate) struct FileSpec {
    /// Its index among all sources.
    pub index: usize,
    /// Its path.
    pub path: PathBuf,
    /// Its saved position, if any.
    pub position: Option<FilePosition>,
}

/// An open file and its watch.
struct Tracked {
    file: OpenFile,
    wd: Option<WatchDescriptor>,
}

/// A file that was rotated away or deleted, still read for a while.
struct Draining {
    tracked: Tracked,
    idle_since: Instant,
}

/// The state of one file source.
struct Source {
    index: usize,
    path: PathBuf,
    name: Option<OsString>,
    dir_wd: Option<WatchDescriptor>,
    current: Option<Tracked>,
    draining: Option<Draining>,
    /// Where to start the next file opened at the path.
    start: Start,
    /// The file at the path that could not be opened at `start`: another
    /// file found there later is new to this source and read from its
    /// beginning.
    unopened: Option<Identity>,
    latch: Latch,
    long_reported: bool,
}

/// What tells one file at a path from another: its inode number, which a
/// new file may get as soon as the old one is gone, and its birth time
/// where the file system keeps one (statx), which differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    ino: u64,
    born: Option<std::time::SystemTime>,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            ino: meta.ino(),
            born: meta.created().ok(),
        }
    }
}

/// Whether a source has more to read right away.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Done,
    More,
}

/// How reading a file to its end went.
enum ReadEnd {
    /// At the end; whether any line was read.
    Eof { any: bool },
    /// The budget ran out first.
    Budget,
}

/// Why reading stopped.
enum Failure {
    Stopped,
    Io(io::Error),
}

impl From<Stopped> for Failure {
    fn from(_: Stopped) -> Failure {
        Failure::Stopped
    }
}

/// The file-following task's state.
pub(crate) struct Files {
    sources: Vec<Source>,
    registry: Registry,
    emitter: Emitter,
}

impl Files {
    /// Prepares to follow `specs`; watches are added through `registry`. Files without a saved
    /// position that can be opened now are opened here, at their end, so that every line
    /// written after this returns is delivered; the rest is done by [`Files::run`].
    pub(crate) fn new(specs: Vec<FileSpec>, mut registry: Registry, emitter: Emitter) -> Files {
        let sources = specs
            .into_iter()
            .enumerate()
            .map(|(s, spec)| {
                let dir_wd = registry.add(dir_of(&spec.path), Target::Dir, s).ok();
                let mut start = spec.position.map_or(Start::End, Start::Resume);
                let mut current = None;
                if start == Start::End {
                    if let Ok((file, _)) = OpenFile::open(&spec.path, Start::End) {
                        let wd = registry.add(&file.fd_path(), Target::File, s).ok();
                        current = Some(Tracked { file, wd });
                        start = Start::Beginning;
                    }
                }
                Source {
                    index: spec.index,
                    name: spec.path.file_name().map(OsString::from),
                    path: spec.path,
                    dir_wd,
                    current,
                    draining: None,
                    start,
                    unopened: None,
                    latch: Latch::default(),
                    long_reported: false,
                }
            })
            .collect();
        Files {
            sources,
            registry,
            emitter,
        }
    }

    /// Follows until cancelled or the receiver is gone.
    pub(crate) async fn run(mut self, mut events: EventStream<Vec<u8>>) {
        let mut dirty: BTreeSet<usize> = (0..self.sources.len()).collect();
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            for s in std::mem::take(&mut dirty) {
                match self.check(s).await {
                    Ok(Flow::More) => {
                        dirty.insert(s);
                    }
                    Ok(Flow::Done) => {}
                    Err(Stopped) => return,
                }
            }
            while let Some(Some(event)) = events.next().now_or_never() {
                self.on_event(event, &mut dirty);
            }
            if !dirty.is_empty() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = self.emitter.cancel().cancelled() => return,
                event = events.next() => match event {
                    Some(event) => self.on_event(event, &mut dirty),
                    None => return,
                },
                _ = poll.tick() => dirty.extend(0..self.sources.len()),
            }
        }
    }

    /// Marks the sources an inotify event concerns.
    fn on_event(&mut self, event: io::Result<EventOwned>, dirty: &mut BTreeSet<usize>) {
        let Ok(event) = event else {
            // A failed read of the inotify instance: the poll covers it.
            return;
        };
        if event.mask.contains(EventMask::Q_OVERFLOW) {
            dirty.extend(0..self.sources.len());
            return;
        }
        for &(s, target) in self.registry.users(&event.wd) {
            let ours = match target {
                Target::File => true,
                Target::Dir => {
                    event.name.is_none() || event.name.as_deref() == self.sources[s].name.as_deref()
                }
            };
            if ours {
                dirty.insert(s);
            }
        }
        if event.mask.contains(EventMask::IGNORED) {
            for (s, _) in self.registry.dropped(&event.wd) {
                let src = &mut self.sources[s];
                let wd = Some(&event.wd);
                if src.dir_wd.as_ref() == wd {
                    src.dir_wd = None;
                }
                for tracked in [
                    src.current.as_mut(),
                    src.draining.as_mut().map(|d| &mut d.tracked),
                ]
                .into_iter()
                .flatten()
                {
                    if tracked.wd.as_ref() == wd {
                        tracked.wd = None;
                    }
                }
                dirty.insert(s);
            }
        }
    }

    /// Reads what is new in source `s` and follows what happened to its path.
    async fn check(&mut self, s: usize) -> Result<Flow, Stopped> {
        let mut budget = BUDGET;
        let mut rotated = false;
        if self.sources[s].current.is_none() {
            self.open(s).await?;
        }
        if self.drain(s, &mut budget).await? == Flow::More {
            return Ok(Flow::More);
        }
        loop {
            let src = &mut self.sources[s];
            let Some(current) = src.current.as_mut() else {
                return Ok(Flow::Done);
            };
            // A file truncated and written again past our offset must not be read on from
            // there: look before reading (the rest of what happened is seen after).
            if current.file.rewritten().unwrap_or(false) {
                if !self.truncated(s).await? {
                    return Ok(Flow::Done);
                }
                continue;
            }
            let src = &mut self.sources[s];
            let current = src.current.as_mut().expect("present");
            let read = pump(
                &self.emitter,
                src.index,
                &mut current.file,
                None,
                &mut budget,
                &mut src.long_reported,
            )
            .await;
            match read {
                Ok(ReadEnd::Budget) => return Ok(Flow::More),
                Ok(ReadEnd::Eof { .. }) => {
                    if src.latch.fine() {
                        let source = src.index;
                        self.emitter
                            .event(SourceEvent::Recovered { source })
                            .await?;
                    }
                }
                Err(Failure::Stopped) => return Err(Stopped),
                // Reported; what is at the path is examined all the same, since a file
                // replacing this one would end the problem.
                Err(Failure::Io(e)) => self.unreadable(s, e).await?,
            }
            let src = &mut self.sources[s];
            let current = src.current.as_mut().expect("present");
            match examine(&src.path, &current.file) {
                Ok(PathState::Same) => return Ok(Flow::Done),
                Ok(PathState::Truncated) => {
                    if !self.truncated(s).await? {
                        return Ok(Flow::Done);
                    }
                }
                Ok(PathState::Replaced) => {
                    // One rotation per check: a path that keeps changing waits for the next.
                    if rotated {
                        return Ok(Flow::Done);
                    }
                    rotated = true;
                    self.rotated(s).await?;
                    if !self.open(s).await? {
                        return Ok(Flow::Done);
                    }
                    // Lines the writer added to the old file before the new one existed come
                    // first.
                    if self.drain(s, &mut budget).await? == Flow::More {
                        return Ok(Flow::More);
                    }
                }
                Err(e) => {
                    self.unreadable(s, e).await?;
                    return Ok(Flow::Done);
                }
            }
        }
    }

    /// Opens the file at the path of source `s` if it is there; true if it was opened.
    async fn open(&mut self, s: usize) -> Result<bool, Stopped> {
        let src = &mut self.sources[s];
        if src.dir_wd.is_none() {
            src.dir_wd = self.registry.add(dir_of(&src.path), Target::Dir, s).ok();
        }
        let mut start = std::mem::replace(&mut src.start, Start::Beginning);
        // Which file this is, told from the opened file itself: the path
        // may name another one by the time it is looked at again.
        let file = std::fs::File::open(&src.path);
        let identity = match &file {
            Ok(file) => file.metadata().ok(),
            Err(_) => std::fs::metadata(&src.path).ok(),
        }
        .map(|meta| Identity::of(&meta));
        if src
            .unopened
            .is_some_and(|unopened| identity != Some(unopened))
        {
            start = Start::Beginning;
        }
        match file.and_then(|file| OpenFile::place(file, start)) {
            Ok((file, placed)) => {
                src.unopened = None;
                let wd = self.registry.add(&file.fd_path(), Target::File, s).ok();
                src.current = Some(Tracked { file, wd });
                if let (Start::Resume(saved), Placed::NotTheSavedFile) = (start, placed) {
                    self.rotated_while_away(s, saved).await?;
                }
                let source = self.sources[s].index;
                if self.sources[s].latch.fine() {
                    self.emitter
                        .event(SourceEvent::Recovered { source })
                        .await?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Start::Resume(saved) = start {
                    self.rotated_while_away(s, saved).await?;
                }
                let src = &mut self.sources[s];
                if src.latch.missing() {
                    let (source, path) = (src.index, src.path.clone());
                    self.emitter
                        .event(SourceEvent::Missing { source, path })
                        .await?;
                }
                Ok(false)
            }
            Err(e) => {
                // Not opened: try the same start again next time, unless
                // another file replaces this one.
                let src = &mut self.sources[s];
                src.start = start;
                src.unopened = identity;
                self.unreadable(s, e).await?;
                Ok(false)
            }
        }
    }

    /// The saved file of source `s` is no longer at its path: reads the rest of it if it is
    /// still in the directory under another name.
    async fn rotated_while_away(&mut self, s: usize, saved: FilePosition) -> Result<(), Stopped> {
        let src = &mut self.sources[s];
        if let Some((_, file)) = find_rotated(&src.path, &saved) {
            let wd = self.registry.add(&file.fd_path(), Target::File, s).ok();
            src.draining = Some(Draining {
                tracked: Tracked { file, wd },
                idle_since: Instant::now(),
            });
        }
        let (source, path) = (src.index, src.path.clone());
        Counters::bump(&self.emitter.counters(source).rotations);
        self.emitter
            .event(SourceEvent::Rotated { source, path })
            .await
    }

    /// The current file of source `s` was renamed away or deleted: it becomes the draining one.
    async fn rotated(&mut self, s: usize) -> Result<(), Stopped> {
        let src = &mut self.sources[s];
        let old = src.current.take();
        let previous = std::mem::replace(
            &mut src.draining,
            old.map(|tracked| Draining {
                tracked,
                idle_since: Instant::now(),
            }),
        );
        if let Some(previous) = previous {
            self.finish(s, previous).await?;
        }
        let (source, path) = (self.sources[s].index, self.sources[s].path.clone());
        Counters::bump(&self.emitter.counters(source).rotations);
        self.emitter
            .event(SourceEvent::Rotated { source, path })
            .await
    }

    /// The current file of source `s` was truncated: its partial line is delivered and it is
    /// read again from its start. False if it cannot be (reported).
    async fn truncated(&mut self, s: usize) -> Result<bool, Stopped> {
        let src = &mut self.sources[s];
        let current = src.current.as_mut().expect("checked by the caller");
        send_partial(&self.emitter, src.index, &mut current.file, None).await?;
        if let Err(e) = current.file.rewind() {
            self.unreadable(s, e).await?;
            return Ok(false);
        }
        let (source, path) = (self.sources[s].index, self.sources[s].path.clone());
        Counters::bump(&self.emitter.counters(source).truncations);
        self.emitter
            .event(SourceEvent::Truncated { source, path })
            .await?;
        Ok(true)
    }

    /// Reads the draining file of source `s`, and lets it go after [`GRACE`] without writes.
    async fn drain(&mut self, s: usize, budget: &mut usize) -> Result<Flow, Stopped> {
        let src = &mut self.sources[s];
        let Some(draining) = src.draining.as_mut() else {
            return Ok(Flow::Done);
        };
        let read = pump(
            &self.emitter,
            src.index,
            &mut draining.tracked.file,
            src.current.as_ref().map(|c| &c.file),
            budget,
            &mut src.long_reported,
        )
        .await;
        let done = match read {
            Ok(ReadEnd::Budget) => return Ok(Flow::More),
            Ok(ReadEnd::Eof { any: true }) => {
                draining.idle_since = Instant::now();
                false
            }
            Ok(ReadEnd::Eof { any: false }) => draining.idle_since.elapsed() >= GRACE,
            Err(Failure::Stopped) => return Err(Stopped),
            // The old file cannot be read any more: nothing more will come from it.
            Err(Failure::Io(_)) => true,
        };
        if done {
            let draining = src.draining.take().expect("present");
            self.finish(s, draining).await?;
        }
        Ok(Flow::Done)
    }

    /// Lets a draining file go: its partial last line is delivered, its watch removed.
    async fn finish(&mut self, s: usize, mut draining: Draining) -> Result<(), Stopped> {
        if let Some(wd) = draining.tracked.wd.take() {
            self.registry.remove(wd, Target::File, s);
        }
        let src = &mut self.sources[s];
        let anchor = src.current.as_ref().map(|c| &c.file);
        send_partial(&self.emitter, src.index, &mut draining.tracked.file, anchor).await
    }

    /// Reports that source `s` cannot be read (once per distinct error).
    async fn unreadable(&mut self, s: usize, error: io::Error) -> Result<(), Stopped> {
        let src = &mut self.sources[s];
        let error = LogSourceError::Io {
            path: src.path.clone(),
            source: error,
        };
        if src.latch.failed(error.to_string()) {
            self.emitter
                .event(SourceEvent::Unreadable {
                    source: src.index,
                    error,
                })
                .await?;
        }
        Ok(())
    }
}

/// Reads `file` to its end (or until `budget` batches were sent), sending batches of its lines.
/// A batch's position is that of `anchor` if given (the current file, while a rotated one is
/// drained), else of `file`.
async fn pump(
    emitter: &Emitter,
    source: usize,
    file: &mut OpenFile,
    anchor: Option<&OpenFile>,
    budget: &mut usize,
    long_reported: &mut bool,
) -> Result<ReadEnd, Failure> {
    let mut any = false;
    loop {
        if *budget == 0 {
            return Ok(ReadEnd::Budget);
        }
        let mut lines = Vec::new();
        let mut bytes = 0;
        let mut end = None;
        while lines.len() < MAX_BATCH_LINES && bytes < MAX_BATCH_BYTES {
            match file.next_line() {
                Ok(Some((line_no, raw))) => {
                    if raw.cut {
                        Counters::bump(&emitter.counters(source).long_lines);
                        if !std::mem::replace(long_reported, true) {
                            let length = raw.length;
                            emitter
                                .event(SourceEvent::LongLine {
                                    source,
                                    line_no,
                                    length,
                                })
                                .await?;
                        }
                    }
                    bytes += raw.text.len();
                    lines.push(LogLine {
                        source,
                        text: raw.text,
                        line_no,
                        time: None,
                    });
                }
                Ok(None) => {
                    end = Some(Ok(ReadEnd::Eof {
                        any: any || !lines.is_empty(),
                    }));
                    break;
                }
                Err(e) => {
                    end = Some(Err(Failure::Io(e)));
                    break;
                }
            }
        }
        if !lines.is_empty() {
            any = true;
            *budget -= 1;
            let position = anchor.unwrap_or(file).position();
            emitter
                .batch(Batch {
                    source,
                    lines,
                    position,
                })
                .await?;
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// Delivers the partial last line of a file that is left for good.
async fn send_partial(
    emitter: &Emitter,
    source: usize,
    file: &mut OpenFile,
    anchor: Option<&OpenFile>,
) -> Result<(), Stopped> {
    let Some((line_no, raw)) = file.take_partial() else {
        return Ok(());
    };
    let position = anchor.unwrap_or(file).position();
    emitter
        .batch(Batch {
            source,
            lines: vec![LogLine {
                source,
                text: raw.text,
                line_no,
                time: None,
            }],
            position,
        })
        .await
}
