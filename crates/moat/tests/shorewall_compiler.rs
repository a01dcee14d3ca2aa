//! Debian's Shorewall and Shorewall6, with moat's iptables as their
//! `IPTABLES`/`IP6TABLES`: the compiled firewall of a two-zone gateway
//! (DNAT, REDIRECT, masquerading, netmap, rate limits, connection limits,
//! time windows, marks, TCPMSS, CT helpers, accounting, a blacklist)
//! starts, probes the same capabilities, bans and lets in again at run
//! time, reloads, is saved, stopped, restored from its save and cleared
//! with the same output and the same iptables-save and ip6tables-save as
//! Shorewall on iptables-nft beside it, and its rules act on real
//! connections.
//!
//! Shorewall keeps its configuration in /etc/shorewall and its compiled
//! firewall and saves in /var/lib/shorewall: each run binds copies of
//! both over them in a private mount namespace, so nothing of it reaches
//! the host, and finds a `modprobe` that does nothing first on its PATH.

mod common;
mod containers_common;
mod daemon_common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{connects, moat_iptables_bin, text};
use containers_common::{oracle_namespace, save, tool_dirs, XTABLES_NFT};
use daemon_common::TempDir;
use moat_testnet::topology::{
    CLIENT_V4, CLIENT_V6, GATEWAY_LAN_IF, GATEWAY_LAN_V4, GATEWAY_LAN_V6, GATEWAY_WAN_IF,
    GATEWAY_WAN_V4, GATEWAY_WAN_V6, SERVER_V4, SERVER_V6,
};
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns, TcpServer, Topology};

/// Debian's Shorewall (IPv4).
const SHOREWALL: &str = "/usr/sbin/shorewall";

/// Debian's Shorewall6.
const SHOREWALL6: &str = "/usr/sbin/shorewall6";

/// Runs one product's commands (`$2...`; the product, shorewall or
/// shorewall6, is `$1`) with `$STATE/etc` over its configuration directory
/// and `$STATE/var` over its state directory, `$TOOLS` first on PATH. Each
/// command's output follows a `> command` line, and its status.
const SCRIPT: &str = r#"
set -e
product=$1
shift
mount --bind "$STATE/etc" "/etc/$product"
mount --bind "$STATE/var" "/var/lib/$product"
export PATH="$TOOLS:$PATH"
set +e
for command in "$@"; do
  echo "> $product $command"
  $product $command 2>&1
  echo "status $?"
done
"#;

/// One product's configuration for one namespace.
struct Shorewall<'a> {
    /// `shorewall` or `shorewall6`.
    product: &'static str,
    ns: &'a Netns,
    /// The iptables names the product runs.
    tools: &'a Path,
    /// The configuration and state copies.
    state: PathBuf,
}

impl<'a> Shorewall<'a> {
    /// A copy of Debian's /etc/PRODUCT in `dir`, the test's configuration
    /// files (tests/data/PRODUCT) over it, and the settings the test needs
    /// in PRODUCT.conf: iptables from `tools`, no log file to read, the
    /// dynamic blacklist, accounting and MSS clamping on.
    fn new(product: &'static str, ns: &'a Netns, tools: &'a Path, dir: &Path) -> Shorewall<'a> {
        let state = dir.join(format!("{product}-{}", ns.name()));
        let etc = state.join("etc");
        std::fs::create_dir_all(state.join("var")).unwrap();
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("/etc/{product}"))
            .arg(&etc)
            .status()
            .unwrap();
        assert!(copied.success());
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{product}"));
        for entry in std::fs::read_dir(data).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, etc.join(path.file_name().unwrap())).unwrap();
        }
        let iptables = match product {
            "shorewall" => ("IPTABLES", tools.join("iptables")),
            _ => ("IP6TABLES", tools.join("ip6tables")),
        };
        let settings = [
            (iptables.0, iptables.1.display().to_string()),
            ("LOGFILE", "/dev/null".to_string()),
            ("STARTUP_ENABLED", "Yes".to_string()),
            ("DYNAMIC_BLACKLIST", "Yes".to_string()),
            ("ACCOUNTING", "Yes".to_string()),
            ("CLAMPMSS", "Yes".to_string()),
        ];
        let conf = etc.join(format!("{product}.conf"));
        let mut text = std::fs::read_to_string(&conf).unwrap();
        for (key, value) in settings {
            let at = text
                .find(&format!("\n{key}="))
                .unwrap_or_else(|| panic!("{key} in {}", conf.display()));
            let end = at + 1 + text[at + 1..].find('\n').unwrap();
            text.replace_range(at + 1..end, &format!("{key}={value}"));
        }
        std::fs::write(&conf, text).unwrap();
        Shorewall {
            product,
            ns,
            tools,
            state,
        }
    }

    /// Runs `commands` in order; what the product printed, with the tools'
    /// directory written `TOOLS` and the names Shorewall draws at random
    /// hidden.
    fn run(&self, commands: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.ns.path().display()))
            .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", SCRIPT, "sh", self.product])
            .args(commands)
            .env("STATE", &self.state)
            .env("TOOLS", self.tools)
            .output()
            .expect("run shorewall");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = text(&out.stdout).replace(&self.tools.display().to_string(), "TOOLS");
        random_chains_hidden(&said)
    }
}

