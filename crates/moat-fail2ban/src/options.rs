//! fail2ban's `name[opt=value, opt="value", opt='value'][more=...]` references to filters and
//! actions, lists of them in an `action` value, and its word lists (`ignoreip`).

use std::collections::BTreeMap;

/// A filter or action reference split into its name and its options, in written order.
pub(crate) type Reference = (String, Vec<(String, String)>);

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_opt_name(c: char) -> bool {
    is_word(c) || c == '-' || c == '.'
}

/// Splits `sshd[mode=aggressive, publickey=invalid]` into the name and its options, with
/// fail2ban's syntax: values plain (up to `,` or `]`), in double or single quotes; several
/// option groups `a[x=1][y=2]`; later options override earlier ones.
pub fn parse_filter_ref(text: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let (name, opts) = extract(text)?;
    Ok((name, opts.into_iter().collect()))
}

/// Like `parse_filter_ref`, keeping the options in written order (later duplicates replace
/// earlier ones in place).
pub(crate) fn extract(text: &str) -> Result<Reference, String> {
    // `^([^\[]+)(?:\[(.*)\])?\s*$`
    let name_end = text.find('[').unwrap_or(text.len());
    if name_end == 0 {
        return Err(format!("`{text}`: expected a name before `[`"));
    }
    let name = &text[..name_end];
    let rest = &text[name_end..];
    if rest.is_empty() {
        return Ok((name.to_string(), Vec::new()));
    }
    let trimmed = rest.trim_end();
    if !trimmed.ends_with(']') {
        return Err(format!(
            "`{text}`: options must be written as [name=value, ...] and end with `]`"
        ));
    }
    let inner = &trimmed[1..trimmed.len() - 1];
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    let chars: Vec<(usize, char)> = inner.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let byte = |i: usize| chars.get(i).map_or(inner.len(), |&(b, _)| b);
    let n = chars.len();
    loop {
        // Alternative A: \s*NAME=VALUE(,|\]\s*\[|$|wrong)
        let mut i = pos;
        while at(i).is_some_and(char::is_whitespace) {
            i += 1;
        }
        let name_start = i;
        while at(i).is_some_and(is_opt_name) {
            i += 1;
        }
        if i > name_start && at(i) == Some('=') {
            let key = inner[byte(name_start)..byte(i)].to_string();
            i += 1;
            let (value, after) = match at(i) {
                Some(q @ ('"' | '\'')) if (i + 1..n).any(|j| at(j) == Some(q)) => {
                    let close = (i + 1..n).find(|&j| at(j) == Some(q)).expect("checked");
                    (inner[byte(i + 1)..byte(close)].to_string(), close + 1)
                }
                _ => {
                    let mut j = i;
                    while at(j).is_some_and(|c| c != ',' && c != ']') {
                        j += 1;
                    }
                    (inner[byte(i)..byte(j)].to_string(), j)
                }
            };
            let next = match at(after) {
                Some(',') => after + 1,
                None => after,
                Some(']') => {
                    let mut k = after + 1;
                    while at(k).is_some_and(char::is_whitespace) {
                        k += 1;
                    }
                    if at(k) == Some('[') {
                        k + 1
                    } else {
                        return Err(wrong_after(text, &key, &inner[byte(after)..]));
                    }
                }
                Some(_) => return Err(wrong_after(text, &key, &inner[byte(after)..])),
            };
            let key = key.trim().to_string();
            let value = value.trim().to_string();
            match opts.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => opts.push((key, value)),
            }
            pos = next;
            if pos >= n {
                break;
            }
            continue;
        }
        // Alternative B: ,?\s*$
        let mut j = pos;
        if at(j) == Some(',') {
            j += 1;
        }
        while at(j).is_some_and(char::is_whitespace) {
            j += 1;
        }
        if j >= n {
            break;
        }
        // Alternative C: anything else is wrong.
        let bad: String = inner[byte(pos)..].chars().take(25).collect();
        return Err(format!(
            "`{text}`: expected an option `name=value` at `{bad}`"
        ));
    }
    Ok((name.to_string(), opts))
}

fn wrong_after(text: &str, key: &str, rest: &str) -> String {
    let bad: String = rest.chars().take(25).collect();
    format!("`{text}`: unexpected `{bad}` after option `{key}` (expected `,` or `]`)")
}

/// Splits an `action` value into its references, one per line or separated by blanks,
/// keeping `name[...]` groups whole even when their options span lines (fail2ban's
/// `splitWithOptions`).
pub(crate) fn split_references(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        // `[^\[\s]+` then optionally `\s*\[ ... \]`, followed by a blank or the end.
        let mut j = i;
        while j < n && chars[j] != '[' && !chars[j].is_whitespace() {
            j += 1;
        }
        let mut end = None;
        if j > i {
            let mut k = j;
            while k < n && chars[k].is_whitespace() {
                k += 1;
            }
            if k < n && chars[k] == '[' {
                let followed = |e: usize| e >= n || chars[e].is_whitespace();
                end = bracket(&chars, k + 1, &followed);
            }
            if end.is_none() && (j >= n || chars[j].is_whitespace()) {
                end = Some(j);
            }
        }
        let end = end.unwrap_or_else(|| {
            let mut e = i;
            while e < n && !chars[e].is_whitespace() {
                e += 1;
            }
            e
        });
        out.push(chars[i..end].iter().collect::<String>().trim().to_string());
        i = end;
    }
    out
}

