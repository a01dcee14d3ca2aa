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
cleanup() { ip netns del "$NS" 2>/dev/null || true; ip netns del "${NS}m" 2>/dev/null || true; rm -rf "$TMP"; }
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

# gen_kube_nat N [CHANGED]: a nat table as kube-proxy's iptables mode
# writes it: N services of three endpoints each (11 rules and 5 chains a
# service), sent with --noflush. With CHANGED, the partial sync it sends
# after CHANGED services changed instead: KUBE-SERVICES whole again and
# those services' own chains.
gen_kube_nat() {
  awk -v n="$1" -v changed="${2:-0}" 'BEGIN {
    m = changed ? changed : n;
    print "*nat";
    print ":KUBE-SERVICES - [0:0]";
    if (!changed) {
      print ":KUBE-POSTROUTING - [0:0]"; print ":KUBE-MARK-MASQ - [0:0]";
    }
    for (i = 0; i < m; i++) {
      printf ":KUBE-SVC-%06d - [0:0]\n", i;
      for (e = 0; e < 3; e++) printf ":KUBE-SEP-%06d-%d - [0:0]\n", i, e;
    }
    if (!changed) {
      print "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN";
      print "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000";
      print "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully";
      print "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000";
    }
    for (i = 0; i < n; i++) {
      ip = sprintf("10.96.%d.%d", int(i / 250), i % 250 + 1);
      printf "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"ns/svc%d:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%06d\n", ip, i, i;
    }
    for (i = 0; i < m; i++) {
      ip = sprintf("10.96.%d.%d", int(i / 250), i % 250 + 1);
      c = sprintf("-m comment --comment \"ns/svc%d:http\"", i);
      printf "-A KUBE-SVC-%06d ! -s 10.244.0.0/16 -d %s/32 -p tcp %s -m tcp --dport 80 -j KUBE-MARK-MASQ\n", i, ip, c;
      printf "-A KUBE-SVC-%06d %s -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-%06d-0\n", i, c, i;
      printf "-A KUBE-SVC-%06d %s -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-%06d-1\n", i, c, i;
      printf "-A KUBE-SVC-%06d %s -j KUBE-SEP-%06d-2\n", i, c, i;
      for (e = 0; e < 3; e++) {
        pod = sprintf("10.244.%d.%d", (3 * i + e) % 250, int((3 * i + e) / 250) % 250 + 1);
        printf "-A KUBE-SEP-%06d-%d -s %s/32 %s -j KUBE-MARK-MASQ\n", i, e, pod, c;
        printf "-A KUBE-SEP-%06d-%d -p tcp %s -m tcp -j DNAT --to-destination %s:8080\n", i, e, c, pod;
      }
    }
    print "COMMIT" }'
}
