# Sourced from the repository's root by the iptables benchmarks (bench/run.sh,
# bench/commands.sh): the tools they need, the binary they measure, a scratch
# directory and a namespace name (NS, from BENCH_NAME) removed on exit, and
# the rules they restore.

bash scripts/deps.sh
# GNU time measures peak memory.
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --quiet
# The iptables personalities as installed: the lean moat-iptables binary
# the README links the iptables names to.
MOAT="$(bash scripts/bin-dir.sh)/moat-iptables"
# Both tools' code starts outside the page cache, so each is read back by
# its own first commands: peak memory counts the file pages a command
# maps, and those depend on how the pages came into the page cache (the
# same binary's -A differed by 0.25 MB between the pages cp had written
# and the pages read back after eviction).
for f in "$MOAT" /usr/sbin/xtables-nft-multi /usr/lib/x86_64-linux-gnu/libnftnl.so.11 \
  /usr/lib/x86_64-linux-gnu/libxtables.so.12 /usr/lib/x86_64-linux-gnu/libmnl.so.0; do
  [ -e "$f" ] && dd if="$(readlink -f "$f")" iflag=nocache count=0 status=none
done
TMP=$(mktemp -d)
NS="${BENCH_NAME}$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

# gen_rules N: a restore file with N varied filter rules in INPUT.
gen_rules() {
  awk -v n="$1" 'BEGIN {
    print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]";
    for (i = 0; i < n; i++) {
      a = int(i / 65536) % 256; b = int(i / 256) % 256; c = i % 256; p = 1024 + i % 60000;
      k = i % 4;
      if (k == 0) printf "-A INPUT -s 10.%d.%d.%d/32 -j DROP\n", a, b, c;
      else if (k == 1) printf "-A INPUT -p tcp -m tcp --dport %d -j ACCEPT\n", p;
      else if (k == 2) printf "-A INPUT -s 172.%d.%d.0/24 -p udp -m udp --dport %d -j ACCEPT\n", 16 + a % 16, b, p;
      else printf "-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport %d -j ACCEPT\n", p;
    }
    print "COMMIT" }'
}
