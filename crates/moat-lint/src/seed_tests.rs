//! The rulesets of the seed articles in /work/shared/seeds, as a whole:
//! exactly the expected findings, nothing else.

use crate::testkit::lint_text;
use crate::FindingKind::{self, *};

fn summary(text: &str) -> Vec<(FindingKind, String, usize)> {
    lint_text(text)
        .into_iter()
        .map(|f| (f.kind, f.chain, f.rule))
        .collect()
}

#[test]
fn seed_004_gateway_with_port_forward() {
    let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A POSTROUTING -o eth0 -j MASQUERADE\n\
        -A PREROUTING -i eth0 -p tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80\n\
        COMMIT\n\
        *filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n\
        -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
        -A INPUT -p icmp -j ACCEPT\n\
        -A INPUT -i lo -j ACCEPT\n\
        -A INPUT -m state --state NEW -m tcp -p tcp --dport 22 -j ACCEPT\n\
        -A INPUT -m state --state NEW -m tcp -p tcp --dport 7070 -j ACCEPT\n\
        -A INPUT -j REJECT --reject-with icmp-host-prohibited\n\
        -A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
        -A FORWARD -p icmp -j ACCEPT\n\
        -A FORWARD -i lo -j ACCEPT\n\
        -A FORWARD -m state --state NEW -m tcp -p tcp -d 192.168.1.43 --dport 80 -j ACCEPT\n\
        -A FORWARD -j REJECT --reject-with icmp-host-prohibited\n\
        COMMIT\n";
    assert_eq!(
        summary(text),
        vec![(NoEstablishedAccept, "OUTPUT".to_string(), 0)]
    );
    let wrong_port = text.replace("-d 192.168.1.43 --dport 80", "-d 192.168.1.43 --dport 8080");
    assert_eq!(
        summary(&wrong_port),
        vec![
            (NoEstablishedAccept, "OUTPUT".to_string(), 0),
            (DnatNotForwarded, "PREROUTING".to_string(), 1)
        ]
    );
}

#[test]
fn seed_004_as_written_has_drop_policies_in_nat() {
    let text = "*nat\n:PREROUTING DROP [0:0]\n:OUTPUT DROP [0:0]\n:POSTROUTING DROP [0:0]\n\
        -A POSTROUTING -o eth0 -j MASQUERADE\n\
        -A PREROUTING -i eth0 -p tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80\n\
        COMMIT\n";
    assert_eq!(
        summary(text),
        vec![
            (NatDropPolicy, "PREROUTING".to_string(), 0),
            (NatDropPolicy, "OUTPUT".to_string(), 0),
            (NatDropPolicy, "POSTROUTING".to_string(), 0),
        ]
    );
}

#[test]
fn seed_003_stateful_host() {
    let text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT ! -i eth0 -j ACCEPT\n\
        -A INPUT -p tcp --dport 22 -j ACCEPT\n\
        -A INPUT -p tcp --dport 80 -j ACCEPT\n\
        -A INPUT -i eth0 -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
        -A INPUT -p icmp -j ACCEPT\n\
        -A FORWARD -i eth0 ! -o eth0 -j DROP\n\
        COMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A PREROUTING -i eth0 -p tcp --dport 221 -j DNAT --to-destination 192.168.125.22:22\n\
        -A PREROUTING -p tcp --dport 26 -j REDIRECT --to-ports 25\n\
        -A POSTROUTING -o eth0 -j MASQUERADE\n\
        COMMIT\n";
    assert_eq!(summary(text), vec![]);
}

#[test]
fn seed_002_tutorial_mistakes() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -p tcp --dport 5432 -j ACCEPT\n\
        -A INPUT -p tcp --dport 22 -j ACCEPT\n\
        -A INPUT -j DROP\n\
        -A INPUT -p tcp --dport 8080 -j ACCEPT\n\
        -A OUTPUT -d 192.168.0.0/24 -p tcp --dport 443 -j ACCEPT\n\
        -A OUTPUT -d 192.168.0.1 -p udp --dport 53 -j ACCEPT\n\
        -A OUTPUT -j REJECT\n\
        COMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A PREROUTING -p tcp -d 192.168.0.4 --dport 80 -m statistic --mode random --probability 0.33 -j DNAT --to-destination 10.10.7.14:8080\n\
        -A PREROUTING -p tcp -d 192.168.0.4 --dport 80 -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.10.7.15:8080\n\
        -A PREROUTING -p tcp -d 192.168.0.4 --dport 80 -j DNAT --to-destination 10.10.7.16:8080\n\
        -A PREROUTING -d 192.168.0.6 -p tcp --dport 80 -j DNAT --to-destination 127.0.0.1:8080\n\
        COMMIT\n";
    assert_eq!(summary(text), vec![(Shadowed, "INPUT".to_string(), 4)]);
}