/// Matches `\s*(?:NAME=(?:"..."|'...'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\]` from `i` with
/// backtracking in the regex's order; returns the end of the first match that `accept`s.
fn bracket(chars: &[char], i: usize, accept: &dyn Fn(usize) -> bool) -> Option<usize> {
    let n = chars.len();
    let mut k = i;
    while k < n && chars[k].is_whitespace() {
        k += 1;
    }
    let mut memo = vec![None; n + 1];
    items(chars, k, accept, &mut memo)
}

/// The repeated option items from `i`, then `]` (results memoised per position: the
/// outcome depends on the position only).
fn items(
    chars: &[char],
    i: usize,
    accept: &dyn Fn(usize) -> bool,
    memo: &mut [Option<Option<usize>>],
) -> Option<usize> {
    if let Some(r) = memo[i] {
        return r;
    }
    let r = items_uncached(chars, i, accept, memo);
    memo[i] = Some(r);
    r
}

fn items_uncached(
    chars: &[char],
    i: usize,
    accept: &dyn Fn(usize) -> bool,
    memo: &mut [Option<Option<usize>>],
) -> Option<usize> {
    let n = chars.len();
    // Greedy: try one more item first.
    let mut j = i;
    while j < n && is_opt_name(chars[j]) {
        j += 1;
    }
    if j > i && j < n && chars[j] == '=' {
        let v = j + 1;
        let mut value_ends = Vec::new();
        if v < n && (chars[v] == '"' || chars[v] == '\'') {
            let q = chars[v];
            if let Some(c) = (v + 1..n).find(|&c| chars[c] == q) {
                value_ends.push(c + 1);
            }
        }
        let mut u = v;
        while u < n && chars[u] != ',' && chars[u] != ']' {
            u += 1;
        }
        value_ends.push(u);
        for ve in value_ends {
            let mut k = ve;
            while k < n && chars[k].is_whitespace() {
                k += 1;
            }
            // Separator `,` or `]\s*[` (optional), then blanks.
            let mut seps = Vec::new();
            if k < n && chars[k] == ',' {
                seps.push(k + 1);
            } else if k < n && chars[k] == ']' {
                let mut m = k + 1;
                while m < n && chars[m].is_whitespace() {
                    m += 1;
                }
                if m < n && chars[m] == '[' {
                    seps.push(m + 1);
                }
            }
            seps.push(k);
            for s in seps {
                let mut m = s;
                while m < n && chars[m].is_whitespace() {
                    m += 1;
                }
                if let Some(e) = items(chars, m, accept, memo) {
                    return Some(e);
                }
            }
        }
    }
    if i < n && chars[i] == ']' && accept(i + 1) {
        return Some(i + 1);
    }
    None
}

/// Words separated by blanks, commas or newlines (fail2ban's `splitwords`).
pub(crate) fn split_words(value: &str) -> Vec<String> {
    value
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(s: &str) -> Vec<(String, String)> {
        extract(s).unwrap().1
    }

    #[test]
    fn options() {
        assert_eq!(extract("sshd").unwrap(), ("sshd".to_string(), vec![]));
        assert_eq!(
            ext("sshd[mode=aggressive, publickey=invalid]"),
            vec![
                ("mode".to_string(), "aggressive".to_string()),
                ("publickey".to_string(), "invalid".to_string())
            ]
        );
        assert_eq!(
            ext(r#"iptables-multiport[port="ssh,http", protocol='tcp', chain="<known/chain>"]"#),
            vec![
                ("port".to_string(), "ssh,http".to_string()),
                ("protocol".to_string(), "tcp".to_string()),
                ("chain".to_string(), "<known/chain>".to_string())
            ]
        );
        assert_eq!(ext("a[x=1][y=2]").len(), 2);
        assert_eq!(ext("a[x=1,]").len(), 1);
        assert_eq!(ext("a[x=1, x=2]"), vec![("x".to_string(), "2".to_string())]);
        assert!(extract("a[x=1").is_err());
        assert!(extract("a[x=\"1\" y]").is_err());
        assert!(extract("a[junk]").is_err());
        assert!(extract("[x=1]").is_err());
        let (_, m) = parse_filter_ref("sshd[mode=ddos]").unwrap();
        assert_eq!(m.get("mode").map(String::as_str), Some("ddos"));
    }

    #[test]
    fn references() {
        assert_eq!(
            split_references(
                "iptables[name=SSH, port=ssh]\n  sendmail-whois[name=SSH, dest=\"a b\"]"
            ),
            vec![
                "iptables[name=SSH, port=ssh]",
                "sendmail-whois[name=SSH, dest=\"a b\"]"
            ]
        );
        assert_eq!(
            split_references("a[x=1,\n y=2] b"),
            vec!["a[x=1,\n y=2]", "b"]
        );
        assert_eq!(split_references("a b\nc"), vec!["a", "b", "c"]);
        assert_eq!(split_references("a[x=1]y z"), vec!["a[x=1]y", "z"]);
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words("127.0.0.1/8 ::1, example.com\n10.0.0.0/8"),
            vec!["127.0.0.1/8", "::1", "example.com", "10.0.0.0/8"]
        );
    }
}
