//! Address lists in `-s` and `-d` (`-s 10.0.0.1,10.0.0.2`, or a host name
//! `/etc/hosts` gives several addresses): iptables makes one rule per
//! source and destination, sources outermost, in the order written, and
//! refuses `!` before a list.

use std::borrow::Cow;
use std::net::IpAddr;

use moat_model::Family;

use crate::command::CommandError;
use crate::rule::hostnames::named_addresses;
use crate::rule::values::masks_no_bits;
use crate::rule::values_taken;

/// The options whose value may be a comma-separated list of addresses.
const SOURCE: [&str; 3] = ["-s", "--source", "--src"];
const DESTINATION: [&str; 3] = ["-d", "--destination", "--dst"];

/// Where a list sits in the rule's words: the index of its value and the
/// addresses it names.
struct List<'a> {
    at: usize,
    addresses: Vec<Cow<'a, str>>,
}

/// The address list of the option `words[i]` (its value in the next
/// word), when it names more than one address.
fn list_at<'a>(words: &[&'a str], i: usize, family: Family) -> Option<List<'a>> {
    let at = i + 1;
    let value = *words.get(at)?;
    // Digits, dots, colons and a mask are numbers, never a name: the
    // common case, told apart without parsing.
    let numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'/'));
    if numeric {
        return None;
    }
    let addresses: Vec<Cow<'a, str>> = value
        .split(',')
        .flat_map(|item| host_copies(item, family))
        .collect();
    (addresses.len() > 1).then_some(List { at, addresses })
}

/// `item` (`ADDRESS[/MASK]`), or one copy per address when it is a name
/// that stands for several (see [`named_addresses`]).
fn host_copies(item: &str, family: Family) -> Vec<Cow<'_, str>> {
    let (host, mask) = match item.split_once('/') {
        Some((host, mask)) => (host, Some(mask)),
        None => (item, None),
    };
    // A name with a mask of no bits is ignored, as iptables ignores it.
    let addresses = match host.parse::<IpAddr>() {
        Err(_) if !masks_no_bits(item, family) => named_addresses(host, family),
        _ => Vec::new(),
    };
    if addresses.len() < 2 {
        return vec![Cow::Borrowed(item)];
    }
    addresses
        .iter()
        .map(|a| {
            Cow::Owned(match mask {
                Some(mask) => format!("{a}/{mask}"),
                None => a.to_string(),
            })
        })
        .collect()
}

/// The rules `words` stands for: itself, or one copy per combination of
/// the addresses its `-s` and `-d` lists name.
pub(crate) fn expand<'a>(
    words: &[&'a str],
    family: Family,
) -> Result<Vec<Vec<Cow<'a, str>>>, CommandError> {
    let (mut source, mut destination) = (None, None);
    // A negated -s or -d, of one address or of a list.
    let mut negated = None;
    let mut i = 0;
    while i < words.len() {
        // `--src=x` is no address option to iptables (the rule parser
        // says so).
        let word = words[i];
        let slot = if SOURCE.contains(&word) {
            Some(&mut source)
        } else if DESTINATION.contains(&word) {
            Some(&mut destination)
        } else {
            None
        };
        if let Some(slot) = slot {
            if i > 0 && words[i - 1] == "!" {
                negated = Some(word);
            }
            if let Some(list) = list_at(words, i, family) {
                *slot = Some(list);
            }
        }
        let takes = if word.starts_with('-') && !word.contains('=') {
            values_taken(word, &words[i + 1..])
        } else {
            0
        };
        i += 1 + takes;
    }
    if source.is_none() && destination.is_none() {
        return Ok(vec![words.iter().map(|&w| Cow::Borrowed(w)).collect()]);
    }
    // As iptables: no `!` on either address once one of them is a list.
    if let Some(option) = negated {
        let listed: Vec<String> = [&source, &destination]
            .into_iter()
            .flatten()
            .map(|l| l.addresses.join(","))
            .collect();
        return Err(CommandError::new(format!(
            "! not allowed with multiple source or destination IP addresses \
             (! {option} beside {}): write one rule per address",
            listed.join(" and ")
        )));
    }
    let choices = |list: &Option<List<'a>>| -> Vec<Option<(usize, Cow<'a, str>)>> {
        match list {
            Some(l) => l
                .addresses
                .iter()
                .map(|a| Some((l.at, a.clone())))
                .collect(),
            None => vec![None],
        }
    };
    let mut rules = Vec::new();
    for s in choices(&source) {
        for d in choices(&destination) {
            let mut copy: Vec<Cow<'a, str>> = words.iter().map(|&w| Cow::Borrowed(w)).collect();
            for (at, address) in [&s, &d].into_iter().flatten() {
                copy[*at] = address.clone();
            }
            rules.push(copy);
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    fn joined(s: &str) -> Vec<String> {
        expand(&words(s), Family::Ipv4)
            .unwrap()
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
        // iptables reads no `--src=` (the rule parser refuses it).
        assert_eq!(
            joined("--src=10.0.0.0/8,192.168.0.0/16 -j DROP"),
            ["--src=10.0.0.0/8,192.168.0.0/16 -j DROP"]
        );
        assert_eq!(joined("-s 1.2.3.4 -j DROP"), ["-s 1.2.3.4 -j DROP"]);
        // A comma in another option's value is not an address list.
        assert_eq!(
            joined("-m comment --comment -s,x -j DROP"),
            ["-m comment --comment -s,x -j DROP"]
        );
    }

    #[test]
    fn negated_lists_are_refused() {
        for rule in [
            "! -s 1.0.0.0/8,2.0.0.0/8 -j ACCEPT",
            // iptables refuses a negated single address beside a list too.
            "! -s 1.2.3.0/24 -d 5.5.5.5,6.6.6.6 -j DROP",
            "-s 5.5.5.5,6.6.6.6 ! -d 1.2.3.4 -j DROP",
        ] {
            let err = expand(&words(rule), Family::Ipv4).unwrap_err();
            assert!(
                err.message.contains("! not allowed"),
                "{rule}: {}",
                err.message
            );
        }
        assert_eq!(
            expand(&words("! -s 1.2.3.4 -d 5.5.5.5 -j DROP"), Family::Ipv4)
                .unwrap()
                .len(),
            1
        );
    }
}
