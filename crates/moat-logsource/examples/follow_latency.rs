//! Throughput and latency of following a file: a child process writes lines at a given rate
//! (one write(2) per line, as syslog daemons do), each stamped with the wall-clock time it was
//! written; this process follows the file with [`moat_logsource::Follower`] and measures, per
//! line, the time from write to delivery, and its own CPU time.
//!
//! ```sh
//! cargo run --release -p moat-logsource --example follow_latency -- [RATE_PER_S] [LINES]
//! ```
//! (defaults: 100000 lines/s, 1000000 lines)

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moat_logsource::{Follower, SourceSpec, Update};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The child: writes `lines` lines to `path` at `rate` lines per second.
fn write(path: &Path, rate: u64, lines: u64) {
    let mut out = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    let start = Instant::now();
    let mut seq = 0;
    while seq < lines {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(lines);
        while seq < due {
            let line = format!(
                "{} {seq} Dec  3 12:00:00 host sshd[1234]: Failed password for invalid user admin from 192.0.2.{} port 22 ssh2\n",
                now_nanos(),
                seq % 250
            );
            out.write_all(line.as_bytes()).unwrap();
            seq += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// CPU time (user + system) of this process, or of its waited-for children.
fn cpu(who: libc::c_int) -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct given.
    unsafe { libc::getrusage(who, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--writer") {
        write(
            Path::new(&args[2]),
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
        );
        return;
    }
    let rate: u64 = args.get(1).map_or(100_000, |a| a.parse().expect("rate"));
    let lines: u64 = args.get(2).map_or(1_000_000, |a| a.parse().expect("lines"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(&path, "").unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel(64);
        let follower = Follower::spawn(
            vec![(SourceSpec::File(path.clone()), None)],
            tx,
            &CancellationToken::new(),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let cpu_before = cpu(libc::RUSAGE_SELF);
        let started = Instant::now();
        let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--writer",
                path.to_str().unwrap(),
                &rate.to_string(),
                &lines.to_string(),
            ])
            .spawn()
            .unwrap();
        let mut latencies = Vec::with_capacity(lines as usize);
        let mut batches = 0u64;
        while (latencies.len() as u64) < lines {
            let Some(update) = rx.recv().await else { break };
            let Update::Lines(batch) = update else {
                continue;
            };
            batches += 1;
            let received = now_nanos();
            for line in &batch.lines {
                let written: u128 = line.text.split(' ').next().unwrap().parse().unwrap();
                latencies.push(received.saturating_sub(written) as u64);
            }
        }
        let elapsed = started.elapsed();
        let cpu_follower = cpu(libc::RUSAGE_SELF) - cpu_before;
        writer.wait().unwrap();
        let cpu_writer = cpu(libc::RUSAGE_CHILDREN);
        follower.shutdown().await;

        latencies.sort_unstable();
        let n = latencies.len();
        println!("lines delivered      {n} of {lines} at a target of {rate} lines/s");
        println!(
            "elapsed              {:.2} s ({:.0} lines/s)",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
        println!(
            "batches              {batches} ({:.1} lines per batch)",
            n as f64 / batches as f64
        );
        println!(
            "latency (µs)         p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  max {:.0}",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            percentile(&latencies, 0.999),
            percentile(&latencies, 1.0)
        );
        println!(
            "CPU follower+reader  {:.2} s ({:.1} % of one core)",
            cpu_follower.as_secs_f64(),
            100.0 * cpu_follower.as_secs_f64() / elapsed.as_secs_f64()
        );
        println!("CPU writer           {:.2} s", cpu_writer.as_secs_f64());
    });
}
