//! What the tests of container managers on moat share: the busybox
//! image's parts, directories of iptables names, an HTTP GET, and the
//! saved rules with the names those managers draw at random hidden.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use moat_testnet::Netns;

/// Debian's static busybox (package busybox-static): the containers' httpd.
pub const BUSYBOX: &str = "/bin/busybox";

/// Debian's iptables-nft, called by the oracle.
pub const XTABLES_NFT: &str = "/usr/sbin/xtables-nft-multi";

/// The page the containers serve.
pub const PAGE: &str = "served by the container\n";

/// The names a container manager calls, linked to `program`.
const NAMES: &[&str] = &[
    "iptables",
    "ip6tables",
    "iptables-save",
    "iptables-restore",
    "ip6tables-save",
    "ip6tables-restore",
];

/// The oracle's namespace: loopback up, forwarding on as in the gateway
/// (Docker sets FORWARD's policy to DROP only where it turns forwarding on
/// itself; ufw's status reads it).
pub fn oracle_namespace(role: &str) -> Netns {
    let ns = Netns::new(role).unwrap();
    ns.ip(&["link", "set", "lo", "up"]).unwrap();
    ns.sysctls(&[
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv6.conf.all.forwarding", "1"),
    ])
    .unwrap();
    ns
}

/// In `dir`, the directories of [`tools`] for moat's iptables (`moat`
/// the binary) and for Debian's iptables-nft.
pub fn tool_dirs(dir: &Path, moat: &str) -> (PathBuf, PathBuf) {
    (
        tools(&dir.join("moat-tools"), moat),
        tools(&dir.join("nft-tools"), XTABLES_NFT),
    )
}

/// A directory of links named as the iptables tools, to `program`, plus a
/// `modprobe` that does nothing, so the manager loads no kernel module
/// (br_netfilter) into the host.
pub fn tools(dir: &Path, program: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for name in NAMES {
        std::os::unix::fs::symlink(program, dir.join(name)).unwrap();
    }
    let modprobe = dir.join("modprobe");
    std::fs::write(&modprobe, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        &modprobe,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir.to_path_buf()
}

/// An HTTP GET of `/` from `ns` to `addr:port`: the body, or `None` when no
/// connection is made within a second.
pub fn fetch(ns: &Netns, addr: IpAddr, port: u16) -> Option<String> {
    ns.run(move || {
        let target = SocketAddr::new(addr, port);
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(1)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    })
    .unwrap()
}

/// A namespace's iptables-save and ip6tables-save through `tools`,
/// without comments and counters, with the names drawn at random hidden
/// (see [`random_names_hidden`]).
pub fn save(ns: &Netns, tools: &Path) -> String {
    ["iptables-save", "ip6tables-save"]
        .into_iter()
        .map(|program| save_of(ns, &tools.join(program)))
        .collect()
}

/// One save program's output, as [`save`] shows it.
fn save_of(ns: &Netns, program: &Path) -> String {
    let out = ns.exec(&[program]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = match line.split_once(" [") {
            Some((chain, _)) if line.starts_with(':') => chain,
            _ => line,
        };
        text.push_str(&random_names_hidden(line));
        text.push('\n');
    }
    text
}

/// `line` with Docker's bridge names (`br-` and 12 hex digits) written
/// `br-ID` and container ids (64 hex digits, in netavark's comments)
/// written `ID`.
fn random_names_hidden(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let hex = from.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 64 || (hex == 12 && out.ends_with("br-")) {
            out.push_str("ID");
        } else {
            out.push_str(&from[..hex.max(1)]);
        }
        rest = &from[hex.max(1)..];
    }
    out.push_str(rest);
    out
}
