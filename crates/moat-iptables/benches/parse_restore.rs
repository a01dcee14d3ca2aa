//! Times parsing and restoring (in memory, no kernel) a 100,000-rule
//! iptables-save file. Run: `cargo bench -p moat-iptables --bench parse_restore`.

use std::time::Instant;

use moat_iptables::save::{restore, RestoreOptions, SaveFile};
use moat_iptables::TableState;
use moat_model::Family;

fn generate(n: usize) -> String {
    let mut text =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..n {
        let (a, b, c, p) = ((i >> 16) & 255, (i >> 8) & 255, i & 255, 1024 + i % 60000);
        let line = match i % 4 {
            0 => format!("-A INPUT -s 10.{a}.{b}.{c}/32 -j DROP\n"),
            1 => format!("-A INPUT -p tcp -m tcp --dport {p} -j ACCEPT\n"),
            2 => format!(
                "-A INPUT -s 172.{}.{b}.0/24 -p udp -m udp --dport {p} -j ACCEPT\n",
                16 + a % 16
            ),
            _ => {
                format!("-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport {p} -j ACCEPT\n")
            }
        };
        text.push_str(&line);
    }
    text.push_str("COMMIT\n");
    text
}

fn main() {
    let n = 100_000;
    let text = generate(n);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let file = SaveFile::parse(&text).expect("generated file parses");
        let states = restore(&file, Family::Ipv4, RestoreOptions::default(), |stage| {
            Ok(TableState::empty(Family::Ipv4, stage))
        })
        .expect("generated file restores");
        let tables: Vec<_> = states.iter().map(TableState::to_table).collect();
        assert_eq!(tables[0].chains[0].rules.len(), n);
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "  parse + check + build model of {n} rules: {:.0} ms (best of 3)",
        best * 1000.0
    );
}
