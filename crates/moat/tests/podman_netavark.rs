//! Debian's podman, whose netavark sets up container networks through
//! iptables, with moat's iptables first on its PATH: it publishes a port, a
//! range of ports (a DNAT port shift) and a port on 127.0.0.1 that real
//! connections reach, and removing a container takes its rules away; beside
//! it the same commands on Debian's iptables-nft are the oracle, and the
//! two iptables-save and ip6tables-save outputs must be the same.

mod common;
mod containers_common;
mod daemon_common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use common::moat_iptables_bin;
use containers_common::{fetch, oracle_namespace, save, tool_dirs, BUSYBOX, PAGE, XTABLES_NFT};
use daemon_common::TempDir;
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::{
    busybox_image, require_programs_or_skip, require_root_or_skip, Podman, Topology, PODMAN,
};

/// netavark, podman's network back-end.
const NETAVARK: &str = "/usr/lib/podman/netavark";

/// The image the test builds from busybox.
const IMAGE: &str = "moat-busybox";

/// What podman does in both namespaces: an image, a user network with
/// IPv6, and three web servers: one published on every address, one on a
/// range of ports (80-82 from 7000-7002: each port to its own), one on
/// 127.0.0.1.
fn publish(podman: &Podman, image: &Path) {
    podman
        .podman(&["import", &image.to_string_lossy(), IMAGE])
        .unwrap();
    podman
        .podman(&[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.89.7.0/24",
            "--subnet",
            "fd00:99::/64",
            "moatnet",
        ])
        .unwrap();
    // One mapping per container: netavark orders one container's
    // mappings as its hash map iterates, which differs from run to run.
    for (name, args) in [
        ("web", &["-p", "8080:80"][..]),
        ("range", &["--network", "moatnet", "-p", "7000-7002:80-82"]),
        (
            "local",
            &["--network", "moatnet", "-p", "127.0.0.1:9090:80"],
        ),
    ] {
        let mut argv = vec!["run", "-d", "--name", name];
        // This machine's runc may not raise the limits podman sets by
        // default; limits it can keep change nothing for the test.
        argv.extend([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]);
        argv.extend_from_slice(args);
        argv.extend([IMAGE, "/bin/httpd", "-f", "-p", "80", "-h", "/www"]);
        podman.podman(&argv).unwrap();
    }
}

#[test]
fn podman_publishes_ports_through_moat() {
    let programs = [PODMAN, NETAVARK, BUSYBOX, XTABLES_NFT];
    if !require_programs_or_skip(&programs, "podman netavark busybox-static iptables")
        || !require_root_or_skip()
    {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle_ns = oracle_namespace("podman-nft");
    let tmp = TempDir::new("podman-netavark");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let image = busybox_image(&tmp.0, Path::new(BUSYBOX), &["sh", "httpd"], PAGE).unwrap();
    let podman = Podman::new(&lab.gateway, &moat_tools, &tmp.0.join("moat")).unwrap();
    let oracle = Podman::new(&oracle_ns, &nft_tools, &tmp.0.join("nft")).unwrap();
    publish(&podman, &image);
    publish(&oracle, &image);

    let gateway: IpAddr = GATEWAY_LAN_V4.into();
    let page = Some(PAGE.to_string());
    assert_eq!(fetch(&lab.client, gateway, 8080), page, "a published port");
    assert_eq!(
        fetch(&lab.client, gateway, 7000),
        page,
        "the first port of the range reaches port 80"
    );
    assert_eq!(
        fetch(&lab.client, gateway, 7001),
        None,
        "the second reaches port 81, where nothing listens: a shift, not a range"
    );
    assert_eq!(
        fetch(&lab.gateway, Ipv4Addr::LOCALHOST.into(), 9090),
        page,
        "a port on 127.0.0.1"
    );
    let published = save(&lab.gateway, &moat_tools);
    assert!(
        published.contains("--dport 7000:7002 -j DNAT --to-destination 10.89.7.2:80-82/7000"),
        "{published}"
    );
    assert_eq!(published, save(&oracle_ns, &nft_tools));

    for p in [&podman, &oracle] {
        p.podman(&["rm", "--force", "--time", "0", "web"]).unwrap();
    }
    assert_eq!(fetch(&lab.client, gateway, 8080), None, "removed");
    let removed = save(&lab.gateway, &moat_tools);
    assert!(!removed.contains("--dport 8080"), "{removed}");
    assert_eq!(removed, save(&oracle_ns, &nft_tools));
}
