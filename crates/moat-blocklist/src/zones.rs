//! Country zone files: one file per country, `cc.zone`, one CIDR network
//! per line, under `ipv4/` and `ipv6/` of a zone directory (the layout of
//! the common per-country block-list downloads). A flat directory with
//! `cc.zone` files (either family, or both mixed) works too. The files come
//! from ipdeny.com ([`zone_urls`]); moat never downloads them itself.

use std::path::{Path, PathBuf};

use crate::entries::{Entries, ParseStats};
use crate::BlocklistError;

/// Checks and normalises a country code: two ASCII letters, lower case.
pub fn country_code(code: &str) -> Result<String, BlocklistError> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_lowercase())
    } else {
        Err(BlocklistError::BadCountry(code.to_string()))
    }
}

/// Where ipdeny.com publishes the IPv4 zone files.
pub const IPV4_SOURCE: &str = "https://www.ipdeny.com/ipblocks/data/countries";
/// Where ipdeny.com publishes the IPv6 zone files.
pub const IPV6_SOURCE: &str = "https://www.ipdeny.com/ipv6/ipaddresses/blocks";

/// The addresses of country `code`'s zone files: IPv4, then IPv6.
pub fn zone_urls(code: &str) -> [String; 2] {
    [
        format!("{IPV4_SOURCE}/{code}.zone"),
        format!("{IPV6_SOURCE}/{code}.zone"),
    ]
}

/// Where the zone files of `codes` come from, and the commands that fetch
/// them into `dir`'s ipv4/ and ipv6/ (what errors about missing zones say).
pub fn fetch_help(dir: &Path, codes: &[String]) -> String {
    let (v4, v6) = (dir.join("ipv4"), dir.join("ipv6"));
    let mut text = String::from("country zone files come from ipdeny.com:\n");
    for code in codes {
        let [u4, u6] = zone_urls(code);
        text += &format!("  {u4} (IPv4)\n  {u6} (IPv6)\n");
    }
    text += &format!(
        "fetch them with:\n  mkdir -p {} {}\n",
        v4.display(),
        v6.display()
    );
    for code in codes {
        let [u4, u6] = zone_urls(code);
        for (sub, url) in [(&v4, u4), (&v6, u6)] {
            let file = sub.join(format!("{code}.zone"));
            text += &format!("  curl -fsS -o {} {url}\n", file.display());
        }
    }
    text.trim_end().to_string()
}

/// Checks that `dir` holds a zone file for each of `codes` (normalised
/// codes); the error names every country without one and how to fetch them.
pub fn check_present(dir: &Path, codes: &[String]) -> Result<(), BlocklistError> {
    if !dir.is_dir() {
        return Err(BlocklistError::NoZoneDir {
            dir: dir.to_path_buf(),
            codes: codes.to_vec(),
        });
    }
    let missing: Vec<String> = codes
        .iter()
        .filter(|code| zone_files(dir, code).is_empty())
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BlocklistError::NoZone {
            codes: missing,
            dir: dir.to_path_buf(),
        })
    }
}

/// The zone files for `code` that exist in `dir`.
pub fn zone_files(dir: &Path, code: &str) -> Vec<PathBuf> {
    let file = format!("{code}.zone");
    [
        dir.join("ipv4").join(&file),
        dir.join("ipv6").join(&file),
        dir.join(&file),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .collect()
}

/// Reads every zone file of country `code` in `dir`. Having no file at all
/// for the country is an error (a typo or a failed download), as is a line
/// that is not a network; a missing IPv6 file alone is not.
pub fn read_country(dir: &Path, code: &str) -> Result<(Entries, ParseStats), BlocklistError> {
    let code = country_code(code)?;
    check_present(dir, std::slice::from_ref(&code))?;
    let files = zone_files(dir, &code);
    let mut all = Entries::default();
    let mut stats = ParseStats::default();
    for path in files {
        let (entries, s) = Entries::read_file(&path)?;
        all = if all.is_empty() {
            entries
        } else {
            all.union(&entries)
        };
        stats.lines += s.lines;
    }
    Ok((all, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(country_code("CN").unwrap(), "cn");
        assert!(country_code("cnn").is_err());
        assert!(country_code("c1").is_err());
        assert!(country_code("../").is_err());
    }

    #[test]
    fn reads_both_families_and_reports_missing() {
        let dir = std::env::temp_dir().join(format!("moat-zones-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ipv4")).unwrap();
        std::fs::create_dir_all(dir.join("ipv6")).unwrap();
        std::fs::write(dir.join("ipv4/xa.zone"), "10.99.1.0/24\n").unwrap();
        std::fs::write(dir.join("ipv6/xa.zone"), "fd99:1::/64\n").unwrap();
        std::fs::write(dir.join("ipv4/xb.zone"), "10.99.1.0/24\nnonsense\n").unwrap();
        let (e, stats) = read_country(&dir, "XA").unwrap();
        assert_eq!((e.v4.len(), e.v6.len(), stats.lines), (1, 1, 2));
        let err = read_country(&dir, "xb").unwrap_err().to_string();
        assert!(err.contains("xb.zone:2"), "{err}");
        let err = read_country(&dir, "zz").unwrap_err().to_string();
        assert!(err.contains("zz"), "{err}");
        assert!(
            err.contains("https://www.ipdeny.com/ipv6/ipaddresses/blocks/zz.zone"),
            "{err}"
        );
        let err = read_country(&dir.join("none"), "xa")
            .unwrap_err()
            .to_string();
        let curl = format!(
            "curl -fsS -o {} https://www.ipdeny.com/ipblocks/data/countries/xa.zone",
            dir.join("none/ipv4/xa.zone").display()
        );
        assert!(err.contains(&curl), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
