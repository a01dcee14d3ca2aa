#!/usr/bin/env bash
# Metrics (issue 12): one scrape of moat daemon's /metrics with 10,000 rules
# in the kernel, beside what iptables exporters run at every scrape
# (`iptables-save -c` of the same rules with Debian's iptables-nft), and
# `moat metrics` (one process, for node_exporter's textfile collector).
# Everything runs in throwaway network namespaces. Usage: bash bench/metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
MOAT="$(bash scripts/bin-dir.sh)/moat"
TMP=$(mktemp -d)
NS="moatmetrics$$"
NS2="moatmetricsipt$$"
N=10000
REPEAT=20
DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$NS2" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

awk -v n="$N" 'BEGIN {
  print "*filter"; print ":INPUT ACCEPT [0:0]"; print ":FORWARD ACCEPT [0:0]"; print ":OUTPUT ACCEPT [0:0]";
  for (i = 0; i < n; i++) printf "-A INPUT -s 10.%d.%d.%d/32 -p tcp -m tcp --dport %d -j ACCEPT\n", int(i/65536)%256, int(i/256)%256, i%256, 1024 + i % 60000;
  print "COMMIT" }' > "$TMP/rules"

ip netns add "$NS"; ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" "$MOAT" iptables-restore < "$TMP/rules"
MOAT_ETC="$TMP/etc" MOAT_STATE="$TMP/state" ip netns exec "$NS" "$MOAT" daemon --metrics 127.0.0.1:9469 2> "$TMP/daemon.log" &
DAEMON=$!
for _ in $(seq 1 100); do
  ip netns exec "$NS" curl -sf -o /dev/null http://127.0.0.1:9469/metrics && break
  sleep 0.05
done

median_ms() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] }'; }
scrapes=$(for _ in $(seq 1 "$REPEAT"); do
  ip netns exec "$NS" curl -s -o /dev/null -w '%{time_total}\n' http://127.0.0.1:9469/metrics
done | awk '{ print $1 * 1000 }' | median_ms)
# Prometheus asks for gzip (Accept-Encoding: gzip); curl --compressed too,
# and unpacks the reply as Prometheus does.
gzipped=$(for _ in $(seq 1 "$REPEAT"); do
  ip netns exec "$NS" curl -s --compressed -o /dev/null -w '%{time_total}\n' http://127.0.0.1:9469/metrics
done | awk '{ print $1 * 1000 }' | median_ms)
gzip_bytes=$(ip netns exec "$NS" curl -s -H 'Accept-Encoding: gzip' http://127.0.0.1:9469/metrics | wc -c)
plain_bytes=$(ip netns exec "$NS" curl -s http://127.0.0.1:9469/metrics | wc -c)
series=$(ip netns exec "$NS" curl -s http://127.0.0.1:9469/metrics | grep -c '^moat_rule_packets_total')
peak=$(awk '/VmHWM/ { print $2 }' "/proc/$DAEMON/status")
oneshot=$(for _ in $(seq 1 "$REPEAT"); do
  s=$(date +%s%N); ip netns exec "$NS" "$MOAT" metrics > /dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000 )) | awk '{ print $1 / 1000 }'
done | median_ms)

ip netns add "$NS2"
ip netns exec "$NS2" iptables-nft-restore < "$TMP/rules"
save=$(for _ in $(seq 1 "$REPEAT"); do
  s=$(date +%s%N); ip netns exec "$NS2" iptables-nft-save -c > /dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000 )) | awk '{ print $1 / 1000 }'
done | median_ms)
save_peak=$( { /usr/bin/env time -f '%M' ip netns exec "$NS2" iptables-nft-save -c > /dev/null; } 2>&1 | tail -1)

printf '%-58s %10s\n' "reading $N rules' counters (median of $REPEAT)" "ms"
printf '%-58s %10s\n' "moat daemon: GET /metrics ($series rule series, $plain_bytes bytes)" "$scrapes"
printf '%-58s %10s\n' "moat daemon: GET /metrics, gzip as Prometheus asks ($gzip_bytes bytes)" "$gzipped"
printf '%-58s %10s\n' "moat metrics (a whole process)" "$oneshot"
printf '%-58s %10s\n' "iptables-nft-save -c (what iptables exporters parse)" "$save"
printf '%-58s %10s\n' "peak memory: moat daemon (KiB)" "$peak"
printf '%-58s %10s\n' "peak memory: iptables-nft-save -c (KiB)" "$save_peak"
