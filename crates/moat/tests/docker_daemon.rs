//! A real Docker daemon (Debian's dockerd) with moat's iptables first on its
//! PATH sets up its chains for IPv4 and IPv6, publishes container ports
//! that real traffic reaches through the DNAT, resolves container names
//! through the rules it puts in each container's namespace, survives its
//! own restart and takes its rules away again; beside it the same daemon
//! with Debian's iptables-nft is the oracle, and the two iptables-save and
//! ip6tables-save outputs must be the same.

mod common;
mod containers_common;
mod daemon_common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use common::moat_iptables_bin;
use containers_common::{fetch, oracle_namespace, save, tool_dirs, BUSYBOX, PAGE, XTABLES_NFT};
use daemon_common::TempDir;
use moat_testnet::topology::{GATEWAY_LAN_V4, GATEWAY_LAN_V6};
use moat_testnet::{
    busybox_image, require_programs_or_skip, require_root_or_skip, Dockerd, Topology, DOCKERD,
};

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

/// The lab, when dockerd, the docker client and busybox are there; without
/// them the test is skipped, except under `CI=true`, where it fails.
fn docker_lab() -> Option<Topology> {
    let programs = [DOCKERD, "docker", BUSYBOX, XTABLES_NFT];
    if !require_programs_or_skip(&programs, "docker.io busybox-static iptables") {
        return None;
    }
    require_root_or_skip().then(|| Topology::gateway().unwrap())
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
fn publish(daemon: &Dockerd, image: &Path) {
    daemon.import(image, IMAGE).unwrap();
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

#[test]
fn a_real_docker_daemon_publishes_ports_through_moat() {
    let Some(lab) = docker_lab() else {
        return;
    };
    let oracle_ns = oracle_namespace("docker-nft");
    let tmp = TempDir::new("docker-daemon");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let (moat_dir, nft_dir) = (tmp.0.join("moat"), tmp.0.join("nft"));

    // Both daemons live in this thread: each dies with the thread that
    // started it.
    let mut daemon = Dockerd::start(&lab.gateway, &moat_tools, &moat_dir, DAEMON).unwrap();
    let mut oracle = Dockerd::start(&oracle_ns, &nft_tools, &nft_dir, DAEMON).unwrap();
    let image = busybox_image(&tmp.0, Path::new(BUSYBOX), &["sh", "httpd", "wget"], PAGE).unwrap();
    publish(&daemon, &image);
    publish(&oracle, &image);

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
