//! The namespace's addresses and routes, as `moat explain` needs them for
//! the routing decision (read with `ip -j addr` and `ip -j route`).

use std::process::Command;

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use moat_explain::{HostView, LocalAddr, Route};
use serde::Deserialize;

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    local: std::net::IpAddr,
    broadcast: Option<std::net::IpAddr>,
}

#[derive(Deserialize)]
struct RouteEntry {
    dst: String,
    dev: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The addresses and main-table routes of the namespace moat runs in.
pub fn read() -> Result<HostView> {
    let links: Vec<Link> = ip_json(&["addr", "show"])?;
    let addresses = links
        .iter()
        .flat_map(|l| {
            l.addr_info.iter().map(|a| LocalAddr {
                iface: l.ifname.clone(),
                addr: a.local,
                broadcast: a.broadcast,
            })
        })
        .collect();
    let mut routes = Vec::new();
    for (family, default) in [("-4", "0.0.0.0/0"), ("-6", "::/0")] {
        let entries: Vec<RouteEntry> = ip_json(&[family, "route", "show", "table", "main"])?;
        for e in entries {
            let (Some(iface), None | Some("unicast")) = (e.dev, e.kind.as_deref()) else {
                continue;
            };
            let dst = if e.dst == "default" { default } else { &e.dst };
            let dest = match dst.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match dst.parse::<std::net::IpAddr>() {
                    Ok(addr) => IpNet::from(addr),
                    Err(_) => continue,
                },
            };
            routes.push(Route { dest, iface });
        }
    }
    Ok(HostView {
        addresses,
        routes,
        ipv4_forwarding: sysctl_on("/proc/sys/net/ipv4/ip_forward"),
        ipv6_forwarding: sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding"),
    })
}

/// Whether a 0/1 setting is on; `None` when it cannot be read.
fn sysctl_on(path: &str) -> Option<bool> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim() != "0")
}

fn ip_json<T: serde::de::DeserializeOwned>(args: &[&str]) -> Result<T> {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .context("cannot run ip")?;
    if !out.status.success() {
        bail!(
            "ip -j {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = if out.stdout.iter().all(u8::is_ascii_whitespace) {
        b"[]".as_slice()
    } else {
        &out.stdout
    };
    serde_json::from_slice(text).with_context(|| format!("cannot read ip -j {}", args.join(" ")))
}
