//! Block lists loaded from the real per-country zone files in
//! `shared/data/country-zones` (238 countries, 170,103 IPv4 networks):
//! what the kernel holds must be exactly the merged networks.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use common::{moat_ok, nft_ruleset};
use moat_testnet::{require_root_or_skip, Netns};

/// The shared zone directory (`MOAT_ZONE_DIR` overrides), if present.
fn zone_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MOAT_ZONE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/country-zones")
        });
    if dir.join("ipv4/us.zone").is_file() {
        Some(dir)
    } else {
        assert!(
            !moat_testnet::on_ci(),
            "no country zone files at {} and CI=true",
            dir.display()
        );
        eprintln!(
            "SKIPPED: no country zone files at {} (set MOAT_ZONE_DIR)",
            dir.display()
        );
        None
    }
}

/// Inclusive ranges of a zone file, merged by a plain sort-and-sweep
/// (independent of the crate under test).
fn expected_ranges<const V6: bool>(path: &Path) -> Vec<(u128, u128)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let bits = if V6 { 128 } else { 32 };
    let mut ranges: Vec<(u128, u128)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (addr, len) = line.trim().split_once('/').expect("CIDR line");
            let len: u32 = len.parse().unwrap();
            let start = if V6 {
                u128::from(addr.parse::<Ipv6Addr>().unwrap())
            } else {
                u128::from(u32::from(addr.parse::<Ipv4Addr>().unwrap()))
            };
            let size = 1u128.checked_shl(bits - len).unwrap_or(0);
            let start = if size == 0 { 0 } else { start & !(size - 1) };
            (start, start.wrapping_add(size).wrapping_sub(1))
        })
        .collect();
    ranges.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The `moat block list` row of `name`, by column header.
fn row(listing: &str, name: &str, column: &str) -> String {
    let header = listing.lines().next().unwrap();
    let start = header.find(column).unwrap();
    let line = listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap();
    line[start..].split_whitespace().next().unwrap().to_string()
}

fn in_set(ns: &Netns, set: &str, addr: &str) -> bool {
    ns.exec(&[
        "nft",
        "get",
        "element",
        "inet",
        "moat_block",
        set,
        &format!("{{ {addr} }}"),
    ])
    .unwrap()
    .status
    .success()
}

/// `moat block country us` from the zone files in `dir`; returns its output.
fn block_us(ns: &Netns, dir: &Path) -> String {
    moat_ok(
        ns,
        &[
            "block",
            "country",
            "us",
            "--zone-dir",
            dir.to_str().unwrap(),
        ],
    )
}

#[test]
fn us_zone_loads_exactly() {
    let Some(dir) = zone_dir() else { return };
    if !require_root_or_skip() {
        return;
    }
    let ns = Netns::new("zones").unwrap();
    let out = block_us(&ns, &dir);
    let v4 = expected_ranges::<false>(&dir.join("ipv4/us.zone"));
    let v6 = expected_ranges::<true>(&dir.join("ipv6/us.zone"));
    assert!(
        out.contains(&format!("{} IPv4 and {} IPv6 ranges", v4.len(), v6.len())),
        "{out}"
    );
    let listing = moat_ok(&ns, &["block", "list"]);
    assert_eq!(
        row(&listing, "us", "IPV4 RANGES"),
        v4.len().to_string(),
        "{listing}"
    );
    assert_eq!(
        row(&listing, "us", "IPV6 RANGES"),
        v6.len().to_string(),
        "{listing}"
    );
    let addresses: u128 = v4.iter().map(|(a, b)| b - a + 1).sum();
    assert_eq!(row(&listing, "us", "IPV4 ADDRESSES"), addresses.to_string());

    // The kernel answers lookups at range edges and just outside them.
    for &(a, b) in v4.iter().step_by(v4.len() / 25) {
        let (a, b) = (a as u32, b as u32);
        assert!(in_set(&ns, "us.v4", &Ipv4Addr::from(a).to_string()));
        assert!(in_set(&ns, "us.v4", &Ipv4Addr::from(b).to_string()));
        if let Some(after) = b.checked_add(1) {
            assert!(
                !in_set(&ns, "us.v4", &Ipv4Addr::from(after).to_string()),
                "{} is outside",
                Ipv4Addr::from(after)
            );
        }
    }
    for &(a, b) in v6.iter().step_by(v6.len() / 10) {
        assert!(in_set(&ns, "us.v6", &Ipv6Addr::from(a).to_string()));
        assert!(in_set(&ns, "us.v6", &Ipv6Addr::from(b).to_string()));
        assert!(!in_set(&ns, "us.v6", &Ipv6Addr::from(b + 1).to_string()));
    }

    // Refreshing the same data changes nothing but keeps working.
    let out = block_us(&ns, &dir);
    assert!(out.starts_with("refreshed country us"), "{out}");
    assert_eq!(
        row(&moat_ok(&ns, &["block", "list"]), "us", "IPV4 RANGES"),
        v4.len().to_string()
    );
}

#[test]
fn whole_world_loads_in_one_command() {
    let Some(dir) = zone_dir() else { return };
    if !require_root_or_skip() {
        return;
    }
    let mut codes: Vec<String> = std::fs::read_dir(dir.join("ipv4"))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".zone")
                .map(str::to_string)
        })
        .collect();
    codes.sort();
    assert_eq!(codes.len(), 238);
    let ns = Netns::new("world").unwrap();
    let mut args = vec!["block", "country"];
    args.extend(codes.iter().map(String::as_str));
    args.extend(["--zone-dir", dir.to_str().unwrap()]);
    let out = moat_ok(&ns, &args);
    assert_eq!(out.lines().count(), 238);

    let listing = moat_ok(&ns, &["block", "list"]);
    assert_eq!(listing.lines().count(), 239, "{listing}");
    let (mut want4, mut got4, mut want6, mut got6) = (0, 0, 0, 0);
    for code in &codes {
        want4 += expected_ranges::<false>(&dir.join(format!("ipv4/{code}.zone"))).len();
        want6 += expected_ranges::<true>(&dir.join(format!("ipv6/{code}.zone"))).len();
        got4 += row(&listing, code, "IPV4 RANGES").parse::<usize>().unwrap();
        got6 += row(&listing, code, "IPV6 RANGES").parse::<usize>().unwrap();
    }
    assert_eq!((got4, got6), (want4, want6));
    // Unblocking everything leaves no trace.
    let mut args = vec!["unblock", "country"];
    args.extend(codes.iter().map(String::as_str));
    moat_ok(&ns, &args);
    assert!(!nft_ruleset(&ns).contains("moat_block"));
}
