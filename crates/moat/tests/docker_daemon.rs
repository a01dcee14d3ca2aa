//! A real Docker daemon (Debian's dockerd) with moat's iptables first on its
//! PATH sets up its chains for IPv4 and IPv6, publishes container ports
//! that real traffic reaches through the DNAT, resolves container names
//! through the rules it puts in each container's namespace, survives its
//! own restart and takes its rules away again; beside it the same daemon
//! with Debian's iptables-nft is the oracle, and the two iptables-save and
//! ip6tables-save outputs must be the same.

mod common;
mod daemon_common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::moat_iptables_bin;
use daemon_common::TempDir;
use moat_testnet::topology::{GATEWAY_LAN_V4, GATEWAY_LAN_V6};
use moat_testnet::{
    require_programs_or_skip, require_root_or_skip, Dockerd, Netns, Topology, DOCKERD,
};

/// Debian's static busybox (package busybox-static): the containers' httpd.
const BUSYBOX: &str = "/bin/busybox";

/// Debian's iptables-nft, called by the oracle daemon.
const XTABLES_NFT: &str = "/usr/sbin/xtables-nft-multi";

/// The page the containers serve.
const PAGE: &str = "served by the container\n";

/// The image the test builds from busybox.
const IMAGE: &str = "moat-busybox";

/// The daemons' options: IPv6 on the default bridge and ip6tables rules
/// (experimental in Docker 20.10).
const DAEMON: &[&str] = &[
    "--experimental",
    "--ipv6",
    "--fixed-cidr-v6=fd00:d0c::/64",
    "--ip6tables",
];

/// The names a daemon calls, linked to `program`.
const NAMES: &[&str] = &[
    "iptables",
    "ip6tables",
    "iptables-save",
    "iptables-restore",
    "ip6tables-save",
    "ip6tables-restore",
];

/// The lab, when dockerd, the docker client and busybox are there; without
/// them the test is skipped, except under `CI=true`, where it fails.
fn docker_lab() -> Option<Topology> {
    let programs = [DOCKERD, "docker", BUSYBOX, XTABLES_NFT];
    if !require_programs_or_skip(&programs, "docker.io busybox-static iptables") {
        return None;
    }
    require_root_or_skip().then(|| Topology::gateway().unwrap())
}

/// A directory of links named as the iptables tools, to `program`, plus a
/// `modprobe` that does nothing, so the daemon loads no kernel module
/// (br_netfilter) into the host.
fn tools(dir: &Path, program: &str) -> PathBuf {
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

/// One web server container: `docker run -d --name NAME ARGS... httpd`.
fn run_httpd(daemon: &Dockerd, name: &str, args: &[&str]) {
    let mut argv = vec!["run", "-d", "--name", name];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[IMAGE, "/bin/httpd", "-f", "-p", "80", "-h", "/www"]);
    daemon
        .docker(&argv)
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_tail()));
}

/// What a daemon does in both namespaces: an image, a user network, and
/// three containers: one published on every address, one on 127.0.0.1
/// with a UDP port beside, and one published nowhere.
fn publish(daemon: &Dockerd) {
    daemon
        .import_busybox(IMAGE, Path::new(BUSYBOX), &["sh", "httpd", "wget"], PAGE)
        .unwrap();
    daemon
        .docker(&["network", "create", "--subnet", "172.30.0.0/24", "moatnet"])
        .unwrap();
    run_httpd(daemon, "web", &["-p", "8080:80"]);
    run_httpd(
        daemon,
        "local",
        &[
            "--network",
            "moatnet",
            "-p",
            "127.0.0.1:9090:80",
            "-p",
            "8443:80/udp",
        ],
    );
    run_httpd(daemon, "peer", &["--network", "moatnet"]);
}

/// The page `peer` serves, fetched inside the container `local` by name:
/// Docker's embedded DNS answers at 127.0.0.11 through the DNAT and SNAT
/// rules it puts into the container's own namespace with iptables.
fn fetch_by_name(daemon: &Dockerd) -> String {
    daemon
        .docker(&[
            "exec",
            "local",
            "/bin/wget",
            "-q",
            "-O",
            "-",
            "http://peer/",
        ])
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_tail()))
}

/// An HTTP GET of `/` from `ns` to `addr:port`: the body, or `None` when no
/// connection is made within a second.
fn fetch(ns: &Netns, addr: IpAddr, port: u16) -> Option<String> {
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
/// without comments and counters, with Docker's bridge names (`br-` and 12
/// random hex digits) written `br-ID`.
fn save(ns: &Netns, tools: &Path) -> String {
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
        text.push_str(&bridge_names_hidden(line));
        text.push('\n');
    }
    text
}

