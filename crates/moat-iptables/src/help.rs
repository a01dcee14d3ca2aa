//! The help text of the iptables front-end: the commands, options, match
//! modules and targets it accepts.

use crate::rule::{MATCH_MODULES, TARGETS};

const COMMANDS: &str = "\
Commands (one per call):
  -A, --append CHAIN RULE           append a rule to CHAIN
  -I, --insert CHAIN [NUM] RULE     insert a rule at position NUM (default 1)
  -D, --delete CHAIN RULE|NUM       delete a rule, by its words or its number
  -R, --replace CHAIN NUM RULE      replace rule NUM
  -C, --check CHAIN RULE            exit 0 when the rule exists
  -F, --flush [CHAIN]               delete every rule (of CHAIN)
  -Z, --zero [CHAIN [NUM]]          zero packet and byte counters
  -N, --new-chain CHAIN             create a user chain
  -X, --delete-chain [CHAIN]        delete an empty user chain (every one without CHAIN)
  -E, --rename-chain OLD NEW        rename a user chain
  -P, --policy CHAIN ACCEPT|DROP    set a built-in chain's policy
  -L, --list [CHAIN [NUM]]          list rules as a table
  -S, --list-rules [CHAIN [NUM]]    list rules as iptables commands

Options:
  -t, --table TABLE                 filter (default), nat, mangle or raw
  -v, --verbose                     with -L: counters, interfaces and options
  -n, --numeric                     with -L: addresses and ports as numbers
  -x, --exact                       with -L: exact counter values
  --line-numbers                    with -L: rule numbers
  -w, --wait [SECONDS]              accepted; moat always waits for its own lock
  -W, --wait-interval USECONDS      accepted with -w and ignored, as in iptables
  -4, -6                            accepted and ignored

Rule:
  [!] -p, --protocol PROTO          tcp, udp, icmp, ... or a number
  [!] -s, --source ADDRESS[/MASK]   also a comma-separated list
  [!] -d, --destination ADDRESS[/MASK]
  [!] -i, --in-interface NAME       `eth+` matches every name starting with eth
  [!] -o, --out-interface NAME
  [!] -f, --fragment                second and later fragments
  -m, --match MODULE [OPTIONS]      a match module (below)
  -j, --jump TARGET [OPTIONS]       a target (below) or a user chain
  -g, --goto CHAIN                  go to a user chain (no return)
";

/// The help of `PROGRAM` (`iptables` or `ip6tables`): commands, options,
/// and the match modules and targets moat supports.
pub fn help_text(program: &str) -> String {
    format!(
        "Usage: {program} [-t TABLE] COMMAND [CHAIN] [RULE] [OPTIONS]\n\n{COMMANDS}\n\
         Match modules: {}\n\
         Targets: {}\n\n\
         The options of each module and target are iptables' own (man iptables-extensions).",
        MATCH_MODULES.join(", "),
        TARGETS.join(", ")
    )
}

/// What iptables' icmp match (ip6tables': icmp6, `v6`) adds to the help
/// when the command line names it before `-h` (`-p icmp`, `-m icmp`):
/// its options and the type names it knows, which firewalld reads to learn
/// which ICMP types it may block.
pub fn icmp_help(v6: bool) -> String {
    let head = if v6 {
        "icmpv6 match options:\n\
         [!] --icmpv6-type typename\tmatch icmpv6 type\n\
         \t\t\t\t(or numeric type or type/code)\n\
         Valid ICMPv6 Types:\n"
    } else {
        "icmp match options:\n\
         [!] --icmp-type typename\tmatch icmp type\n\
         [!] --icmp-type type[/code]\t(or numeric type or type/code)\n\
         Valid ICMP Types:\n"
    };
    format!("{head}{}", crate::rule::names::icmp_type_list(v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_every_command_module_and_target() {
        let text = help_text("iptables");
        for word in [
            "-A, --append",
            "-S, --list-rules",
            "-t, --table",
            "conntrack",
            "set",
            "MASQUERADE",
        ] {
            assert!(text.contains(word), "{word} missing from:\n{text}");
        }
    }
}
