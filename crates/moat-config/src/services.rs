//! Service names (`ssh`, `http`, ...) from /etc/services, with a built-in
//! fallback for systems without the file.

use crate::model::Proto;

/// Known services: name (and aliases) to port and protocols.
#[derive(Debug, Clone, Default)]
pub struct ServiceDb {
    entries: Vec<(String, u16, Proto)>,
}

const BUILTIN: &[(&str, u16, Proto)] = &[
    ("ftp", 21, Proto::Tcp),
    ("ssh", 22, Proto::Tcp),
    ("telnet", 23, Proto::Tcp),
    ("smtp", 25, Proto::Tcp),
    ("domain", 53, Proto::Tcp),
    ("domain", 53, Proto::Udp),
    ("dns", 53, Proto::Tcp),
    ("dns", 53, Proto::Udp),
    ("http", 80, Proto::Tcp),
    ("www", 80, Proto::Tcp),
    ("pop3", 110, Proto::Tcp),
    ("ntp", 123, Proto::Udp),
    ("imap", 143, Proto::Tcp),
    ("https", 443, Proto::Tcp),
    ("https", 443, Proto::Udp),
    ("submission", 587, Proto::Tcp),
    ("imaps", 993, Proto::Tcp),
    ("pop3s", 995, Proto::Tcp),
    ("openvpn", 1194, Proto::Udp),
    ("mysql", 3306, Proto::Tcp),
    ("postgresql", 5432, Proto::Tcp),
    ("http-alt", 8080, Proto::Tcp),
    ("wireguard", 51820, Proto::Udp),
];

impl ServiceDb {
    /// The built-in table only.
    pub fn builtin() -> Self {
        ServiceDb {
            entries: BUILTIN
                .iter()
                .map(|&(n, p, pr)| (n.to_string(), p, pr))
                .collect(),
        }
    }

    /// /etc/services (or the file in `MOAT_SERVICES`), then the built-in table.
    pub fn system() -> Self {
        let path = std::env::var("MOAT_SERVICES").unwrap_or_else(|_| "/etc/services".into());
        let mut db = std::fs::read_to_string(path)
            .map(|t| ServiceDb::parse(&t))
            .unwrap_or_default();
        db.entries.extend(ServiceDb::builtin().entries);
        db
    }

    /// The names and aliases of the known services.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _, _)| n.as_str())
    }

    /// Parses the text of an /etc/services file.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let proto = match proto {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => continue,
            };
            entries.push((name.to_string(), port, proto));
            for alias in words {
                entries.push((alias.to_string(), port, proto));
            }
        }
        ServiceDb { entries }
    }
}

/// The port and protocols of service `name` (the first port listed for it).
pub fn lookup(db: &ServiceDb, name: &str) -> Option<(u16, Vec<Proto>)> {
    let port = db
        .entries
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, p, _)| *p)?;
    let mut protos = Vec::new();
    for (n, p, proto) in &db.entries {
        if n == name && *p == port && !protos.contains(proto) {
            protos.push(*proto);
        }
    }
    Some((port, protos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_services_with_aliases_and_both_protocols() {
        let db = ServiceDb::parse(
            "ssh\t22/tcp\t# SSH\nhttp 80/tcp www\ndomain 53/tcp\ndomain 53/udp\nbad line\n",
        );
        assert_eq!(lookup(&db, "ssh"), Some((22, vec![Proto::Tcp])));
        assert_eq!(lookup(&db, "www"), Some((80, vec![Proto::Tcp])));
        assert_eq!(
            lookup(&db, "domain"),
            Some((53, vec![Proto::Tcp, Proto::Udp]))
        );
        assert_eq!(lookup(&db, "nope"), None);
    }
}
