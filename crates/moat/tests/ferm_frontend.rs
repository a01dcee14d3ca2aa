//! Debian's ferm, which prefers the `iptables-legacy` tools, with moat's
//! iptables answering to those names: a gateway's configuration in ferm's
//! language (both families, every table, a forwarded port, recent, limit,
//! TCPMSS, marks, NOTRACK) is applied through iptables-legacy-restore, then
//! command by command (`--slow`), then flushed, with the same output and the
//! same iptables-save and ip6tables-save as ferm on iptables-nft beside it,
//! and the rules act on real connections.
//!
//! Each run happens in a private mount namespace where the program under
//! test is bound over /usr/sbin/xtables-legacy-multi, so every
//! `*tables-legacy*` name ferm finds runs it: moat-iptables, or for the
//! oracle a script that hands the same command to iptables-nft.

mod common;
mod containers_common;
mod daemon_common;

use std::path::Path;
use std::process::Command;

use common::{connects, moat_iptables_bin, text};
use containers_common::{oracle_namespace, save, tool_dirs, XTABLES_NFT};
use daemon_common::TempDir;
use moat_testnet::topology::{GATEWAY_LAN_V4, SERVER_V4};
use moat_testnet::{require_programs_or_skip, require_root_or_skip, Netns, TcpServer, Topology};

/// Debian's ferm.
const FERM: &str = "/usr/sbin/ferm";

/// Debian's legacy xtables program, whose names ferm runs.
const XTABLES_LEGACY: &str = "/usr/sbin/xtables-legacy-multi";

/// Runs ferm with `$@` after binding `$LEGACY` over xtables-legacy-multi;
/// its output follows a `> ferm ...` line, and its status.
const SCRIPT: &str = r#"
mount --bind "$LEGACY" /usr/sbin/xtables-legacy-multi || exit 1
echo "> ferm $*"
ferm "$@" 2>&1
echo "status $?"
"#;

/// The oracle's stand-in for xtables-legacy-multi: the command it was run
/// as, with `-legacy` made `-nft`, through iptables-nft.
const NFT_FOR_LEGACY: &str = "#!/bin/sh
name=$(basename \"$0\" | sed 's/-legacy/-nft/')
exec /usr/sbin/xtables-nft-multi \"$name\" \"$@\"
";

/// Runs ferm with `args` in `ns`, `legacy` answering to the legacy names;
/// what it printed.
fn ferm(ns: &Netns, legacy: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", SCRIPT, "sh"])
        .args(args)
        .env("LEGACY", legacy)
        .output()
        .expect("run ferm");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn ferm_runs_on_moat_as_on_iptables_nft() {
    if !require_programs_or_skip(&[FERM, XTABLES_LEGACY, XTABLES_NFT], "ferm iptables")
        || !require_root_or_skip()
    {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let oracle = oracle_namespace("ferm-nft");
    let tmp = TempDir::new("ferm");
    let (moat_tools, nft_tools) = tool_dirs(&tmp.0, moat_iptables_bin());
    let nft_for_legacy = tmp.0.join("nft-for-legacy");
    std::fs::write(&nft_for_legacy, NFT_FOR_LEGACY).unwrap();
    std::fs::set_permissions(
        &nft_for_legacy,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ferm/ferm.conf");
    let conf = conf.to_str().unwrap();
    let moat = Path::new(moat_iptables_bin());

    for args in [&[conf][..], &["--slow", conf], &["--flush", conf], &[conf]] {
        let said = ferm(&lab.gateway, moat, args);
        assert!(said.ends_with("status 0\n"), "{said}");
        assert_eq!(said, ferm(&oracle, &nft_for_legacy, args), "{args:?}");
        assert_eq!(
            save(&lab.gateway, &moat_tools),
            save(&oracle, &nft_tools),
            "saved after ferm {args:?}"
        );
    }
    let saved = save(&lab.gateway, &moat_tools);
    assert!(
        saved.contains("-A PREROUTING -i lan0 -p tcp -m tcp --dport 8000 -j DNAT --to-destination 10.99.2.2:8090"),
        "{saved}"
    );

    // ferm's rules, loaded by moat, act on connections from the LAN.
    let _open = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8080).unwrap();
    let _closed = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 8081).unwrap();
    let _forwarded = TcpServer::start(&lab.server, SERVER_V4, 8090).unwrap();
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "allowed on lan0"
    );
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 8081), "rejected");
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8000),
        "forwarded to the server's 8090"
    );
}
