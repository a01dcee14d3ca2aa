//! Following files through what happens to log files, in temp dirs.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::Run;
use moat_logsource::{resolve_logpath, SourceEvent, SourceSpec, MAX_LINE_BYTES};

fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn numbered(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_reads_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    append(&path, &numbered(0..1000));
    append(&path, "partial");
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, " completed\nline 1000\n");
    assert_eq!(run.texts(2).await, ["partial completed", "line 1000"]);
    let numbers: Vec<u64> = run.lines.iter().map(|l| l.line_no).collect();
    assert_eq!(numbers, [1, 2]);
    run.settle(Duration::from_millis(300)).await;
    assert_eq!(run.lines.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_neither_replays_nor_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    append(&path, &numbered(0..10));
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, &numbered(10..20));
    assert_eq!(run.texts(10).await, expected(10..20));
    let position = run.stop().await.unwrap();
    assert_eq!(position.line_no(), 10);

    // Written while moat is stopped.
    append(&path, &numbered(20..30));
    let saved = moat_logsource::Position::from_bytes(&position.to_bytes()).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), Some(saved))]);
    append(&path, &numbered(30..40));
    assert_eq!(run.texts(20).await, expected(20..40));
    assert_eq!(run.lines[0].line_no, 11);
    run.settle(Duration::from_millis(300)).await;
    assert_eq!(run.lines.len(), 20);
    assert!(run.events.is_empty(), "{:?}", run.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_while_stopped_reads_the_rest_of_the_old_file_then_the_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    append(&path, &numbered(0..10));
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, &numbered(10..12));
    run.texts(2).await;
    let position = run.stop().await;

    append(&path, &numbered(12..15));
    fs::rename(&path, dir.path().join("auth.log.1")).unwrap();
    append(&path, &numbered(15..18));
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), position.clone())]);
    assert_eq!(run.texts(6).await, expected(12..18));
    assert!(run
        .events
        .iter()
        .any(|e| matches!(e, SourceEvent::Rotated { .. })));
    run.stop().await;

    // The old file gone too: the new file is read from its start.
    fs::remove_file(dir.path().join("auth.log.1")).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), position)]);
    assert_eq!(run.texts(3).await, expected(15..18));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_while_writing_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    const TOTAL: usize = 20_000;
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut out = OpenOptions::new().append(true).open(&writer_path).unwrap();
        for i in 0..TOTAL {
            if i > 0 && i % 4000 == 0 {
                // Rotations are far apart in real life (a file rotated twice before the
                // follower reacts, within milliseconds, loses the middle file).
                std::thread::sleep(Duration::from_millis(100));
                // logrotate renames; the writer logs a few more lines to the old file before
                // it reopens (as rsyslog does until its HUP), then the new file is created.
                let rotated = writer_path.with_extension(format!("log.{i}"));
                fs::rename(&writer_path, rotated).unwrap();
                for _ in 0..3 {
                    writeln!(out, "line {i}").unwrap();
                }
                out = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&writer_path)
                    .unwrap();
            }
            writeln!(out, "line {i}").unwrap();
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    // Received while the writer writes (a full channel would hold the follower back).
    let texts = run.texts(TOTAL + 4 * 3).await;
    writer.join().unwrap();
    // Each rotation wrote "line i" three extra times to the old file: expect them in place.
    let mut want = Vec::new();
    for i in 0..TOTAL {
        if i > 0 && i % 4000 == 0 {
            want.extend(std::iter::repeat_n(format!("line {i}"), 3));
        }
        want.push(format!("line {i}"));
    }
    assert!(texts == want, "lines lost, doubled or out of order");
    run.settle(Duration::from_millis(300)).await;
    assert_eq!(run.lines.len(), want.len());
    assert_eq!(run.follower.stats()[0].rotations, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_starts_again_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, &numbered(0..100));
    run.texts(100).await;
    // logrotate copytruncate: copy, then truncate in place; the writer goes on (O_APPEND).
    fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&path, &numbered(100..150));
    assert_eq!(run.texts(150).await, expected(0..150));
    assert_eq!(run.lines[100].line_no, 1);
    run.event(|e| matches!(e, SourceEvent::Truncated { .. }))
        .await;

    // Truncated and refilled past the old offset before the follower looks: the changed
    // first bytes tell.
    let mut out = OpenOptions::new().write(true).open(&path).unwrap();
    out.set_len(0).unwrap();
    out.write_all(numbered(1000..1200).as_bytes()).unwrap();
    drop(out);
    let texts = run.texts(350).await;
    assert!(
        texts[150..] == expected(1000..1200),
        "{:?}",
        &texts[150..160]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, &numbered(0..5));
    run.texts(5).await;
    fs::remove_file(&path).unwrap();
    run.event(|e| matches!(e, SourceEvent::Rotated { .. }))
        .await;
    append(&path, &numbered(5..10));
    assert_eq!(run.texts(10).await, expected(0..10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_appears_later_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.log");
    let deep = dir.path().join("nginx/error.log");
    let mut run = Run::start(vec![
        (SourceSpec::File(path.clone()), None),
        (SourceSpec::File(deep.clone()), None),
    ]);
    run.event(|e| matches!(e, SourceEvent::Missing { source: 0, .. }))
        .await;
    append(&path, &numbered(0..3));
    assert_eq!(run.texts(3).await, expected(0..3));
    assert_eq!(run.lines[0].line_no, 1);
    run.event(|e| matches!(e, SourceEvent::Recovered { source: 0 }))
        .await;
    // Its directory does not exist yet either.
    fs::create_dir(dir.path().join("nginx")).unwrap();
    append(&deep, "deep\n");
    run.texts(4).await;
    assert_eq!(
        (run.lines[3].source, run.lines[3].text.as_str()),
        (1, "deep")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_lines_wait_for_their_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    append(&path, "Failed password for ro");
    run.settle(Duration::from_millis(300)).await;
    assert!(run.lines.is_empty());
    append(&path, "ot from 192.0.2.1\n");
    assert_eq!(
        run.texts(1).await,
        ["Failed password for root from 192.0.2.1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_cut_and_bad_utf8_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    let long = "x".repeat(300_000);
    append(&path, &format!("{long}\n{long}\n"));
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"bad \xff byte\n")
        .unwrap();
    let texts = run.texts(3).await;
    assert_eq!(texts[0].len(), MAX_LINE_BYTES);
    assert_eq!(texts[2], "bad \u{fffd} byte");
    let long_events = run
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SourceEvent::LongLine {
                    length: 300_000,
                    line_no: 1,
                    ..
                }
            )
        })
        .count();
    assert_eq!(long_events, 1);
    assert_eq!(run.follower.stats()[0].long_lines, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_is_reported_once_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    // A directory where the log should be: opening works, reading fails (EISDIR), even as root.
    fs::create_dir(&path).unwrap();
    let mut run = Run::start(vec![(SourceSpec::File(path.clone()), None)]);
    run.settle(Duration::from_millis(2500)).await;
    let unreadable = |run: &Run| {
        run.events
            .iter()
            .filter(|e| matches!(e, SourceEvent::Unreadable { .. }))
            .count()
    };
    assert_eq!(unreadable(&run), 1, "{:?}", run.events);
    fs::remove_dir(&path).unwrap();
    append(&path, "back\n");
    assert_eq!(run.texts(1).await, ["back"]);
    run.event(|e| matches!(e, SourceEvent::Recovered { .. }))
        .await;
    assert_eq!(unreadable(&run), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glob_sources_keep_their_index() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.log", "a.log"] {
        append(&dir.path().join(name), "old\n");
    }
    let pattern = format!("{}/*.log", dir.path().display());
    let paths = resolve_logpath(&pattern).unwrap();
    let mut run = Run::start(
        paths
            .iter()
            .map(|p| (SourceSpec::File(p.clone()), None))
            .collect(),
    );
    append(&dir.path().join("b.log"), "to b\n");
    run.texts(1).await;
    append(&dir.path().join("a.log"), "to a\n");
    run.texts(2).await;
    let got: Vec<_> = run
        .lines
        .iter()
        .map(|l| (l.source, l.text.as_str()))
        .collect();
    assert_eq!(got, [(1, "to b"), (0, "to a")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_file_twice_and_dropping_the_follower_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    File::create(&path).unwrap();
    let mut run = Run::start(vec![
        (SourceSpec::File(path.clone()), None),
        (SourceSpec::File(path.clone()), None),
    ]);
    append(&path, "x\n");
    run.texts(2).await;
    let mut sources: Vec<_> = run.lines.iter().map(|l| l.source).collect();
    sources.sort();
    assert_eq!(sources, [0, 1]);
    let common::Run {
        follower, mut rx, ..
    } = run;
    drop(follower);
    // The channel closes once the task has ended.
    let closed = tokio::time::timeout(common::PATIENCE, async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok());
}
