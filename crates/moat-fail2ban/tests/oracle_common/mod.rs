//! What the oracle tests share: Debian's fail2ban, run through Python.

use std::path::Path;

/// The Python that runs fail2ban's own code.
pub const PYTHON: &str = "/usr/bin/python3";

/// Whether Debian's fail2ban is here with `needed` (a file or directory of
/// its configuration); under `CI=true` its absence is a failure.
pub fn fail2ban_available(needed: &str) -> bool {
    let ok = Path::new(needed).exists()
        && Path::new("/usr/lib/python3/dist-packages/fail2ban").is_dir()
        && Path::new(PYTHON).exists();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fail2ban is not installed (apt-get install fail2ban), required under CI=true"
        );
        eprintln!("skipped: fail2ban is not installed");
    }
    ok
}
