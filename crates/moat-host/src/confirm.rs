//! `--confirm`: a watchdog that puts the previous ruleset back unless told
//! to stand down in time.
//!
//! The watchdog is this binary started as `moat watchdog`, in a session of
//! its own (setsid) with its standard streams on /dev/null, so neither a
//! closed terminal, a cut SSH session nor the death of the `moat apply` that
//! started it stops it; it needs no systemd. It is started *before* the new
//! ruleset is applied, holding the previous one. It listens on an abstract
//! unix socket, whose name lives in the network namespace, so `moat
//! confirm` finds the watchdog of its own namespace, and each namespace can
//! have one pending change.
//!
//! Messages (one line each way): `status`, `confirm` (keep the new ruleset
//! and save it), `cancel` (stand down: nothing was changed), `abort` (roll
//! back now), `handover` (a newer `apply --confirm` takes over: the
//! watchdog answers with the ruleset and block lists it holds and stands
//! down).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::lock::RulesetLock;
use crate::persist::{self, Keep};
use crate::previous::{put_back, Previous};
use crate::HostError;

const SOCKET_NAME: &[u8] = b"moat-confirm";

/// What a watchdog is started with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Orders {
    /// Seconds until it rolls back.
    pub seconds: u64,
    /// The ruleset and block lists to put back.
    pub previous: Previous,
    /// What to save when confirmed.
    pub keep: Keep,
}

fn address() -> Result<SocketAddr, HostError> {
    SocketAddr::from_abstract_name(SOCKET_NAME).map_err(HostError::io("watchdog socket address"))
}

/// Sends `message` to this namespace's watchdog; `None` when there is none.
pub fn ask(message: &str) -> Result<Option<String>, HostError> {
    let mut stream = match UnixStream::connect_addr(&address()?) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(HostError::io("cannot reach the confirmation watchdog")(e)),
    };
    let asked = stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .and_then(|()| stream.write_all(format!("{message}\n").as_bytes()));
    asked.map_err(HostError::io("cannot ask the confirmation watchdog"))?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(HostError::io("no answer from the confirmation watchdog"))?;
    Ok(Some(reply.trim_end().to_string()))
}

/// Starts a watchdog with `orders` and waits until it listens.
pub fn start(orders: &Orders) -> Result<(), HostError> {
    let exe = std::env::current_exe().map_err(HostError::io("cannot find moat's own binary"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("watchdog")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(HostError::io("cannot start the confirmation watchdog"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(HostError::Refused(
            "the confirmation watchdog has no input or output".into(),
        ));
    };
    let orders = serde_json::to_string(orders).map_err(std::io::Error::from);
    let mut line = String::new();
    orders
        .and_then(|json| stdin.write_all(json.as_bytes()))
        .and_then(|()| {
            drop(stdin);
            BufReader::new(stdout).read_line(&mut line)
        })
        .map_err(HostError::io(
            "cannot hand the confirmation watchdog its orders",
        ))?;
    if line.trim() != "ready" {
        return Err(HostError::Refused(format!(
            "the confirmation watchdog did not start: {}",
            line.trim()
        )));
    }
    Ok(())
}

fn detach_stdio() {
    // SAFETY: plain system calls on file descriptors this process owns.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn bind() -> Result<UnixListener, HostError> {
    let addr = address()?;
    let start = Instant::now();
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(l) => return Ok(l),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && start.elapsed() < Duration::from_secs(3) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Err(HostError::Refused(
                "another change is already waiting for `moat confirm` in this network namespace"
                    .into(),
            )),
            Err(e) => return Err(HostError::io("cannot listen for `moat confirm`")(e)),
        }
    }
}

enum Next {
    Wait,
    Exit,
    RollBackNow,
}

fn handle(stream: UnixStream, orders: &Orders, deadline: Instant) -> Next {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return Next::Wait;
    }
    let mut out = &stream;
    let (reply, next) = match line.trim() {
        "status" => {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            (format!("pending {left}"), Next::Wait)
        }
        "confirm" => match persist::save(&orders.keep) {
            Ok(dir) => (format!("confirmed {}", dir.display()), Next::Exit),
            Err(e) => (format!("confirmed, but saving failed: {e}"), Next::Exit),
        },
        "cancel" => ("cancelled".into(), Next::Exit),
        "abort" => ("rolling back".into(), Next::RollBackNow),
        "handover" => match serde_json::to_string(&orders.previous) {
            Ok(json) => (json, Next::Exit),
            Err(e) => (format!("error {e}"), Next::Wait),
        },
        other => (format!("error unknown request {other:?}"), Next::Wait),
    };
    let _ = out.write_all(format!("{reply}\n").as_bytes());
    next
}

/// `moat watchdog`: reads its orders on standard input, then waits; once
/// a rollback has put the ruleset and lists back, `and_then` puts back
/// what lives beside them (the balanced services of the kept moat.toml).
pub fn run_watchdog(and_then: impl Fn(&Previous)) -> ExitCode {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        return ExitCode::FAILURE;
    }
    let orders: Orders = match serde_json::from_str(&input) {
        Ok(o) => o,
        Err(e) => {
            println!("error bad orders: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match bind() {
        Ok(l) => l,
        Err(e) => {
            println!("error {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ready");
    let _ = std::io::stdout().flush();
    detach_stdio();
    if listener.set_nonblocking(true).is_err() {
        return ExitCode::FAILURE;
    }
    let mut deadline = Instant::now() + Duration::from_secs(orders.seconds);
    let mut failures = 0;
    loop {
        match listener.accept() {
            Ok((stream, _)) => match handle(stream, &orders, deadline) {
                Next::Wait => {}
                Next::Exit => return ExitCode::SUCCESS,
                Next::RollBackNow => deadline = Instant::now(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            if let Ok(_lock) = RulesetLock::acquire(Duration::ZERO) {
                match put_back(&moat_backend::default_backend(), &orders.previous) {
                    Ok(()) => {
                        and_then(&orders.previous);
                        return ExitCode::SUCCESS;
                    }
                    Err(_) if failures < 5 => failures += 1,
                    Err(_) => return ExitCode::FAILURE,
                }
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
