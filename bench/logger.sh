#!/usr/bin/env bash
# Packet logger (issue 12): the same NFLOG rule's packets written as JSON
# lines by moat daemon and by ulogd2 (Debian's, with its JSON output), in
# turn, on the same traffic: UDP datagrams sent from a client namespace to
# a gateway namespace at a set rate, then as fast as one sender goes.
# Reports lines written, packets lost, CPU time per packet and peak memory.
# Everything runs in throwaway network namespaces. Usage: bash bench/logger.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if ! [ -e /usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so ]; then
  apt-get install -y -qq ulogd2 ulogd2-json > /dev/null
fi
cargo build --release --quiet
MOAT="$(bash scripts/bin-dir.sh)/moat"
TMP=$(mktemp -d)
GW="moatlog$$gw"
CL="moatlog$$cl"
N=${N:-200000}
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  ip netns del "$GW" 2>/dev/null || true
  ip netns del "$CL" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$GW"; ip netns add "$CL"
ip link add "lg$$a" netns "$GW" type veth peer name "lg$$b" netns "$CL"
ip -n "$GW" addr add 10.77.0.1/24 dev "lg$$a"; ip -n "$GW" link set "lg$$a" up; ip -n "$GW" link set lo up
ip -n "$CL" addr add 10.77.0.2/24 dev "lg$$b"; ip -n "$CL" link set "lg$$b" up
MOAT_ETC="$TMP/etc" ip netns exec "$GW" "$MOAT" iptables -A INPUT -p udp --dport 9999 -j NFLOG --nflog-group 5 --nflog-prefix "bench: "

cat > "$TMP/send.py" <<'EOF'
import socket, sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, to = b"x" * 64, ("10.77.0.1", 9999)
start, sent = time.perf_counter(), 0
while sent < n:
    target = n if rate <= 0 else min(n, int((time.perf_counter() - start) * rate) + 64)
    while sent < target:
        s.sendto(payload, to)
        sent += 1
print(f"{sent / (time.perf_counter() - start):.0f}")
EOF

cat > "$TMP/ulogd.conf" <<EOF
[global]
logfile="$TMP/ulogd.log"
loglevel=5
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inppkt_NFLOG.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_raw2packet_BASE.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_filter_IFINDEX.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_filter_IP2STR.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_filter_HWHDR.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON

[log1]
group=5
netlink_socket_buffer_size=4194304
netlink_socket_buffer_maxsize=134217728

[json1]
file="$TMP/ulogd.json"
EOF

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# run NAME FILE RATE COMMAND...: starts COMMAND in the gateway, sends N
# datagrams at RATE per second (0: as fast as the sender goes), waits until
# the file stops growing, prints one result row.
run() {
  local name=$1 file=$2 rate=$3; shift 3
  rm -f "$file"
  ip netns exec "$GW" "$@" 2> "$TMP/$name.err" &
  PID=$!
  for _ in $(seq 1 100); do [ -f "$file" ] || grep -q "started" "$TMP/$name.err" 2>/dev/null && break; sleep 0.05; done
  sleep 0.5
  local before; before=$(ticks "$PID")
  local sent_rate; sent_rate=$(ip netns exec "$CL" python3 "$TMP/send.py" "$N" "$rate")
  local last=-1 now
  for _ in $(seq 1 100); do
    now=$(lines "$file"); [ "$now" = "$last" ] && break; last=$now; sleep 0.3
  done
  local after; after=$(ticks "$PID")
  local peak; peak=$(awk '/VmHWM/ { print $2 }' "/proc/$PID/status")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  now=$(lines "$file")   # what a buffered writer flushed on the way out counts too
  local hz; hz=$(getconf CLK_TCK)
  awk -v n="$name" -v r="$sent_rate" -v w="$now" -v total="$N" -v t=$((after - before)) -v hz="$hz" -v p="$peak" 'BEGIN {
    cpu = t / hz; printf "%-24s %10d %10d %10d %9.2f %10.2f %10d\n", n, r, w, total - w, cpu, (w > 0 ? cpu * 1e6 / w : 0), p }'
}

printf '%-24s %10s %10s %10s %9s %10s %10s\n' "logger ($N datagrams)" "sent/s" "lines" "lost" "cpu s" "us/line" "peak KiB"
for rate in 20000 0; do
  run "moat daemon @$rate" "$TMP/moat.jsonl" "$rate" env MOAT_ETC="$TMP/etc" MOAT_STATE="$TMP/state" "$MOAT" daemon --log-file "$TMP/moat.jsonl" --log-group 5
  run "ulogd2 JSON @$rate" "$TMP/ulogd.json" "$rate" ulogd -c "$TMP/ulogd.conf"
done
echo "(@0: as fast as one Python sender goes; lost = sent - lines; cpu = the logger's user+system time)"
