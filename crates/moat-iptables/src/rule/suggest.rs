//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let extending: Vec<&'a str> = candidates
        .iter()
        .copied()
        .filter(|c| lower.len() >= 3 && c.to_ascii_lowercase().starts_with(&lower))
        .collect();
    if let [only] = extending.as_slice() {
        return Some(only);
    }
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `; did you mean "x"?` for the closest candidate, or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match closest(word, candidates) {
        Some(c) => format!("; did you mean \"{c}\"?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_close_names_only() {
        let names = ["conntrack", "connmark", "connlimit", "comment"];
        assert_eq!(closest("conntract", names), Some("conntrack"));
        assert_eq!(closest("CONNTRACK", names), Some("conntrack"));
        assert_eq!(closest("xyz", names), None);
        assert_eq!(closest("warn", ["warning", "info"]), Some("warning"));
        assert_eq!(did_you_mean("coment", names), "; did you mean \"comment\"?");
        assert_eq!(did_you_mean("zzzzzzzz", names), "");
    }
}
