//! `moat lint` against the kernel (issue 14): random filter rulesets with
//! planted never-matching rules go into a gateway namespace, real TCP and
//! UDP packets from 31 client addresses to 11 ports pass through them, and
//! no rule that lint says never matches has counted a packet, while every
//! planted one is found.

mod common;
mod config_common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use common::Rng;
use config_common::{config_lab, moat, moat_ok};
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::Netns;
use socket2::{Domain, Protocol, Socket, Type};

/// One generated rule's conditions.
#[derive(Clone)]
struct Conds {
    proto: &'static str,
    src: (u8, u8),
    ports: (u16, u16),
    iface: Option<&'static str>,
}

impl Conds {
    fn random(r: &mut Rng) -> Conds {
        let len = [26, 27, 28, 29, 30, 32][r.below(6) as usize];
        let block = 1u16 << (32 - len);
        let base = 8 + r.below(40) as u16;
        let start = (base / block * block) as u8;
        let low = 1000 + r.below(11) as u16;
        let high = (low + r.below(4) as u16).min(1010);
        Conds {
            proto: ["tcp", "udp"][r.below(2) as usize],
            src: (start, len),
            ports: (low, high),
            iface: [None, None, Some("lan0"), Some("lan+"), Some("wan0")][r.below(5) as usize],
        }
    }

    /// Conditions that take a part of this rule's packets.
    fn narrower(&self, r: &mut Rng) -> Conds {
        let len = (self.src.1 + 1 + r.below(3) as u8).min(32);
        let size = 1u32 << (32 - self.src.1);
        let sub = 1u32 << (32 - len);
        let start = self.src.0 as u32 + r.below(u64::from(size / sub)) as u32 * sub;
        let low = self.ports.0 + r.below(u64::from(self.ports.1 - self.ports.0 + 1)) as u16;
        Conds {
            proto: self.proto,
            src: (start as u8, len),
            ports: (low, low + r.below(u64::from(self.ports.1 - low + 1)) as u16),
            iface: self
                .iface
                .or(Some("lan0"))
                .filter(|_| self.iface.is_some() || r.below(2) == 0),
        }
    }

    fn text(&self, verdict: &str) -> String {
        let iface = self.iface.map(|i| format!("-i {i} ")).unwrap_or_default();
        let ports = if self.ports.0 == self.ports.1 {
            self.ports.0.to_string()
        } else {
            format!("{}:{}", self.ports.0, self.ports.1)
        };
        format!(
            "-A INPUT {iface}-s 10.99.1.{}/{} -p {} --dport {ports} -j {verdict}",
            self.src.0, self.src.1, self.proto
        )
    }
}

/// A ruleset of about 40 rules and the (1-based) numbers of the planted
/// rules, each narrower than a terminal rule before it.
fn ruleset(seed: u64) -> (String, Vec<usize>) {
    let mut r = Rng(seed);
    let mut rules = Vec::new();
    let mut planted = Vec::new();
    while rules.len() < 40 {
        let c = Conds::random(&mut r);
        let verdict = ["ACCEPT", "DROP", "REJECT", "LOG"][r.below(4) as usize];
        rules.push(c.text(verdict));
        if verdict != "LOG" && r.below(3) == 0 {
            for _ in 0..r.below(3) {
                rules.push(c.text("LOG"));
            }
            rules.push(
                c.narrower(&mut r)
                    .text(["ACCEPT", "DROP"][r.below(2) as usize]),
            );
            planted.push(rules.len());
        }
    }
    let text = format!(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{}\nCOMMIT\n",
        rules.join("\n")
    );
    (text, planted)
}

/// One TCP SYN and one UDP datagram from each client address to each port.
fn send_everything(client: &Netns) {
    client
        .run(|| {
            let mut open = Vec::new();
            for host in 8..=48u8 {
                let from = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 99, 1, host), 0));
                for port in 1000..=1010u16 {
                    let to = SocketAddr::V4(SocketAddrV4::new(GATEWAY_LAN_V4, port));
                    for (ty, proto) in [(Type::STREAM, Protocol::TCP), (Type::DGRAM, Protocol::UDP)]
                    {
                        let s = Socket::new(Domain::IPV4, ty, Some(proto)).unwrap();
                        s.bind(&from.into()).unwrap();
                        s.set_nonblocking(true).unwrap();
                        if proto == Protocol::UDP {
                            s.send_to(b"x", &to.into()).unwrap();
                        } else {
                            let _ = s.connect(&to.into());
                        }
                        open.push(s);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        })
        .unwrap();
}

/// The packet counts of INPUT's rules, in order (from `iptables-save -c`).
fn counts(save: &str) -> Vec<u64> {
    save.lines()
        .filter(|l| l.contains("-A INPUT "))
        .map(|l| {
            let n = l.trim_start_matches('[').split(':').next().unwrap();
            n.parse().unwrap_or_else(|_| panic!("{l}"))
        })
        .collect()
}

#[test]
fn rules_lint_calls_never_matching_count_no_packet_and_planted_ones_are_found() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    for host in 8..=48 {
        lab.client
            .ip(&["addr", "add", &format!("10.99.1.{host}/24"), "dev", "eth0"])
            .unwrap();
    }
    let mut matched = 0;
    let mut never_total = 0;
    for seed in [0x9e3779b97f4a7c15, 0x2545f4914f6cdd1d, 0x1b873593] {
        let (text, planted) = ruleset(seed);
        let file = scratch.file("rules.v4", &text);
        moat_ok(&lab.gateway, &scratch, &["apply", file.to_str().unwrap()]);
        let out = moat(&lab.gateway, &scratch, &["lint", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let never: Vec<usize> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["chain"] == "INPUT"
                    && matches!(
                        f["kind"].as_str(),
                        Some("shadowed" | "conflicting" | "impossible")
                    )
            })
            .map(|f| f["rule"].as_u64().unwrap() as usize)
            .collect();
        for p in &planted {
            assert!(
                never.contains(p),
                "planted rule {p} not found:\n{text}\n{report:#}"
            );
        }
        assert_eq!(out.status.code(), Some(1), "findings make lint exit 1");

        send_everything(&lab.client);
        let counted = counts(&moat_ok(&lab.gateway, &scratch, &["iptables-save", "-c"]));
        for &n in &never {
            assert_eq!(
                counted[n - 1],
                0,
                "lint says rule {n} never matches, but the kernel counted packets:\n{text}\n{report:#}"
            );
        }
        matched += counted.iter().filter(|&&c| c > 0).count();
        never_total += never.len();
    }
    assert!(matched >= 30, "the traffic reached many rules ({matched})");
    assert!(
        never_total >= 6,
        "the rulesets had rules that never match ({never_total})"
    );
}
