//! `moat trace` (issue 12) on a real port forward: a connection from the
//! client through the gateway's DNAT shows the nat rule, the rewrite and
//! the FORWARD accept, in iptables terms; the marking table is gone after.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{connects_quickly, gateway_lab, iptables_all, moat_bin, moat_ok, text};
use moat_testnet::topology::{GATEWAY_LAN_V4, SERVER_V4};
use moat_testnet::{tcp_connect, Netns, TcpServer};

/// Kills the `moat trace` process when the test ends, also on a failed assertion.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `moat trace ARGS --count 1` on the gateway while `traffic` runs
/// (after the trace says it follows) and returns what it printed.
fn one_packet_traced(gateway: &Netns, args: &[&str], traffic: impl FnOnce()) -> String {
    let mut trace = Reaped(
        Command::new("ip")
            .args(["netns", "exec", gateway.name(), moat_bin(), "trace"])
            .args(args)
            .args(["--count", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait until it follows (it says so on stderr), then send.
    let mut stderr = trace.0.stderr.take().unwrap();
    let mut said = [0u8; 256];
    let n = stderr.read(&mut said).unwrap();
    assert!(
        text(&said[..n]).contains("following"),
        "{}",
        text(&said[..n])
    );
    std::thread::sleep(Duration::from_millis(300));
    traffic();
    let start = Instant::now();
    while trace.0.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = trace.0.kill();
            panic!("moat trace did not end after one packet");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    trace
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(trace.0.wait().unwrap().success(), "{out}");
    out
}

#[test]
fn trace_shows_the_dnat_rule_the_rewrite_and_the_forward_accept() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap();
    iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-t nat -A PREROUTING -d 10.99.1.1 -p tcp --dport 80 -j DNAT --to-destination 10.99.2.2:8080",
            "-P FORWARD DROP",
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A FORWARD -d 10.99.2.2 -p tcp --dport 8080 -j ACCEPT",
        ],
    );
    let out = one_packet_traced(&lab.gateway, &["--proto", "tcp", "--dport", "80"], || {
        let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V4, 80).unwrap();
        assert_eq!(outcome.banner(), Some("10.99.2.2:8080"));
    });
    assert!(out.starts_with("packet 1: tcp 10.99.1.2:"), "{out}");
    assert!(
        out.contains("nat PREROUTING rule 1 (-d 10.99.1.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.99.2.2:8080) -> ACCEPT"),
        "{out}"
    );
    assert!(
        out.contains("rewritten by NAT: dst 10.99.2.2, dport 8080"),
        "{out}"
    );
    assert!(
        out.contains("filter FORWARD rule 2 (-d 10.99.2.2/32 -p tcp -m tcp --dport 8080 -j ACCEPT) -> ACCEPT"),
        "{out}"
    );
    let tables = moat_ok(&lab.gateway, &["iptables", "-S"]);
    assert!(!tables.is_empty());
    let listing = lab.gateway.exec_ok(&["nft", "list", "tables"]).unwrap();
    assert!(!listing.contains("moat_trace"), "{listing}");
}

/// A TPROXY rule's verdict is that of the chain bound to it (nft writes the
/// rule over several lines and cannot name the chain's rules): with no
/// transparent socket on the gateway, the connection is dropped there.
#[test]
fn trace_shows_the_verdict_of_a_tproxy_rule() {
    let Some(lab) = gateway_lab() else { return };
    let tproxy =
        "-p tcp -m tcp --dport 80 -j TPROXY --on-port 3128 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1";
    iptables_all(
        &lab.gateway,
        "iptables",
        &[&format!("-t mangle -A PREROUTING {tproxy}")],
    );
    let out = one_packet_traced(&lab.gateway, &["--proto", "tcp", "--dport", "80"], || {
        assert!(!connects_quickly(&lab.client, SERVER_V4, 80));
    });
    assert!(
        out.contains(&format!("mangle PREROUTING rule 1 ({tproxy}) -> DROP")),
        "{out}"
    );
    assert!(!out.contains("__chain"), "{out}");
}
