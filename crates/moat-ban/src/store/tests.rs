//! The store on temporary files; crash and two-process tests run a child
//! process (this test binary again, running [`child`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use super::*;

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("moat-ban-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("state").join(FILE_NAME)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ban(jail: &str, addr: &str, start: u64, end: Option<u64>, count: u32) -> Ban {
    Ban {
        jail: jail.into(),
        addr: addr.parse().unwrap(),
        start: from_ms(start * 1000),
        end: end.map(|e| from_ms(e * 1000)),
        count,
    }
}

const CHILD_ENV: &str = "MOAT_BAN_TEST_CHILD";
const PATH_ENV: &str = "MOAT_BAN_TEST_PATH";

/// Runs this test binary's [`child`] test with `role`.
fn spawn_child(role: &str, path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::tests::child", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .env(PATH_ENV, path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Not a test of its own: the body of the child processes.
#[test]
fn child() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(std::env::var_os(PATH_ENV).unwrap());
    match role.as_str() {
        "crash" => commit_then_crash(
            &path,
            &ban("sshd", "192.0.2.1/32", 100, Some(4_000_000_000), 1),
            &ban("sshd", "192.0.2.2/32", 100, Some(4_000_000_000), 1),
        ),
        "hold" => hold_open(
            &path,
            &path.with_extension("ready"),
            Duration::from_millis(500),
        ),
        "write" => Store::open(&path)
            .unwrap()
            .record_ban(&ban("sshd", "192.0.2.2/32", 1, None, 1))
            .unwrap(),
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn bans_counts_and_positions() {
    let dir = TempDir::new("basic");
    let store = Store::open(&dir.file()).unwrap();
    let mode = std::fs::metadata(dir.file().parent().unwrap()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );
    let now = from_ms(1_000_000 * 1000);
    store
        .record_bans(&[
            ban("sshd", "192.0.2.7/32", 999_000, Some(1_000_600), 1),
            ban("sshd", "2001:db8:1:2::/64", 999_000, None, 1),
            ban("web", "192.0.2.7/32", 999_500, Some(999_900), 1),
        ])
        .unwrap();
    store
        .record_ban(&ban("sshd", "192.0.2.7/32", 999_900, Some(1_001_000), 2))
        .unwrap();

    let mut due = store.active_bans(now).unwrap();
    due.sort_by_key(|a| a.addr);
    assert_eq!(due.len(), 2, "{due:?}");
    assert_eq!(
        due[0],
        ban("sshd", "192.0.2.7/32", 999_900, Some(1_001_000), 2)
    );
    assert_eq!(due[0].remaining(now), Some(Some(Duration::from_secs(1000))));
    assert_eq!(due[1].end, None);
    assert_eq!(due[1].remaining(now), Some(None));
    // The ended ban was purged; its history stays.
    assert_eq!(store.active_bans(from_ms(0)).unwrap().len(), 2);

    let host: IpAddr = "192.0.2.7".parse().unwrap();
    assert_eq!(store.ban_count(Some("sshd"), host).unwrap(), 2);
    assert_eq!(store.ban_count(Some("web"), host).unwrap(), 1);
    assert_eq!(store.ban_count(None, host).unwrap(), 3);
    assert_eq!(store.ban_count(Some("nope"), host).unwrap(), 0);
    let net: IpNet = "2001:db8:1:2::/64".parse().unwrap();
    assert_eq!(store.ban_count(None, net).unwrap(), 1);
    let history = store.ban_history(None, host).unwrap().unwrap();
    assert_eq!(history.last, from_ms(999_900 * 1000));

    // Unban by an address inside a banned network, and by a network.
    let inside: IpNet = "2001:db8:1:2::99/128".parse().unwrap();
    assert_eq!(store.remove_ban(Some("web"), inside).unwrap(), 0);
    assert_eq!(store.remove_ban(None, inside).unwrap(), 1);
    assert_eq!(
        store
            .remove_ban(Some("sshd"), "192.0.2.0/24".parse().unwrap())
            .unwrap(),
        1
    );
    assert!(store.active_bans(now).unwrap().is_empty());
    assert_eq!(store.ban_count(Some("sshd"), host).unwrap(), 2);
    assert_eq!(store.purge_history(from_ms(999_600 * 1000)).unwrap(), 3);
    assert_eq!(store.ban_count(Some("web"), host).unwrap(), 0);
    assert_eq!(store.ban_count(Some("sshd"), host).unwrap(), 2);

    assert_eq!(store.position("/var/log/auth.log").unwrap(), None);
    store
        .set_positions(&[
            ("/var/log/auth.log".into(), vec![1, 2, 3]),
            ("journal".into(), b"cursor".to_vec()),
        ])
        .unwrap();
    store
        .set_positions(&[("/var/log/auth.log".into(), vec![4])])
        .unwrap();
    assert_eq!(store.position("/var/log/auth.log").unwrap(), Some(vec![4]));
    assert_eq!(store.position("journal").unwrap(), Some(b"cursor".to_vec()));
}

#[test]
fn a_crash_loses_no_committed_ban() {
    let dir = TempDir::new("crash");
    drop(Store::open(&dir.file()).unwrap());
    let status = spawn_child("crash", &dir.file()).wait().unwrap();
    assert!(!status.success(), "the child was to abort");
    let store = Store::open(&dir.file()).unwrap();
    let due = store.active_bans(from_ms(0)).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].addr, "192.0.2.1/32".parse::<IpNet>().unwrap());
    // The store works on after the repair.
    store
        .record_ban(&ban("sshd", "192.0.2.3/32", 1, None, 1))
        .unwrap();
    assert_eq!(store.active_bans(from_ms(0)).unwrap().len(), 2);
}

#[test]
fn another_process_holding_the_store_only_delays_a_write() {
    let dir = TempDir::new("shared");
    let store = Store::open(&dir.file()).unwrap();
    let ready = dir.file().with_extension("ready");
    let mut child = spawn_child("hold", &dir.file());
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "child never opened the store"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let began = std::time::Instant::now();
    store
        .record_ban(&ban("sshd", "192.0.2.9/32", 1, None, 1))
        .unwrap();
    let waited = began.elapsed();
    assert!(child.wait().unwrap().success());
    assert!(
        waited >= Duration::from_millis(100),
        "waited only {waited:?}"
    );
    assert_eq!(store.active_bans(from_ms(0)).unwrap().len(), 1);
}

#[test]
fn default_path_follows_moat_state() {
    // The only test that reads or changes MOAT_STATE.
    std::env::set_var(STATE_ENV, "/tmp/somewhere");
    assert_eq!(Store::default_path(), Path::new("/tmp/somewhere/bans.redb"));
    std::env::set_var(STATE_ENV, "");
    assert_eq!(Store::default_path(), Path::new("/var/lib/moat/bans.redb"));
    std::env::remove_var(STATE_ENV);
    assert_eq!(Store::default_path(), Path::new("/var/lib/moat/bans.redb"));
}

#[test]
fn a_store_in_use_lets_another_process_in_once_idle() {
    let dir = TempDir::new("idle");
    let store = Store::open(&dir.file()).unwrap();
    store
        .record_ban(&ban("sshd", "192.0.2.1/32", 1, None, 1))
        .unwrap();
    // The database is open now; another process gets in once it idles.
    let began = std::time::Instant::now();
    let status = spawn_child("write", &dir.file()).wait().unwrap();
    assert!(status.success());
    let took = began.elapsed();
    assert!(took < LOCK_WAIT, "{took:?}");
    // This store sees what the other process wrote.
    assert_eq!(store.active_bans(from_ms(0)).unwrap().len(), 2);
}
