//! Fills a ban store with many active bans, for `bench/bans.sh` (a daemon
//! started with 100,000 bans due). `moat ban` one address at a time would
//! take minutes; this writes them in one transaction.
//!
//!     cargo run --release -p moat-ban --example fill_store -- STORE JAIL COUNT SECONDS
//!
//! STORE is the redb file (`$MOAT_STATE/bans.redb`); the bans are IPv4
//! addresses from 10.0.0.1 upwards, each due for SECONDS more.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ipnet::{IpNet, Ipv4Net};
use moat_ban::{Ban, Store};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, jail, count, seconds] = args.as_slice() else {
        eprintln!("usage: fill_store STORE JAIL COUNT SECONDS");
        std::process::exit(2);
    };
    let count: u32 = count.parse().expect("COUNT: a number");
    let seconds: u64 = seconds.parse().expect("SECONDS: a number");
    let store = Store::open(&PathBuf::from(path)).expect("open the store");
    let now = SystemTime::now();
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 1));
    let bans: Vec<Ban> = (0..count)
        .map(|i| Ban {
            jail: jail.clone(),
            addr: IpNet::V4(Ipv4Net::from(Ipv4Addr::from(base + i))),
            start: now,
            end: Some(now + Duration::from_secs(seconds)),
            count: 1,
        })
        .collect();
    store.record_bans(&bans).expect("record the bans");
    let started = std::time::Instant::now();
    let due = store
        .active_bans(SystemTime::now())
        .expect("read back")
        .len();
    println!(
        "{due} active bans in {path} (read back in {} ms)",
        started.elapsed().as_millis()
    );
}
