//! Helper processes that hold a test's daemons: they die with the test
//! thread that started them and say when they are ready.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Makes `command`'s process die (SIGKILL) with the thread that starts it,
/// even when the test process is killed before its Drop runs.
pub(crate) fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts `command` (dying with its parent, in a process group of its
/// own) and waits up to `timeout` for the first line of its stdout to be
/// `ready`; else kills its group. `what` names it in errors.
pub(crate) fn spawn_ready(command: &mut Command, what: &str, timeout: Duration) -> Result<Child> {
    die_with_parent(command);
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: what.to_string(),
            source,
        })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    if rx.recv_timeout(timeout).unwrap_or_default().trim() == "ready" {
        return Ok(child);
    }
    kill_group(&mut child);
    Err(Error::NotReady(format!("{what} did not say it was ready")))
}

/// Kills `child`'s process group (it and what it started) and reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    // SAFETY: kill(2) of the group our own, unreaped child leads.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    let _ = child.wait();
}

/// Sends `child` SIGTERM and waits up to `timeout` for it to exit; whether
/// it did (else it is still running).
pub(crate) fn terminate(child: &mut Child, timeout: Duration) -> bool {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
