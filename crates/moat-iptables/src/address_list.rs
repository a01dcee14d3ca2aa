//! Address lists in `-s` and `-d` (`-s 10.0.0.1,10.0.0.2`): iptables makes
//! one rule per source and destination, sources outermost, in the order
//! written, and refuses `!` before a list.

use crate::command::CommandError;
use crate::rule::option_arity;

/// The options whose value may be a comma-separated list of addresses.
const SOURCE: [&str; 3] = ["-s", "--source", "--src"];
const DESTINATION: [&str; 3] = ["-d", "--destination", "--dst"];

/// Where a list sits in the rule's words: the index of its value and the
/// addresses it names.
struct List {
    at: usize,
    addresses: Vec<String>,
}

/// The address list of the option `words[i]` (its value in the next word
/// or after `=`), when it holds a comma.
fn list_at(words: &[String], i: usize) -> Option<List> {
    let word = &words[i];
    let (at, value) = match word.split_once('=') {
        Some((_, value)) => (i, value),
        None => (i + 1, words.get(i + 1)?.as_str()),
    };
    value.contains(',').then(|| List {
        at,
        addresses: value.split(',').map(str::to_string).collect(),
    })
}

/// The rules `words` stands for: one copy per combination of the
/// addresses its `-s` and `-d` lists name, or `None` when it has no list
/// and stands for itself.
pub(crate) fn expand(words: &[String]) -> Result<Option<Vec<Vec<String>>>, CommandError> {
    let (mut source, mut destination) = (None, None);
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        let name = word.split('=').next().unwrap_or(word);
        let slot = if SOURCE.contains(&name) {
            Some(&mut source)
        } else if DESTINATION.contains(&name) {
            Some(&mut destination)
        } else {
            None
        };
        if let Some(slot) = slot {
            if let Some(list) = list_at(words, i) {
                if i > 0 && words[i - 1] == "!" {
                    return Err(CommandError::new(format!(
                        "! not allowed with multiple source or destination IP addresses \
                         ({word} {}): write one rule per address",
                        list.addresses.join(",")
                    )));
                }
                *slot = Some(list);
            }
        }
        let takes = match (
            word.starts_with('-') && !word.contains('='),
            option_arity(name),
        ) {
            (true, Some(n)) => n,
            _ => 0,
        };
        i += 1 + takes;
    }
    if source.is_none() && destination.is_none() {
        return Ok(None);
    }
    let choices = |list: &Option<List>| match list {
        Some(l) => l
            .addresses
            .iter()
            .map(|a| Some((l.at, a.clone())))
            .collect(),
        None => vec![None],
    };
    let mut rules = Vec::new();
    for s in choices(&source) {
        for d in choices(&destination) {
            let mut copy = words.to_vec();
            for (at, address) in [&s, &d].into_iter().flatten() {
                copy[*at] = match copy[*at].split_once('=') {
                    Some((option, _)) => format!("{option}={address}"),
                    None => address.clone(),
                };
            }
            rules.push(copy);
        }
    }
    Ok(Some(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn joined(s: &str) -> Vec<String> {
        expand(&words(s))
            .unwrap()
            .unwrap_or_else(|| vec![words(s)])
            .into_iter()
            .map(|w| w.join(" "))
            .collect()
    }

    /// The order Debian's iptables 1.8.9 appends them in.
    #[test]
    fn lists_make_one_rule_per_pair_sources_first() {
        assert_eq!(
            joined("-s 1.2.3.4,5.6.7.8 -d 9.9.9.9,8.8.8.8 -p tcp --dport 22 -j ACCEPT"),
            [
                "-s 1.2.3.4 -d 9.9.9.9 -p tcp --dport 22 -j ACCEPT",
                "-s 1.2.3.4 -d 8.8.8.8 -p tcp --dport 22 -j ACCEPT",
                "-s 5.6.7.8 -d 9.9.9.9 -p tcp --dport 22 -j ACCEPT",
                "-s 5.6.7.8 -d 8.8.8.8 -p tcp --dport 22 -j ACCEPT",
            ]
        );
        assert_eq!(
            joined("--src=10.0.0.0/8,192.168.0.0/16 -j DROP"),
            ["--src=10.0.0.0/8 -j DROP", "--src=192.168.0.0/16 -j DROP"]
        );
        assert_eq!(expand(&words("-s 1.2.3.4 -j DROP")).unwrap(), None);
        // A comma in another option's value is not an address list.
        assert_eq!(
            expand(&words("-m comment --comment -s,x -j DROP")).unwrap(),
            None
        );
    }

    #[test]
    fn negated_lists_are_refused() {
        let err = expand(&words("! -s 1.0.0.0/8,2.0.0.0/8 -j ACCEPT")).unwrap_err();
        assert!(err.message.contains("! not allowed"), "{}", err.message);
    }
}
