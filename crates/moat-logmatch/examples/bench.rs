//! Lines per second of the matcher on an auth.log.
//!
//! ```sh
//! cargo run --release -p moat-logmatch --example bench -- [--lines N] [--log FILE] [--spec SPEC.json] [--write FILE]
//! ```
//!
//! `--write FILE` also saves the lines used (to run another tool on them).
//!
//! Without `--log`, N lines (default 1,000,000) of a generated auth.log are
//! used: mostly lines no sshd filter matches (cron, sudo, logind, accepted
//! logins) and about 20 % failed logins from a few thousand addresses.
//! Without `--spec`, a small sshd filter written for this benchmark is used;
//! `--spec` reads a JSON object with `failregex`, `ignoreregex`,
//! `prefregex`, `datepattern` and `maxlines` (for example fail2ban's sshd
//! filter as its filter reader resolves it).

use std::time::{Duration, Instant, SystemTime};

use moat_logmatch::{Filter, FilterSpec};

/// A small generator (xorshift) so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(n: usize) -> Vec<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const USERS: [&str; 6] = ["root", "admin", "oracle", "test", "ubuntu", "postgres"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let secs = i as u64 / 12;
        let (day, h, m, s) = (
            1 + (secs / 86400) % 28,
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60,
        );
        let month = MONTHS[((secs / (86400 * 28)) % 12) as usize];
        let stamp = format!("{month} {day:>2} {h:02}:{m:02}:{s:02} web1");
        let pid = 1000 + rng.below(60000);
        let ip = format!(
            "{}.{}.{}.{}",
            1 + rng.below(222),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        let port = 1024 + rng.below(64000);
        let user = USERS[rng.below(USERS.len() as u64) as usize];
        let line = match rng.below(100) {
            0..=9 => format!("{stamp} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2"),
            10..=17 => format!("{stamp} sshd[{pid}]: Failed password for invalid user {user} from {ip} port {port} ssh2"),
            18..=19 => format!("{stamp} sshd[{pid}]: Invalid user {user} from {ip} port {port}"),
            20..=24 => format!("{stamp} sshd[{pid}]: Connection closed by authenticating user {user} {ip} port {port} [preauth]"),
            25..=29 => format!("{stamp} sshd[{pid}]: Accepted publickey for deploy from {ip} port {port} ssh2: ED25519 SHA256:abcdefghijklmnop"),
            30..=34 => format!("{stamp} sshd[{pid}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"),
            35..=39 => format!("{stamp} sshd[{pid}]: Received disconnect from {ip} port {port}:11: disconnected by user"),
            40..=64 => format!("{stamp} CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
            65..=79 => format!("{stamp} CRON[{pid}]: pam_unix(cron:session): session closed for user root"),
            80..=89 => format!("{stamp} sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl status nginx"),
            _ => format!("{stamp} systemd-logind[{pid}]: New session {} of user deploy.", rng.below(100000)),
        };
        out.push(line);
    }
    out
}

/// A small sshd filter for the benchmark (not fail2ban's).
fn own_sshd() -> FilterSpec {
    let prefix =
        r"^<F-MLFID>\s*\S+\s+sshd(?:\[\d+\])?:\s+</F-MLFID>(?:error: )?<F-CONTENT>.+</F-CONTENT>$";
    FilterSpec {
        prefregex: Some(prefix.to_string()),
        failregex: vec![
            r"^Failed \S+ for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST>(?: port \d+)?(?: ssh\d*)?$".to_string(),
            r"^Invalid user <F-USER>\S*</F-USER> from <HOST>(?: port \d+)?$".to_string(),
            r"^Connection closed by (?:authenticating|invalid) user <F-USER>\S+</F-USER> <HOST>(?: port \d+)? \[preauth\]$".to_string(),
            r"^Disconnecting: Too many authentication failures".to_string(),
        ],
        datepattern: Some("{^LN-BEG}".to_string()),
        maxlines: 1,
        ..FilterSpec::default()
    }
}

fn spec_from_json(path: &str) -> FilterSpec {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    FilterSpec {
        failregex: list("failregex"),
        ignoreregex: list("ignoreregex"),
        prefregex: v["prefregex"].as_str().map(str::to_string),
        datepattern: v["datepattern"].as_str().map(str::to_string),
        maxlines: v["maxlines"].as_u64().unwrap_or(1) as usize,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = value("--lines")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let lines = match value("--log") {
        Some(path) => std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .map(str::to_string)
            .collect(),
        None => generate(n),
    };
    if let Some(path) = value("--write") {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let spec = value("--spec").map_or_else(own_sshd, |p| spec_from_json(&p));
    let filter = Filter::compile(&spec).unwrap_or_else(|e| panic!("filter: {e}"));
    let now = SystemTime::now();
    for r in filter.regexes() {
        eprintln!("{} {} on {:?}", r.kind, r.index, r.engine);
    }
    let mut best = Duration::MAX;
    let mut failures = 0;
    for _ in 0..3 {
        let mut m = filter.matcher();
        let start = Instant::now();
        failures = 0;
        for (i, line) in lines.iter().enumerate() {
            failures += m.feed(line, i as u64 + 1, now).len();
        }
        best = best.min(start.elapsed());
    }
    let rate = lines.len() as f64 / best.as_secs_f64();
    println!(
        "{} lines, {failures} failures, best of 3: {:.3} s, {:.0} lines/s",
        lines.len(),
        best.as_secs_f64(),
        rate
    );
}
