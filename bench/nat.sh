#!/usr/bin/env bash
# NAT: moat versus iptables-nft (Debian's iptables 1.8.9), side by side in one run.
#  1. restore of nat rulesets with 1,000 and 10,000 port forwards (100,000
#     with --100k) plus MASQUERADE and a small filter table, each into a fresh
#     network namespace; and a second restore onto a loaded 10,000-rule set
#     (the same file again, and a file with every DNAT target changed);
#  2. TCP connection setup rate through a client -- gateway -- server lab
#     whose gateway holds 1 or 1,000 DNAT port forwards
#     (crates/moat-testnet/examples/conn_rate.rs).
# Every measurement runs in throwaway network namespaces (moatnat<pid>,
# moat-<pid>-*), removed on exit; the host's own firewall is never touched and
# traffic only flows between the namespaces' own addresses (10.99.x).
# Usage: bash bench/nat.sh [--quick] [--100k]
#   --quick  fewer repeats, rounds and connections;  --100k  also restore 100,000
#   MOAT=/path/to/moat bash bench/nat.sh  measures that moat binary (e.g. another
#   commit's build) instead of building and measuring the release build of moat.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0; BIG=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;; --100k) BIG=1 ;;
    *) echo "usage: bash bench/nat.sh [--quick] [--100k]" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh
OTHER_MOAT=${MOAT:-}
if [ -z "$OTHER_MOAT" ]; then cargo build --release --quiet; MOAT="$(bash scripts/bin-dir.sh)/moat"; fi
cargo build --release --quiet -p moat-testnet --example conn_rate
CONN_RATE="$(bash scripts/bin-dir.sh)/examples/conn_rate"
TMP=$(mktemp -d)
NS="moatnat$$"
SIZES=(1000 10000)
[ $BIG = 1 ] && SIZES+=(100000)
REPEAT=5; ROUNDS=5; CONNECTIONS=20000
if [ $QUICK = 1 ]; then REPEAT=3; ROUNDS=3; CONNECTIONS=10000; fi
RATE_PID=""

cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  if [ -n "$RATE_PID" ]; then
    # The lab deletes its namespaces itself unless it was killed.
    kill "$RATE_PID" 2>/dev/null || true
    for n in $(ip netns list | awk '{ print $1 }' | grep "^moat-$RATE_PID-" || true); do
      ip netns del "$n" 2>/dev/null || true
    done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# A fresh namespace that forwards, as a NAT gateway would (moat warns about
# DNAT rules otherwise).
fresh_ns() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
  ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
}
in_ns() { ip netns exec "$NS" "$@"; }
now_ns() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# A restore file with N varied port forwards in nat PREROUTING (tcp and udp,
# with and without a destination or source match, to one port or a port
# range), DNAT in OUTPUT, two MASQUERADEs and a small stateful filter table.
# SHIFT moves every DNAT target (for the replace benchmark).
gen_rules() {
  awk -v n="$1" -v shift="${2:-0}" 'BEGIN {
    print "*nat"; print ":PREROUTING ACCEPT [0:0]"; print ":INPUT ACCEPT [0:0]";
    print ":OUTPUT ACCEPT [0:0]"; print ":POSTROUTING ACCEPT [0:0]";
    for (i = 0; i < n; i++) {
      p = 1024 + i % 64000; q = 1024 + (i * 7 + shift) % 60000;
      a = 2 + int(i / 62500) % 200; b = int(i / 250) % 250; c = 1 + (i + shift) % 250;
      k = i % 5;
      if (k <= 1) printf "-A PREROUTING -i wan0 -p tcp -m tcp --dport %d -j DNAT --to-destination 10.%d.%d.%d:%d\n", p, a, b, c, q;
      else if (k == 2) printf "-A PREROUTING -i wan0 -p udp -m udp --dport %d -j DNAT --to-destination 10.%d.%d.%d:%d\n", p, a, b, c, q;
      else if (k == 3) printf "-A PREROUTING -d 203.0.113.%d/32 -i wan0 -p tcp -m tcp --dport %d -j DNAT --to-destination 10.%d.%d.%d\n", 1 + i % 254, p, a, b, c;
      else printf "-A PREROUTING -s 198.51.%d.0/24 -i wan0 -p udp -m udp --dport %d -j DNAT --to-destination 10.%d.%d.%d:%d-%d\n", i % 256, p, a, b, c, q, q + 9;
    }
    print "-A OUTPUT -d 203.0.113.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.2.0.1:8080";
    print "-A POSTROUTING -s 10.0.0.0/8 -d 10.0.0.0/8 -j MASQUERADE";
    print "-A POSTROUTING -o wan0 -j MASQUERADE";
    print "COMMIT";
    print "*filter"; print ":INPUT DROP [0:0]"; print ":FORWARD DROP [0:0]"; print ":OUTPUT ACCEPT [0:0]";
    print "-A INPUT -i lo -j ACCEPT";
    print "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
    print "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT";
    print "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT";
    print "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT";
    print "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT";
    print "-A FORWARD -i lan0 -o wan0 -j ACCEPT";
    print "COMMIT" }'
}

