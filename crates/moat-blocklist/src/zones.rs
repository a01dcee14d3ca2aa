//! Country zone files: one file per country, `cc.zone`, one CIDR network
//! per line, under `ipv4/` and `ipv6/` of a zone directory (the layout of
//! the common per-country block-list downloads). A flat directory with
//! `cc.zone` files (either family, or both mixed) works too.

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
    if !dir.is_dir() {
        return Err(BlocklistError::Read {
            path: dir.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such zone directory"),
        });
    }
    let files = zone_files(dir, &code);
    if files.is_empty() {
        return Err(BlocklistError::NoZone {
            code,
            dir: dir.to_path_buf(),
        });
    }
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