/// `text` with the chains Shorewall names by a random hash (`sha-lh-` or
/// `sha-rh-` and 20 hex digits) written `sha-lh-ID` and `sha-rh-ID`.
fn random_chains_hidden(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha-") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let hex = from.len().min(27);
        match from.get(7..hex) {
            Some(id) if id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                out.push_str(&from[..7]);
                out.push_str("ID");
                rest = &from[27..];
            }
            _ => {
                out.push_str("sha-");
                rest = &from[4..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The oracle's namespace with the gateway's interfaces (each a veth whose
/// peer stays there too) and addresses, which Shorewall's rules name.
fn oracle_gateway() -> Netns {
    let ns = oracle_namespace("shorewall-nft");
    let links = [
        (GATEWAY_LAN_IF, IpAddr::from(GATEWAY_LAN_V4), GATEWAY_LAN_V6),
        (GATEWAY_WAN_IF, IpAddr::from(GATEWAY_WAN_V4), GATEWAY_WAN_V6),
    ];
    for (name, v4, v6) in links {
        let peer = format!("{name}p");
        ns.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])
            .unwrap();
        ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", name])
            .unwrap();
        ns.ip(&["addr", "add", &format!("{v6}/64"), "dev", name, "nodad"])
            .unwrap();
        for link in [name, &peer] {
            ns.ip(&["link", "set", link, "up"]).unwrap();
        }
    }
    ns
}

/// Runs `commands` with Shorewall on moat and on iptables-nft: the same
/// output and the same saved rules.
fn same_as_oracle(moat: &Shorewall, oracle: &Shorewall, commands: &[&str]) -> String {
    let said = moat.run(commands);
    assert_eq!(said, oracle.run(commands), "{commands:?}");
    assert_eq!(
        random_chains_hidden(&save(moat.ns, moat.tools)),
        random_chains_hidden(&save(oracle.ns, oracle.tools)),
        "saved after {commands:?}"
    );
    said
}

#[test]
fn shorewall_runs_on_moat_as_on_iptables_nft() {
    if !require_programs_or_skip(
        &[SHOREWALL, SHOREWALL6, XTABLES_NFT],
        "shorewall shorewall6 iptables",
    ) || !require_root_or_skip()
    {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle_ns = oracle_gateway();
    let tmp = TempDir::new("shorewall");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let _open = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8080).unwrap();
    let _closed = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8081).unwrap();
    let _open6 = TcpServer::start(&lab.gateway, GATEWAY_LAN_V6, 8080).unwrap();
    let _closed6 = TcpServer::start(&lab.gateway, GATEWAY_LAN_V6, 8081).unwrap();
    let _forwarded = TcpServer::start(&lab.server, SERVER_V4, 8090).unwrap();
    let _forwarded6 = TcpServer::start(&lab.server, SERVER_V6, 8090).unwrap();

    for (product, lan, client, server) in [
        (
            "shorewall",
            IpAddr::from(GATEWAY_LAN_V4),
            IpAddr::from(CLIENT_V4),
            IpAddr::from(SERVER_V4),
        ),
        (
            "shorewall6",
            IpAddr::from(GATEWAY_LAN_V6),
            IpAddr::from(CLIENT_V6),
            IpAddr::from(SERVER_V6),
        ),
    ] {
        let moat = Shorewall::new(product, &lab.gateway, &moat_tools, &tmp.0);
        let oracle = Shorewall::new(product, &oracle_ns, &nft_tools, &tmp.0);
        let reached = |port| connects(&lab.client, lan, port);

        let said = same_as_oracle(&moat, &oracle, &["start", "show capabilities"]);
        assert!(said.contains("Running TOOLS/"), "{said}");
        assert!(reached(8080), "{product}: ACCEPT loc $FW tcp 8080");
        assert!(!reached(8081), "{product}: the policy rejects");
        // Nothing listens on the gateway's port 8000.
        assert!(reached(8000), "{product}: DNAT to {server} port 8090");

        same_as_oracle(&moat, &oracle, &[&format!("drop {client}")]);
        assert!(!reached(8080), "{product}: the client is dropped");
        same_as_oracle(&moat, &oracle, &[&format!("allow {client}"), "reload"]);
        assert!(reached(8080), "{product}: allowed again, after a reload");

        same_as_oracle(&moat, &oracle, &["save", "stop"]);
        assert!(
            reached(8081),
            "{product}: stopped, the stoppedrules let lan0 in"
        );
        same_as_oracle(&moat, &oracle, &["restore"]);
        assert!(!reached(8081), "{product}: restored from its save");
        assert!(reached(8080), "{product}: restored from its save");
        same_as_oracle(&moat, &oracle, &["clear"]);
        assert!(reached(8081), "{product}: cleared");
    }
}
