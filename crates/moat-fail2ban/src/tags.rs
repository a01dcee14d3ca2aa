//! `<name>` tags inside filter options replaced by other options' values, repeatedly, as
//! fail2ban's `substituteRecursiveTags` does (`<mdre-<mode>>` becomes `<mdre-normal>`, then
//! that option's value). Tags naming no option (`<HOST>`, `<F-USER>`) stay as they are.

use crate::config::OMap;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_REPLACE: usize = 25;

/// The next tag `<name>` (name: no space, `<` or `>`) at or after byte `from`:
/// (start, end, name).
fn next_tag(value: &str, from: usize) -> Option<(usize, usize, &str)> {
    let mut i = from;
    while let Some(off) = value.get(i..)?.find('<') {
        let start = i + off;
        let body = &value[start + 1..];
        let len = body.find([' ', '<', '>']).unwrap_or(body.len());
        if len > 0 && body[len..].starts_with('>') {
            return Some((start, start + 1 + len + 1, &body[..len]));
        }
        i = start + 1;
    }
    None
}

/// Replaces tags in every value of `tags` (in order, each seeing the values replaced so
/// far) until nothing changes. `ignore` names options neither replaced nor used;
/// `lookup` supplies values of tags that are not in `tags`.
pub(crate) fn substitute(
    tags: &mut OMap<String>,
    ignore: &[String],
    mut lookup: impl FnMut(&str) -> Result<Option<String>, String>,
) -> Result<(), String> {
    let mut done: Vec<String> = Vec::new();
    let mut counts: Vec<(String, OMap<usize>)> = Vec::new();
    loop {
        let mut again = false;
        let keys: Vec<String> = tags.keys().map(str::to_string).collect();
        for tag in keys {
            if ignore.contains(&tag) || done.contains(&tag) {
                continue;
            }
            let orig = tags.get(&tag).cloned().unwrap_or_default();
            let mut value = orig.clone();
            let mut rplc = counts
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let mut m = next_tag(&value, 0).map(|(s, e, n)| (s, e, n.to_string()));
            while let Some((start, end, rtag)) = m {
                if ignore.contains(&rtag) {
                    m = next_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                }
                if rtag == tag || rplc.get(&rtag).copied().unwrap_or(1) > MAX_REPLACE {
                    return Err(format!(
                        "option `{tag}` refers to itself through <{rtag}> and cannot be resolved"
                    ));
                }
                let repl = match tags.get(&rtag) {
                    Some(v) => Some(v.clone()),
                    None => lookup(&rtag)?,
                };
                let Some(repl) = repl else {
                    m = next_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                };
                value = value.replace(&format!("<{rtag}>"), &repl);
                let c = rplc.get(&rtag).copied().unwrap_or(0) + 1;
                rplc.insert(rtag, c);
                m = next_tag(&value, start).map(|(s, e, n)| (s, e, n.to_string()));
            }
            if value != orig {
                if next_tag(&value, 0).is_some() {
                    match counts.iter_mut().find(|(t, _)| *t == tag) {
                        Some(slot) => slot.1 = rplc,
                        None => counts.push((tag.clone(), rplc)),
                    }
                    again = true;
                }
                tags.insert(tag.clone(), value.clone());
            }
            if !value.contains('<') {
                done.push(tag);
            }
        }
        if !again {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, &str)]) -> OMap<String> {
        OMap(
            items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn nested_tags_and_lookup() {
        let mut t = map(&[
            ("failregex", "^a <mdre-<mode>> <HOST> <x>"),
            ("mode", "normal"),
        ]);
        substitute(&mut t, &[], |n| {
            Ok(match n {
                "mdre-normal" => Some("N<mode>".to_string()),
                _ => None,
            })
        })
        .unwrap();
        assert_eq!(t.get("failregex").unwrap(), "^a Nnormal <HOST> <x>");
    }

    #[test]
    fn self_reference_fails() {
        let mut t = map(&[("a", "x<a>")]);
        assert!(substitute(&mut t, &[], |_| Ok(None)).is_err());
        let mut t = map(&[("a", "<b>"), ("b", "<a>")]);
        assert!(substitute(&mut t, &[], |_| Ok(None)).is_err());
    }

    #[test]
    fn ignored_tags_stay() {
        let mut t = map(&[("a", "<b>"), ("b", "B")]);
        substitute(&mut t, &["b".to_string()], |_| Ok(None)).unwrap();
        assert_eq!(t.get("a").unwrap(), "<b>");
    }
}
