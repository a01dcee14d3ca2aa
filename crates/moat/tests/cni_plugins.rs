//! The container network plugins (Debian's containernetworking-plugins:
//! bridge with host-local addresses and masquerading, portmap, firewall),
//! which run iptables through go-iptables, with moat's iptables first on
//! their PATH: a container's network is added, checked, deleted and
//! deleted again (a runtime's retry) with the same results and the same
//! iptables-save and ip6tables-save as the plugins on iptables-nft beside
//! them, and a real connection reaches the container through portmap's
//! DNAT.
//!
//! go-iptables tells a chain or rule that is not there by iptables' own
//! words (`No chain/target/match by that name.`, `Bad rule (does a
//! matching rule exist in that chain?).`): the bridge plugin's teardown
//! deletes a rule that may be gone, and failed on moat's own words.

mod common;
mod containers_common;
mod daemon_common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{connects, moat_iptables_bin};
use containers_common::{oracle_namespace, save, tool_dirs, XTABLES_NFT};
use daemon_common::TempDir;
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns, TcpServer, Topology};
use serde_json::{json, Value};

/// Where Debian installs the plugins.
const CNI_PATH: &str = "/usr/lib/cni";

/// The containers' network.
const SUBNET: &str = "10.88.0.0/24";

/// One host's container network: the host's namespace, the container's,
/// the iptables names the plugins find first on their PATH, and the
/// directory of host-local's address leases.
struct Network<'a> {
    host: &'a Netns,
    container: Netns,
    tools: &'a Path,
    leases: String,
}

impl Network<'_> {
    /// Runs plugin `kind` for `command` (ADD, CHECK, DEL) with `config`;
    /// its exit status and what it printed.
    fn plugin(&self, kind: &str, command: &str, config: &Value) -> (Option<i32>, String) {
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.tools.display());
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.host.name()])
            .arg(Path::new(CNI_PATH).join(kind))
            .env_clear()
            .env("PATH", path)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", "c0ffee")
            .env("CNI_NETNS", self.container.path())
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", CNI_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run a CNI plugin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(config.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        (out.status.code(), said.into_owned())
    }

    /// The bridge plugin's configuration: a bridge `cni0` as the
    /// containers' gateway, masquerading, host-local addresses.
    fn bridge(&self) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "moatnet",
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "ipMasq": true,
            "ipam": {
                "type": "host-local",
                "subnet": SUBNET,
                "dataDir": self.leases,
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        })
    }

    /// Runs `command` through the chain of plugins, as a runtime does:
    /// bridge, then portmap (port 8080 on every address to the container's
    /// 80, UDP 5353 on the gateway's address to its 53) and firewall, each
    /// given the bridge's result; what each returned and printed.
    fn run(&self, command: &str, added: &mut Option<Value>) -> Vec<(Option<i32>, String)> {
        let (status, said) = self.plugin("bridge", command, &self.bridge());
        if command == "ADD" {
            assert_eq!(status, Some(0), "{said}");
            *added = Some(serde_json::from_str(&said).expect("the bridge's result"));
        }
        let result = added.clone().expect("a network added first");
        let mut outcomes = vec![(status, said)];
        let portmap = json!({
            "cniVersion": "1.0.0",
            "name": "moatnet",
            "type": "portmap",
            "snat": true,
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": [
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                {"hostPort": 5353, "containerPort": 53, "protocol": "udp",
                 "hostIP": GATEWAY_LAN_V4.to_string()},
            ]},
            "prevResult": result,
        });
        let firewall = json!({
            "cniVersion": "1.0.0",
            "name": "moatnet",
            "type": "firewall",
            "backend": "iptables",
            "prevResult": result,
        });
        outcomes.push(self.plugin("portmap", command, &portmap));
        outcomes.push(self.plugin("firewall", command, &firewall));
        outcomes
    }
}

/// The container's address in the bridge plugin's result.
fn container_address(result: &Value) -> Ipv4Addr {
    let address = result["ips"][0]["address"].as_str().expect("an address");
    address.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn cni_plugins_run_on_moat_as_on_iptables_nft() {
    let plugins =
        ["bridge", "host-local", "portmap", "firewall"].map(|p| format!("{CNI_PATH}/{p}"));
    let needed: Vec<&str> = plugins.iter().map(String::as_str).collect();
    if !require_programs_or_skip(
        &[&needed[..], &[XTABLES_NFT]].concat(),
        "containernetworking-plugins iptables",
    ) || !require_root_or_skip()
    {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle_host = oracle_namespace("cni-nft");
    let tmp = TempDir::new("cni-plugins");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let network = |host, tools, name: &str| Network {
        host,
        container: Netns::new(&format!("cni-{name}")).unwrap(),
        tools,
        leases: tmp.0.join(format!("leases-{name}")).display().to_string(),
    };
    let moat = network(&lab.gateway, &moat_tools, "moat");
    let oracle = network(&oracle_host, &nft_tools, "nft");
    let (mut moat_added, mut oracle_added) = (None, None);

    for command in ["ADD", "CHECK", "DEL", "DEL", "ADD"] {
        let said = moat.run(command, &mut moat_added);
        let expected = oracle.run(command, &mut oracle_added);
        let statuses = |outcomes: &[(Option<i32>, String)]| {
            outcomes.iter().map(|(s, _)| *s).collect::<Vec<_>>()
        };
        assert_eq!(statuses(&said), statuses(&expected), "{command}: {said:?}");
        if command != "CHECK" {
            assert!(
                said.iter().all(|(s, _)| *s == Some(0)),
                "{command}: {said:?}"
            );
        }
        assert_eq!(
            save(moat.host, moat.tools),
            save(oracle.host, oracle.tools),
            "saved after {command}"
        );
    }
    // host-local gives the next address at each ADD.
    let container = container_address(moat_added.as_ref().unwrap());
    let saved = save(moat.host, moat.tools);
    assert!(
        saved.contains(&format!("-j DNAT --to-destination {container}:80")),
        "{saved}"
    );
    // A client reaches the container's server through the gateway's port.
    let _web = TcpServer::start(&moat.container, container, 80).unwrap();
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "portmap's DNAT"
    );
    let said = moat.run("DEL", &mut moat_added);
    assert!(said.iter().all(|(s, _)| *s == Some(0)), "{said:?}");
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 8080), "deleted");
}
