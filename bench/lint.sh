#!/usr/bin/env bash
# Lint and explain (issue 14): `moat lint FILE` and `moat explain
# --ruleset FILE` (one packet that walks INPUT into a zone chain) on
# generated iptables-save files of
# 1,000 and 10,000 filter rules spread over hundreds of user chains (a
# zone chain per source network, jumped to from INPUT and FORWARD, each
# with port rules, some shadowed), beside reading the same file with
# Debian's `iptables-nft-restore --test` (parsing only, no analysis) for
# scale. Nothing touches the kernel's ruleset. Usage: bash bench/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
MOAT="$(bash scripts/bin-dir.sh)/moat"
TMP=$(mktemp -d)
NS="moatlint$$"
REPEAT=5
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
ip netns add "$NS"; ip -n "$NS" link set lo up

gen() { # gen RULES CHAINS > file
  awk -v n="$1" -v c="$2" 'BEGIN {
    srand(7); print "*filter"; print ":INPUT DROP [0:0]"; print ":FORWARD DROP [0:0]"; print ":OUTPUT ACCEPT [0:0]";
    for (i = 0; i < c; i++) printf ":zone%d - [0:0]\n", i;
    print "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
    print "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
    for (i = 0; i < c; i++) {
      printf "-A INPUT -s 10.%d.0.0/16 -j zone%d\n", i % 256, i;
      printf "-A FORWARD -s 10.%d.0.0/16 -j zone%d\n", i % 256, i }
    per = int((n - 2 - 2 * c) / c);
    for (i = 0; i < c; i++) for (j = 0; j < per; j++) {
      p = 1000 + int(rand() * 2000);
      if (j % 10 == 9) printf "-A zone%d -s 10.%d.%d.0/24 -p tcp -m tcp --dport %d -j ACCEPT\n", i, i % 256, j, p;
      else if (j % 7 == 0) printf "-A zone%d -p tcp -m tcp --dport %d:%d -j DROP\n", i, p, p + 50;
      else printf "-A zone%d -s 10.%d.%d.0/24 -p %s -m %s --dport %d -j ACCEPT\n", i, i % 256, j % 256, (j % 2 ? "tcp" : "udp"), (j % 2 ? "tcp" : "udp"), p }
    print "COMMIT" }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.0f", a[int((NR + 1) / 2)] }'; }
ms() { local s e; s=$(date +%s%N); "$@" > /dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }

printf '%-28s %8s %8s %10s %14s %16s %20s\n' "ruleset" "rules" "chains" "findings" "moat lint ms" "moat explain ms" "restore --test ms"
for spec in "1000 50" "10000 300"; do
  set -- $spec
  gen "$1" "$2" > "$TMP/rules"
  rules=$(grep -c '^-A' "$TMP/rules")
  findings=$( { "$MOAT" lint --json "$TMP/rules" || true; } | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))')
  lint=$(for _ in $(seq 1 "$REPEAT"); do ms "$MOAT" lint "$TMP/rules"; done | median)
  explain=$(for _ in $(seq 1 "$REPEAT"); do ms ip netns exec "$NS" "$MOAT" explain --ruleset "$TMP/rules" --in lo --src 10.$(( ($2 - 1) % 256 )).7.9 --dst 127.0.0.1 --proto tcp --dport 2999; done | median)
  parse=$(for _ in $(seq 1 "$REPEAT"); do ms ip netns exec "$NS" iptables-nft-restore --test "$TMP/rules"; done | median)
  printf '%-28s %8d %8d %10d %14s %16s %20s\n' "generated zones ($1)" "$rules" "$2" "$findings" "$lint" "$explain" "$parse"
done
peak=$( { /usr/bin/env time -f '%M' "$MOAT" lint "$TMP/rules" > /dev/null || true; } 2>&1 | tail -1)
echo "peak memory of moat lint on the last file: $peak KiB"
