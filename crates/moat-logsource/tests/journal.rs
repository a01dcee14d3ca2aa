//! Following a journal written by systemd-journal-remote into a temp dir, through journalctl.
//! Skipped (with a message) where systemd-journal-remote or journalctl is not installed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Run;
use moat_logsource::{Position, SourceSpec};

/// systemd-journal-remote, which writes journal files from the export format.
fn journal_remote() -> Option<PathBuf> {
    let journalctl = Command::new("journalctl").arg("--version").output();
    if !journalctl.is_ok_and(|o| o.status.success()) {
        return None;
    }
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Appends one entry to the journal file in `dir`; returns its time.
fn log(remote: &Path, dir: &Path, fields: &[(&str, &[u8])]) -> SystemTime {
    let now = SystemTime::now();
    let micros = now.duration_since(UNIX_EPOCH).unwrap().as_micros();
    let mut export = format!(
        "__REALTIME_TIMESTAMP={micros}\n__MONOTONIC_TIMESTAMP={micros}\n\
         _BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=box\n"
    )
    .into_bytes();
    for (name, value) in fields {
        if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
            // The export format's binary field: name, newline, little-endian length, bytes.
            export.extend_from_slice(format!("{name}\n").as_bytes());
            export.extend_from_slice(&(value.len() as u64).to_le_bytes());
            export.extend_from_slice(value);
        } else {
            export.extend_from_slice(format!("{name}=").as_bytes());
            export.extend_from_slice(value);
        }
        export.push(b'\n');
    }
    export.push(b'\n');
    let mut child = Command::new(remote)
        .arg(format!("--output={}", dir.join("test.journal").display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&export).unwrap();
    assert!(child.wait().unwrap().success());
    UNIX_EPOCH + Duration::from_micros(micros as u64)
}

/// Without the tools the test is skipped, except under `CI=true`, where it
/// fails (CI installs them, so a green CI always ran it).
fn skip_unless_ci() {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "systemd-journal-remote and journalctl are required under CI=true (apt-get install systemd-journal-remote)"
    );
    eprintln!("skipped: systemd-journal-remote or journalctl not installed");
}

fn journal(dir: &Path) -> SourceSpec {
    SourceSpec::Journal {
        matches: vec!["_SYSTEMD_UNIT=sshd.service + _COMM=sshd".into()],
        directory: Some(dir.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_journal_with_matches_and_resumes_at_the_cursor() {
    let Some(remote) = journal_remote() else {
        skip_unless_ci();
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sshd: &[(&str, &[u8])] = &[
        ("_SYSTEMD_UNIT", b"sshd.service"),
        ("_COMM", b"sshd"),
        ("SYSLOG_IDENTIFIER", b"sshd"),
        ("_PID", b"42"),
    ];
    let with = |message: &'static [u8]| {
        let mut fields = sshd.to_vec();
        fields.push(("MESSAGE", message));
        fields
    };
    log(&remote, d, &with(b"before the start"));

    let mut run = Run::start(vec![(journal(d), None)]);
    let time = log(
        &remote,
        d,
        &with(b"Failed password for root from 192.0.2.1 port 22 ssh2"),
    );
    log(
        &remote,
        d,
        &[
            ("_SYSTEMD_UNIT", b"cron.service"),
            ("_COMM", b"cron"),
            ("MESSAGE", b"not matched"),
        ],
    );
    // Matched by the second term only; a message that is not UTF-8.
    log(
        &remote,
        d,
        &[("_COMM", b"sshd"), ("MESSAGE", b"bad \xff byte")],
    );
    let texts = run.texts(2).await;
    assert_eq!(
        texts,
        [
            "box sshd[42]: Failed password for root from 192.0.2.1 port 22 ssh2",
            "box sshd: bad \u{fffd} byte"
        ]
    );
    assert_eq!(run.lines[0].time, Some(time));
    assert_eq!(run.lines[1].line_no, 2);
    run.settle(Duration::from_millis(500)).await;
    assert_eq!(run.lines.len(), 2);
    let position = run.stop().await.unwrap();

    // Logged while moat is stopped, then after it started again.
    log(&remote, d, &with(b"while stopped"));
    let saved = Position::from_bytes(&position.to_bytes()).unwrap();
    let mut run = Run::start(vec![(journal(d), Some(saved))]);
    log(&remote, d, &with(b"after the restart"));
    let texts = run.texts(2).await;
    assert_eq!(
        texts,
        [
            "box sshd[42]: while stopped",
            "box sshd[42]: after the restart"
        ]
    );
    assert_eq!(run.lines[0].line_no, 3);
    assert!(run.events.is_empty(), "{:?}", run.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_journalctl_is_reported_once_and_retried() {
    let Some(remote) = journal_remote() else {
        skip_unless_ci();
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    log(&remote, dir.path(), &[("MESSAGE", b"x")]);
    let spec = SourceSpec::Journal {
        matches: vec!["not-a-match".into()],
        directory: Some(dir.path().to_owned()),
    };
    let mut run = Run::start(vec![(spec, None)]);
    run.event(|e| matches!(e, moat_logsource::SourceEvent::Unreadable { .. }))
        .await;
    // Retried after 5 s, failing the same way: not reported again.
    run.settle(Duration::from_millis(6000)).await;
    assert_eq!(run.events.len(), 1, "{:?}", run.events);
    let message = format!("{:?}", run.events[0]);
    assert!(message.contains("not-a-match"), "{message}");
}
