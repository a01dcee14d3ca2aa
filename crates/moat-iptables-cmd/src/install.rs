//! Makes moat the host's iptables, as Debian switches between iptables-nft
//! and iptables-legacy: the six personalities as links to one binary in
//! `/usr/local/lib/moat`, registered with update-alternatives beside
//! Debian's own and chosen, so that every caller of `/usr/sbin/iptables`
//! (services, boot scripts such as netfilter-persistent, fail2ban, Docker)
//! runs moat. `update-alternatives --auto iptables` (and `ip6tables`) goes
//! back: moat's alternatives rank below Debian's.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the personalities go, under the root.
pub const PERSONALITY_DIR: &str = "usr/local/lib/moat";
/// The binary the personality links point to.
const BINARY: &str = "moat-iptables";
/// Each family's command and the personalities that follow it as
/// update-alternatives slaves, as Debian's iptables package registers them.
const GROUPS: [(&str, [&str; 2]); 2] = [
    ("iptables", ["iptables-restore", "iptables-save"]),
    ("ip6tables", ["ip6tables-restore", "ip6tables-save"]),
];
/// The priority of moat's alternatives: below iptables-legacy's 10 and
/// iptables-nft's 20, so that moat runs only when chosen by name.
const PRIORITY: &str = "5";

/// Why moat could not be made the host's iptables.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file or link could not be written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// update-alternatives could not be run.
    #[error(
        "cannot run update-alternatives ({0}); without it, put /{PERSONALITY_DIR} first on \
         the PATH of whatever calls iptables"
    )]
    NoAlternatives(io::Error),
    /// update-alternatives refused a step.
    #[error("update-alternatives {args} failed: {message}")]
    Alternatives {
        /// Its arguments.
        args: String,
        /// What it printed.
        message: String,
    },
    /// After the switch, the command's name does not lead to moat (a
    /// file that update-alternatives does not manage is in the way).
    #[error(
        "{} does not lead to moat after update-alternatives (it leads to {}): is it a file of \
         its own rather than the alternatives' link?",
        name.display(),
        target.display()
    )]
    NotSwitched {
        /// The command's path under the root.
        name: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
}

/// Copies `binary` (moat-iptables, or moat, which runs the personalities
/// by name too) into [`PERSONALITY_DIR`] under `root` and links the six
/// personality names to it; returns what it wrote.
pub fn install_personalities(root: &Path, binary: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let dir = root.join(PERSONALITY_DIR);
    std::fs::create_dir_all(&dir).map_err(file_error("create", &dir))?;
    let installed = dir.join(BINARY);
    if binary != installed {
        let tmp = installed.with_extension("new");
        std::fs::copy(binary, &tmp).map_err(file_error("write", &tmp))?;
        std::fs::rename(&tmp, &installed).map_err(file_error("write", &installed))?;
    }
    let mut written = vec![installed];
    for name in GROUPS
        .iter()
        .flat_map(|(master, slaves)| std::iter::once(*master).chain(slaves.iter().copied()))
    {
        let link = dir.join(name);
        match std::fs::remove_file(&link) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(file_error("replace", &link)(e))
            }
            _ => {}
        }
        std::os::unix::fs::symlink(BINARY, &link).map_err(file_error("link", &link))?;
        written.push(link);
    }
    Ok(written)
}

/// Registers the personalities installed under `root` with
/// update-alternatives and chooses them for `iptables` and `ip6tables`
/// (with their -save and -restore), then checks that each name now leads
/// to moat.
pub fn choose_moat(root: &Path) -> Result<(), InstallError> {
    // update-alternatives' own directories, there on a Debian system,
    // perhaps not yet in a root being prepared.
    for dir in ["usr/sbin", "etc/alternatives", "var/lib/dpkg/alternatives"] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(file_error("create", &dir))?;
    }
    let ours = |name: &str| format!("/{PERSONALITY_DIR}/{name}");
    let system = |name: &str| format!("/usr/sbin/{name}");
    for (master, slaves) in GROUPS {
        let mut install = vec![
            "--install".to_string(),
            system(master),
            master.to_string(),
            ours(master),
            PRIORITY.to_string(),
        ];
        for slave in slaves {
            install.extend(["--slave".into(), system(slave), slave.into(), ours(slave)]);
        }
        alternatives(root, &install)?;
        alternatives(root, &["--set".into(), master.into(), ours(master)])?;
        for name in std::iter::once(master).chain(slaves) {
            check_switched(root, &system(name), &ours(name))?;
        }
    }
    Ok(())
}

/// Runs `update-alternatives --root ROOT ARGS...`.
fn alternatives(root: &Path, args: &[String]) -> Result<(), InstallError> {
    let out = Command::new("update-alternatives")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .map_err(InstallError::NoAlternatives)?;
    if out.status.success() {
        return Ok(());
    }
    Err(InstallError::Alternatives {
        args: args.join(" "),
        message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Follows `name`'s links under `root` (absolute targets are read under
/// the root too) and fails unless they reach `ours`.
fn check_switched(root: &Path, name: &str, ours: &str) -> Result<(), InstallError> {
    let under_root = |p: &str| root.join(p.trim_start_matches('/'));
    let mut current = name.to_string();
    // Debian's chain: /usr/sbin/NAME -> /etc/alternatives/NAME -> ours.
    for _ in 0..4 {
        if current == ours {
            return Ok(());
        }
        match std::fs::read_link(under_root(&current)) {
            Ok(target) if target.is_absolute() => current = target.to_string_lossy().into_owned(),
            _ => break,
        }
    }
    Err(InstallError::NotSwitched {
        name: under_root(name),
        target: PathBuf::from(current),
    })
}

/// Maps an I/O error on `path` during `action` to an [`InstallError`].
fn file_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |source| InstallError::File {
        action,
        path,
        source,
    }
}
