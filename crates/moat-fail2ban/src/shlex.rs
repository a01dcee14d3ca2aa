//! Shell-like word splitting as Python's `shlex.split` (POSIX mode) does it, used for
//! `journalmatch` lines.

/// Splits `line` into words: blanks separate, `'...'` is literal, `"..."` allows `\"` and
/// `\\`, a backslash outside quotes escapes the next character.
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("no closing quotation".to_string()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("no closing quotation".to_string()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("no escaped character".to_string()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap(),
            vec!["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
        );
        assert_eq!(
            split(r#"A="x y" 'b c'd \e"#).unwrap(),
            vec!["A=x y", "b cd", "e"]
        );
        assert!(split("'open").is_err());
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
    }
}