# Milliseconds one restore takes: restore_ms FILE [PRELOAD] COMMAND...
# (fresh namespace; PRELOAD, if not "-", is restored first with the same command).
restore_ms() {
  local file="$1" pre="$2" start end; shift 2
  fresh_ns
  if [ "$pre" != "-" ]; then in_ns "$@" < "$pre" > /dev/null; fi
  start=$(now_ns)
  in_ns "$@" < "$file" > /dev/null
  end=$(now_ns)
  echo $(( (end - start) / 1000000 ))
}
# Median over REPEAT runs, the two tools alternating; prints "ipt moat".
restore_pair() {
  local file="$1" pre="$2" i
  for i in $(seq 1 "$REPEAT"); do
    restore_ms "$file" "$pre" iptables-nft-restore >> "$TMP/ipt"
    restore_ms "$file" "$pre" "$MOAT" iptables-restore >> "$TMP/moat"
  done
  echo "$(median < "$TMP/ipt") $(median < "$TMP/moat")"
  rm -f "$TMP/ipt" "$TMP/moat"
}

# moat wins by a/b (a: iptables-nft time or moat rate).
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; r = a / b;
    if (r < 0.95) printf "%.2fx (moat loses)", r; else printf "%.2fx", r }'
}
commas() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
row() { printf '| %-52s | %14s | %14s | %20s |\n' "$@"; }

echo "# NAT ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), $(iptables-nft -V), $(nft --version | cut -d' ' -f1-2))"
echo "moat: $MOAT"
echo
row "benchmark" "iptables-nft" "moat" "moat wins"
printf '|%s|%s|%s|%s|\n' "------------------------------------------------------" "---------------:" "---------------:" "---------------------:"

# ---------------------------------------------------------------- 1. restore
for n in "${SIZES[@]}"; do
  gen_rules "$n" > "$TMP/nat-$n"
  res=$(restore_pair "$TMP/nat-$n" -); read -r ipt moat <<< "$res"
  row "restore $(commas "$n") port forwards (median of $REPEAT)" "$(commas "$ipt") ms" "$(commas "$moat") ms" "$(ratio "$ipt" "$moat")"
done
gen_rules 10000 1 > "$TMP/nat-10000-b"
res=$(restore_pair "$TMP/nat-10000" "$TMP/nat-10000"); read -r ipt moat <<< "$res"
row "restore 10,000 onto the same 10,000 (no change)" "$(commas "$ipt") ms" "$(commas "$moat") ms" "$(ratio "$ipt" "$moat")"
res=$(restore_pair "$TMP/nat-10000-b" "$TMP/nat-10000"); read -r ipt moat <<< "$res"
row "restore 10,000 onto 10,000 others (all targets new)" "$(commas "$ipt") ms" "$(commas "$moat") ms" "$(ratio "$ipt" "$moat")"
ip netns del "$NS"

# ------------------------------------------------------- 2. connection rate
timeout 900 "$CONN_RATE" --moat "$MOAT" --rules 1000 --connections "$CONNECTIONS" --seconds 10 \
  --rounds "$ROUNDS" > "$TMP/rate" &
RATE_PID=$!
wait "$RATE_PID"
RATE_PID=""
label() {
  case "$1 $2" in
    "1 first") echo "TCP connections/s, 1 DNAT rule (baseline)" ;;
    *" first") echo "TCP connections/s, $(commas "$1") DNAT rules, first 4 ports" ;;
    *) echo "TCP connections/s, $(commas "$1") DNAT rules, last 4 ports" ;;
  esac
}
failed_total=0
while read -r rules target ipt moat r _ _ failed; do
  row "$(label "$rules" "$target")" "$(commas "$ipt")/s" "$(commas "$moat")/s" "$(ratio "$r" 1)"
  failed_total=$(( failed_total + failed ))
done < <(grep -v '^#' "$TMP/rate")
echo
echo "Restores: each in a fresh namespace, the tools alternating; moat with its default driver."
echo "Connections: $(commas "$CONNECTIONS") per measurement (connect, then close with RST), $ROUNDS rounds;"
echo "rates are medians, 'moat wins' for them is the median over rounds of moat / iptables-nft"
echo "measured back to back. Failed connects: $failed_total. Raw (conn/s, min-max per tool):"
sed 's/^/  /' "$TMP/rate"
# What walking 1,000 rules costs: the last rules' rate against the first's.
awk '!/^#/ { first[$1] = $2 == "first" ? $3 " " $4 : first[$1]; if ($2 == "last") { split(first[$1], f, " ");
    printf "  ports of the last rules: iptables-nft %.0f %%, moat %.0f %% of the rate to the first ones\n", 100 * $3 / f[1], 100 * $4 / f[2] } }' "$TMP/rate"
echo
echo "Reproduce: sudo $([ -n "$OTHER_MOAT" ] && echo "MOAT=$MOAT ")bash bench/nat.sh$([ $QUICK = 1 ] && echo ' --quick')$([ $BIG = 1 ] && echo ' --100k')"
