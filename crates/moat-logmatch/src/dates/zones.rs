//! Time zone abbreviations and numeric offsets as they appear in logs.
//!
//! Abbreviations are fixed offsets (no daylight-saving switch: `CET` is
//! always +01:00), as in fail2ban.

/// Offsets in minutes east of UTC, by abbreviation.
const ABBREVIATIONS: &[(i32, &[&str])] = &[
    (-720, &["Y"]),
    (-660, &["X", "NUT", "SST"]),
    (-600, &["W", "CKT", "HAST", "HST", "TAHT", "TKT"]),
    (-570, &["MART", "MIT"]),
    (-540, &["V", "AKST", "GAMT", "GIT", "HADT", "HNY"]),
    (-480, &["U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"]),
    (-420, &["T", "HAP", "HNR", "MST", "PDT"]),
    (-360, &["S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"]),
    (
        -300,
        &[
            "R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET",
        ],
    ),
    (-270, &["HLV", "VET"]),
    (
        -240,
        &[
            "Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT",
        ],
    ),
    (-210, &["HNT", "NST", "NT"]),
    (
        -180,
        &[
            "P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT",
            "WGT",
        ],
    ),
    (-150, &["HAT", "NDT"]),
    (-120, &["O", "BRST", "FNT", "PMDT", "UYST", "WGST"]),
    (-60, &["N", "AZOT", "CVT", "EGT"]),
    (0, &["Z", "EGST", "GMT", "UTC", "WET", "WT"]),
    (60, &["A", "CET", "DFT", "WAT", "WEDT", "WEST"]),
    (120, &["B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"]),
    (180, &["C", "EAT", "EEDT", "EEST", "IDT", "MSK"]),
    (210, &["IRST"]),
    (
        240,
        &[
            "D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT",
        ],
    ),
    (270, &["AFT", "IRDT"]),
    (
        300,
        &[
            "E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT",
            "YEKT",
        ],
    ),
    (330, &["SLT"]),
    (345, &["NPT"]),
    (
        360,
        &[
            "F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST",
        ],
    ),
    (390, &["CCT", "MMT"]),
    (
        420,
        &[
            "G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB",
        ],
    ),
    (
        480,
        &[
            "H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT",
            "ULAT", "WITA", "WST",
        ],
    ),
    (
        540,
        &[
            "I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT",
        ],
    ),
    (570, &["ACST"]),
    (600, &["K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"]),
    (630, &["ACDT", "LHST"]),
    (
        660,
        &[
            "L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT",
        ],
    ),
    (690, &["NFT"]),
    (
        720,
        &[
            "M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT",
            "WFT",
        ],
    ),
    (780, &["FJST", "NZDT"]),
];

fn abbreviation(name: &str) -> Option<i32> {
    if name.is_empty() {
        return Some(0);
    }
    ABBREVIATIONS
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map(|(o, _)| *o)
}

/// The offset in minutes of a zone text such as `Z`, `UTC`, `+0200`,
/// `-05:30`, `+02`, `CEST` or `CET+0100`; `None` when unknown.
pub fn offset_minutes(text: &str) -> Option<i32> {
    let split = text.find(['+', '-']).unwrap_or(text.len());
    let (name, number) = text.split_at(split);
    let base = abbreviation(name)?;
    if number.is_empty() {
        return Some(base);
    }
    let sign = if number.starts_with('-') { -1 } else { 1 };
    let digits: String = number[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    Some(base + sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::offset_minutes;

    #[test]
    fn offsets() {
        assert_eq!(offset_minutes("Z"), Some(0));
        assert_eq!(offset_minutes("UTC"), Some(0));
        assert_eq!(offset_minutes("+0200"), Some(120));
        assert_eq!(offset_minutes("-05:30"), Some(-330));
        assert_eq!(offset_minutes("+02"), Some(120));
        assert_eq!(offset_minutes("CEST"), Some(120));
        assert_eq!(offset_minutes("CET+0100"), Some(120));
        assert_eq!(offset_minutes("NPT"), Some(345));
        assert_eq!(offset_minutes("XYZ"), None);
    }
}