/// `line` with every `br-` followed by 12 hex digits written `br-ID`.
fn bridge_names_hidden(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("br-") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let id = &from[3..];
        let hex = id.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 12 {
            out.push_str("br-ID");
            rest = &id[12..];
        } else {
            out.push_str("br-");
            rest = id;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_real_docker_daemon_publishes_ports_through_moat() {
    let Some(lab) = docker_lab() else {
        return;
    };
    let oracle_ns = Netns::new("docker-nft").unwrap();
    oracle_ns.ip(&["link", "set", "lo", "up"]).unwrap();
    // Forwarding on, as in the gateway: Docker sets FORWARD's policy to
    // DROP only where it turns forwarding on itself.
    oracle_ns
        .sysctls(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
        ])
        .unwrap();
    let tmp = TempDir::new("docker-daemon");
    let moat_tools = tools(&tmp.0.join("moat-tools"), moat_iptables_bin());
    let nft_tools = tools(&tmp.0.join("nft-tools"), XTABLES_NFT);
    let (moat_dir, nft_dir) = (tmp.0.join("moat"), tmp.0.join("nft"));

    // Both daemons live in this thread: each dies with the thread that
    // started it.
    let mut daemon = Dockerd::start(&lab.gateway, &moat_tools, &moat_dir, DAEMON).unwrap();
    let mut oracle = Dockerd::start(&oracle_ns, &nft_tools, &nft_dir, DAEMON).unwrap();
    publish(&daemon);
    publish(&oracle);

    let gateway: IpAddr = GATEWAY_LAN_V4.into();
    let loopback: IpAddr = Ipv4Addr::LOCALHOST.into();
    let page = Some(PAGE.to_string());
    assert_eq!(
        fetch(&lab.client, gateway, 8080),
        page,
        "the client reaches the container through the published port"
    );
    assert_eq!(
        fetch(&lab.client, GATEWAY_LAN_V6.into(), 8080),
        page,
        "the client reaches the container over IPv6 too"
    );
    assert_eq!(
        fetch(&lab.gateway, loopback, 9090),
        page,
        "the host reaches the container published on 127.0.0.1"
    );
    assert_eq!(
        fetch(&lab.client, gateway, 9090),
        None,
        "a port published on 127.0.0.1 is not forwarded from outside"
    );
    assert_eq!(fetch_by_name(&daemon), PAGE);
    let published = save(&lab.gateway, &moat_tools);
    for rule in [
        "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:d0c::242:ac11:2]:80",
    ] {
        assert!(published.contains(rule), "{rule} in:\n{published}");
    }
    assert_eq!(published, save(&oracle_ns, &nft_tools));

    // The daemon restarted (its containers stopped first, as an upgrade
    // does) finds its chains and rules in place; the containers started
    // again are published again.
    for (d, ns, tools, dir) in [
        (&mut daemon, &lab.gateway, &moat_tools, &moat_dir),
        (&mut oracle, &oracle_ns, &nft_tools, &nft_dir),
    ] {
        d.docker(&["stop", "--time", "0", "web", "local", "peer"])
            .unwrap();
        d.stop().unwrap();
        *d = Dockerd::start(ns, tools, dir, DAEMON).unwrap();
        d.docker(&["start", "web", "local", "peer"])
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail()));
    }
    assert_eq!(fetch(&lab.client, gateway, 8080), page, "after a restart");
    assert_eq!(fetch(&lab.gateway, loopback, 9090), page, "after a restart");
    assert_eq!(fetch_by_name(&daemon), PAGE, "after a restart");
    let restarted = save(&lab.gateway, &moat_tools);
    assert_eq!(restarted, save(&oracle_ns, &nft_tools));

    // Removing a container takes its port away.
    for d in [&daemon, &oracle] {
        d.docker(&["rm", "-f", "web"]).unwrap();
    }
    assert_eq!(
        fetch(&lab.client, gateway, 8080),
        None,
        "the removed container's port is closed"
    );
    assert_eq!(fetch(&lab.gateway, loopback, 9090), page);
    let removed = save(&lab.gateway, &moat_tools);
    assert!(!removed.contains("--dport 8080"), "{removed}");
    assert_eq!(removed, save(&oracle_ns, &nft_tools));
}
