//! Port names (`ssh`, `http`, `imaps`) as /etc/services defines them, with the well-known
//! ones built in for hosts without that file.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Names every host knows, used when /etc/services lacks them.
const WELL_KNOWN: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("imap", 143),
    ("imap2", 143),
    ("https", 443),
    ("smtps", 465),
    ("submissions", 465),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("sieve", 4190),
];

/// name -> port from /etc/services (names and aliases, any protocol).
fn table() -> &'static HashMap<String, u16> {
    static TABLE: OnceLock<HashMap<String, u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: HashMap<String, u16> = WELL_KNOWN
            .iter()
            .map(|(n, p)| (n.to_string(), *p))
            .collect();
        let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some(port) = port.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                t.entry(n.to_string()).or_insert(port);
            }
        }
        t
    })
}

/// The port `name` stands for: a number or a service name.
pub(crate) fn port(name: &str) -> Option<u16> {
    name.parse::<u16>()
        .ok()
        .or_else(|| table().get(name).copied())
}

#[cfg(test)]
mod tests {
    use super::port;

    #[test]
    fn names_and_numbers() {
        assert_eq!(port("22"), Some(22));
        assert_eq!(port("ssh"), Some(22));
        assert_eq!(port("https"), Some(443));
        assert_eq!(port("no-such-service"), None);
        assert_eq!(port("70000"), None);
    }
}
