#!/usr/bin/env bash
# moat.toml apply time versus the equivalent iptables-restore file, side by side.
# A config with 1,000 port forwards and 100 balanced services (3 backends each)
# is applied with `moat apply`; the very same rules, as iptables-save text, are
# loaded with iptables-nft-restore (Debian's iptables 1.8.9) and with
# `moat iptables-restore`. Every measurement runs in a throwaway network
# namespace; the host's firewall is never touched. Usage: bash bench/config.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet -p moat
MOAT="$(bash scripts/bin-dir.sh)/moat"
TMP=$(mktemp -d)
NS="moatcfgbench$$"
REPEAT=${REPEAT:-5}
export MOAT_ETC="$TMP/etc" MOAT_SSHD_CONFIG=/nonexistent
unset SSH_CONNECTION

cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
fresh_ns() { ip netns del "$NS" 2>/dev/null || true; ip netns add "$NS"; }
in_ns() { ip netns exec "$NS" "$@"; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# The config: two zones, 1,000 port forwards, 100 balanced services.
{
  printf '[zones.wan]\ninterfaces = ["eth0"]\nmasquerade = true\n\n'
  printf '[zones.lan]\ninterfaces = ["eth1"]\nnetworks = ["10.1.0.0/16"]\ninput = "accept"\n\n'
  printf '[[forward]]\nfrom = "lan"\nto = "wan"\n\n[[service]]\nname = "ssh"\n\n'
  for i in $(seq 0 999); do
    printf '[[port_forward]]\nport = %d\nto = "10.1.%d.%d:%d"\nfrom = "wan"\n\n' $((20000 + i)) $((i / 250)) $((i % 250 + 1)) $((8000 + i % 100))
  done
  for i in $(seq 0 99); do
    printf '[[balance]]\nport = %d\nfrom = "wan"\nbackends = [{ to = "10.1.10.%d:80" }, { to = "10.1.11.%d:80", weight = 2 }, { to = "10.1.12.%d:80" }]\n\n' $((40000 + i)) $((i + 1)) $((i + 1)) $((i + 1))
  done
} > "$TMP/big.toml"

# The equivalent iptables-restore files: what moat compiles the config into.
fresh_ns
in_ns "$MOAT" apply --no-save "$TMP/big.toml" > /dev/null
in_ns "$MOAT" iptables-save | grep -v '^#' > "$TMP/big.v4"
in_ns "$MOAT" ip6tables-save | grep -v '^#' > "$TMP/big.v6"
rules=$(grep -c '^-A' "$TMP/big.v4" || true)
rules6=$(grep -c '^-A' "$TMP/big.v6" || true)

run_apply() { fresh_ns; local t; t=$(now_ns); in_ns "$MOAT" apply --no-save "$TMP/big.toml" > /dev/null 2>&1; ms_since "$t"; }
run_reapply() { local t; t=$(now_ns); in_ns "$MOAT" apply --no-save "$TMP/big.toml" > /dev/null 2>&1; ms_since "$t"; }
run_restore() {
  fresh_ns; local t; t=$(now_ns)
  in_ns "$1" < "$TMP/big.v4" > /dev/null 2>&1
  in_ns "$2" < "$TMP/big.v6" > /dev/null 2>&1
  ms_since "$t"
}
run_moat_restore() {
  fresh_ns; local t; t=$(now_ns)
  in_ns "$MOAT" iptables-restore < "$TMP/big.v4" > /dev/null 2>&1
  in_ns "$MOAT" ip6tables-restore < "$TMP/big.v6" > /dev/null 2>&1
  ms_since "$t"
}
run_check() { local t; t=$(now_ns); "$MOAT" check "$TMP/big.toml" > /dev/null 2>&1; ms_since "$t"; }

apply=$(for _ in $(seq "$REPEAT"); do run_apply; done | median)
reapply=$(for _ in $(seq "$REPEAT"); do run_reapply; done | median)
ipt=$(for _ in $(seq "$REPEAT"); do run_restore iptables-nft-restore ip6tables-nft-restore; done | median)
mrestore=$(for _ in $(seq "$REPEAT"); do run_moat_restore; done | median)
check=$(for _ in $(seq "$REPEAT"); do run_check; done | median)

echo "config: 1,000 port forwards + 100 balanced services (3 backends) = $rules IPv4 rules, $rules6 IPv6 rules"
echo "median of $REPEAT runs, each in a fresh network namespace"
printf '%-58s %8s ms\n' "moat apply big.toml (empty kernel, both families, 1 tx)" "$apply"
printf '%-58s %8s ms\n' "iptables-nft-restore + ip6tables-nft-restore, same rules" "$ipt"
printf '%-58s %8s ms\n' "moat iptables-restore + ip6tables-restore, same rules" "$mrestore"
printf '%-58s %8s ms\n' "moat apply big.toml again (no change)" "$reapply"
printf '%-58s %8s ms\n' "moat check big.toml (parse + compile, no kernel)" "$check"
