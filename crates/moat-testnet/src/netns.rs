//! Named network namespaces that delete themselves on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crate::error::{Error, Result};

/// Directory where `ip netns` keeps its namespace handles.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Prefix of every namespace this crate creates: names are
/// `moat-<pid>-<n>-<role>`.
pub const NAME_PREFIX: &str = "moat-";

/// Process-wide counter making namespace names unique within one process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Returns a fresh number for `moat-<pid>-<n>-...` names.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A network namespace created with `ip netns add`, deleted on drop.
///
/// Its name is `moat-<pid>-<n>-<role>`, unique among all processes running
/// at the same time, so tests can run in parallel. Dropping it (also while
/// unwinding from a panic) runs `ip netns del`; interfaces inside it,
/// including veth ends, vanish with it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a new, empty namespace named `moat-<pid>-<n>-<role>`.
    ///
    /// Its loopback interface is down; see [`Netns::ip`] to configure it.
    pub fn new(role: &str) -> Result<Netns> {
        Netns::create(next_id(), role)
    }

    /// Creates the namespace `moat-<pid>-<id>-<role>`.
    pub(crate) fn create(id: u64, role: &str) -> Result<Netns> {
        validate_role(role)?;
        let name = format!("{NAME_PREFIX}{}-{id}-{role}", std::process::id());
        run_checked(Command::new("ip").args(["netns", "add", &name]))?;
        Ok(Netns { name })
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the namespace handle (`/run/netns/<name>`).
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_RUN_DIR).join(&self.name)
    }

    /// Runs `f` on a new thread that has joined this namespace with
    /// setns(2), and returns its result.
    ///
    /// Sockets created inside `f` belong to this namespace for their whole
    /// life, even when used later from other threads; threads spawned inside
    /// `f` start in this namespace too. If `f` panics, the panic is resumed
    /// on the calling thread.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let handle = self.open()?;
        thread::scope(|scope| {
            let worker = scope.spawn(move || -> Result<R> {
                self.enter(&handle)?;
                Ok(f())
            });
            match worker.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Runs a program inside the namespace (`ip netns exec <name> ...`) and
    /// returns its output, whatever its exit status.
    ///
    /// The program's standard input is empty. There is no timeout: only
    /// run programs that finish on their own.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Output> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        run(&mut cmd, None)
    }

    /// Like [`Netns::exec`], but a non-zero exit status is an
    /// [`Error::Command`]; returns the program's standard output.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        let out = run_checked(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Like [`Netns::exec_ok`], with `input` as the program's standard
    /// input, e.g. `ns.exec_input(&["nft", "-f", "-"], rules)`.
    pub fn exec_input<S: AsRef<OsStr>>(&self, argv: &[S], input: &str) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        let out = run(&mut cmd, Some(input.as_bytes()))?;
        let out = check(&cmd, out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ip -n <name> ARGS...` and fails on a non-zero exit status;
    /// returns its standard output.
    pub fn ip<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        let out = run_checked(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs several `ip` commands (one per line, without the leading `ip`)
    /// in this namespace with a single `ip -n <name> -batch -`.
    pub fn ip_batch(&self, commands: &str) -> Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name, "-batch", "-"]);
        let out = run(&mut cmd, Some(commands.as_bytes()))?;
        check(&cmd, out).map(drop)
    }

    /// Writes `value` to `/proc/sys/<key>` as seen from inside this
    /// namespace, e.g. `sysctl("net/ipv4/ip_forward", "1")`.
    ///
    /// Dots in `key` are accepted too (`net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.sysctls(&[(key, value)])
    }

    /// Writes several sysctls from one thread inside the namespace, in order.
    pub fn sysctls(&self, settings: &[(&str, &str)]) -> Result<()> {
        self.run(|| settings.iter().try_for_each(|(k, v)| write_sysctl(k, v)))?
    }

    /// Reads `/proc/sys/<key>` as seen from inside this namespace, trimmed.
    pub fn read_sysctl(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key);
        self.run(|| {
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))
        })?
    }

    fn open(&self) -> Result<File> {
        File::open(self.path()).map_err(|source| Error::Enter {
            name: self.name.clone(),
            source,
        })
    }

    fn enter(&self, handle: &File) -> Result<()> {
        enter_raw(handle, &self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = delete(&self.name) {
            // Drop cannot fail; leave a trace for `cleanup_stale` users.
            let _ = writeln!(
                std::io::stderr(),
                "moat-testnet: could not delete namespace {}: {e}",
                self.name
            );
        }
    }
}

fn enter_raw(handle: &File, name: &str) -> Result<()> {
    // SAFETY: setns only reads the file descriptor, which `handle` keeps open.
    let rc = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::Enter {
            name: name.to_owned(),
            source: std::io::Error::last_os_error(),
        })
    }
}

fn validate_role(role: &str) -> Result<()> {
    let ok = !role.is_empty()
        && role.len() <= 32
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRole(role.to_owned()))
    }
}

fn sysctl_path(key: &str) -> PathBuf {
    let key = key.trim_start_matches('/');
    let key = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    Path::new("/proc/sys").join(key)
}

/// Writes a sysctl for the calling thread's network namespace.
pub(crate) fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key);
    std::fs::write(&path, value)
        .map_err(|e| Error::io(format!("writing {value:?} to {}", path.display()), e))
}

/// Deletes the namespace `name` with `ip netns del`.
pub(crate) fn delete(name: &str) -> Result<()> {
    run_checked(Command::new("ip").args(["netns", "del", name])).map(drop)
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` with `stdin` as its input and captures its output.
fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(source) => {
            return Err(Error::Spawn {
                command: describe(cmd),
                source,
            })
        }
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|e| Error::io(format!("feeding `{}`", describe(cmd)), e))?;
    }
    child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for `{}`", describe(cmd)), e))
}

fn check(cmd: &Command, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            command: describe(cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Runs `cmd` and turns a non-zero exit status into [`Error::Command`].
pub(crate) fn run_checked(cmd: &mut Command) -> Result<Output> {
    let out = run(cmd, None)?;
    check(cmd, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_validated() {
        assert!(validate_role("client").is_ok());
        assert!(validate_role("lab_1-x").is_ok());
        assert!(validate_role("").is_err());
        assert!(validate_role("a/b").is_err());
        assert!(validate_role("with space").is_err());
        assert!(validate_role(&"x".repeat(33)).is_err());
    }

    #[test]
    fn sysctl_keys_accept_dots_or_slashes() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/lan0.5/rp_filter"),
            Path::new("/proc/sys/net/ipv4/conf/lan0.5/rp_filter")
        );
    }

    #[test]
    fn ids_are_unique() {
        let a = next_id();
        let b = next_id();
        assert_ne!(a, b);
    }
}
