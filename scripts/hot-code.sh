#!/usr/bin/env bash
# Writes crates/moat/hot-code.txt: the functions the iptables commands run,
# in the order they first run, for the linker to lay out side by side
# (crates/moat/build.rs passes the file to lld as --symbol-ordering-file).
# A command then maps a few hundred kilobytes of code instead of megabytes
# spread over the whole binary. Rerun after upgrading the Rust toolchain
# (the file names the rustc it was made with; build.rs ignores it under
# another) or after large changes to the iptables path.
#
# Every command runs under valgrind's callgrind in a throwaway network
# namespace; the host's firewall is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
command -v iptables-nft > /dev/null || bash scripts/deps.sh
cargo build --release --quiet -p moat
# The symlinks name the lean moat-iptables binary, as installed ones do;
# the functions are the iptables libraries' (both binaries share them).
MOAT="$(bash scripts/bin-dir.sh)/moat-iptables"
OUT="$PWD/crates/moat/hot-code.txt"
TMP=$(mktemp -d)
NS="moathot$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
ip netns add "$NS"

# A personality's name on a symlink, as users call it.
for p in iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore; do
  ln -s "$MOAT" "$TMP/$p"
done

# 1,000 rules of the kinds bench/run.sh restores.
awk 'BEGIN {
  print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]";
  for (i = 0; i < 1000; i++) {
    k = i % 4; p = 1024 + i;
    if (k == 0) printf "-A INPUT -s 10.0.%d.%d/32 -j DROP\n", int(i / 256), i % 256;
    else if (k == 1) printf "-A INPUT -p tcp -m tcp --dport %d -j ACCEPT\n", p;
    else if (k == 2) printf "-A INPUT -s 172.16.%d.0/24 -p udp -m udp --dport %d -j ACCEPT\n", i % 256, p;
    else printf "-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport %d -j ACCEPT\n", p;
  }
  print "COMMIT" }' > "$TMP/rules.v4"
sed -e 's/10\.0\.\([0-9]*\)\.\([0-9]*\)\/32/2001:db8::\1:\2\/128/' \
    -e 's/172\.16\.\([0-9]*\)\.0\/24/2001:db8:\1::\/64/' "$TMP/rules.v4" > "$TMP/rules.v6"

n=0
profile() {
  n=$((n + 1))
  ip netns exec "$NS" valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --callgrind-out-file="$TMP/cg.$n" "$TMP/$1" "${@:2}" < "${INPUT:-/dev/null}" > /dev/null 2>&1 || true
}

# Small commands first: a function's place is set by the first profile
# that runs it, so what every command runs (start-up, the rule parser,
# the kernel's answer) comes first, then what a single rule's command
# adds, and restores' and listings' own code last. A single command then
# touches the start of the region only, not pieces spread over all of it.
ip netns exec "$NS" "$TMP/iptables-restore" < "$TMP/rules.v4"
profile iptables -V
profile iptables -A INPUT -s 192.0.2.1 -j DROP
profile iptables -C INPUT -s 192.0.2.1 -j DROP
# A fail2ban jail's start, ban, unban and stop (iptables-multiport).
profile iptables -N f2b-hot
profile iptables -A f2b-hot -j RETURN
profile iptables -I INPUT -p tcp -m multiport --dports 22 -j f2b-hot
profile iptables -I f2b-hot 1 -s 192.0.2.7 -j REJECT --reject-with icmp-port-unreachable
profile iptables -R f2b-hot 1 -s 192.0.2.8 -j REJECT --reject-with icmp-port-unreachable
profile iptables -D f2b-hot -s 192.0.2.8 -j REJECT --reject-with icmp-port-unreachable
profile iptables -D INPUT -p tcp -m multiport --dports 22 -j f2b-hot
profile iptables -F f2b-hot
profile iptables -X f2b-hot
profile iptables -I INPUT 2 -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
profile iptables -D INPUT 1
profile iptables -D INPUT -s 192.0.2.1 -j DROP
profile iptables -N moathot
profile iptables -X moathot
profile iptables -P FORWARD DROP
profile iptables -Z INPUT
profile iptables -N moathot-e
profile iptables -E moathot-e moathot-f
profile iptables -X moathot-f
profile ip6tables -A INPUT -s 2001:db8::1 -j DROP
profile iptables -S
profile iptables -vnL
profile iptables -L
profile iptables-save
profile iptables-save -c
profile ip6tables -S
profile ip6tables-save
profile iptables -F
INPUT="$TMP/rules.v4" profile iptables-restore
INPUT="$TMP/rules.v4" profile iptables-restore
INPUT="$TMP/rules.v6" profile ip6tables-restore
for f in crates/moat/tests/data/real/*.rules; do
  INPUT="$f" profile iptables-restore
done
profile iptables-save

{
  echo "# $(rustc -V)"
  echo "# Written by scripts/hot-code.sh; read by crates/moat/build.rs."
  python3 - "$MOAT" "$TMP"/cg.* <<'EOF'
import re, sys
binary, files = sys.argv[1], sys.argv[2:]
seen, names = set(), []
for path in sorted(files, key=lambda p: int(p.rsplit(".", 1)[1])):
    objects, fns = {}, {}
    ob = cob = None
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                ob = cob = objects.get(m.group(2))
            else:
                cob = objects.get(m.group(2))
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?", line)
        if not m:
            continue
        if m.group(3):
            fns[m.group(2)] = m.group(3)
        name = fns.get(m.group(2))
        owner = ob if m.group(1) == "fn" else cob
        cob = ob
        if owner == binary and name and re.fullmatch(r"[A-Za-z_.$][\w.$]*", name) and name not in seen:
            seen.add(name)
            names.append(name)
print("\n".join(names))
EOF
} > "$OUT"
echo "$(grep -vc '^#' "$OUT") functions written to $OUT"
