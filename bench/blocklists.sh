#!/usr/bin/env bash
# Block lists: the seed's one-rule-per-network script against an
# iptables-restore file, a raw `nft -f` interval set and moat, side by side
# in one run; forwarding throughput through a gateway namespace; one element
# added to / removed from a 166k-element list.
#
# Every measurement runs in throwaway network namespaces (moatbl<pid>*),
# removed on exit; the host's own firewall is never touched, and traffic only
# flows between the namespaces' own addresses (10.99.x).
#
# Usage: bash bench/blocklists.sh [--quick] [--full-seed] [--forwarding-only]
#   --quick      fewer samples and shorter iperf3 runs
#   --forwarding-only  only the forwarding throughput section
#   --full-seed  really run the seed's 27,042 `iptables -I` calls for us.zone
#                (about 4 minutes) instead of sampling and extrapolating
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${MOAT_ZONE_DIR:-$(cd .. && pwd)/shared/data/country-zones}
[ -f "$ZONES/ipv4/us.zone" ] || { echo "no zone files in $ZONES (set MOAT_ZONE_DIR)" >&2; exit 1; }
QUICK=0; FULL_SEED=0; LOADS=1
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;; --full-seed) FULL_SEED=1 ;; --forwarding-only) LOADS=0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh
cargo build --release --quiet -p moat
MOAT="$(bash scripts/bin-dir.sh)/moat"
TMP=$(mktemp -d)
P="moatbl$$"
NS="${P}x"
SAMPLE_CALLS=$([ $QUICK = 1 ] && echo 5 || echo 10)
IPERF_SECS=$([ $QUICK = 1 ] && echo 3 || echo 5)
IPERF_RUNS=$([ $QUICK = 1 ] && echo 2 || echo 7)

cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

fresh_ns() { ip netns del "$NS" 2>/dev/null || true; ip netns add "$NS"; }
in_ns() { ip netns exec "$NS" "$@"; }
now_ns() { date +%s%N; }
# Runs a command in the namespace; prints "<milliseconds> <peak RSS KiB>".
measure() {
  local start end
  start=$(now_ns)
  ip netns exec "$NS" /usr/bin/time -f '%M' -o "$TMP/rss" "$@" > /dev/null
  end=$(now_ns)
  echo "$(( (end - start) / 1000000 )) $(cat "$TMP/rss")"
}
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.0f MiB", kb / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.0fx", a / b }'; }

# ---------------------------------------------------------------- inputs
cat "$ZONES"/ipv4/us.zone > "$TMP/us4"; cat "$ZONES"/ipv6/us.zone > "$TMP/us6"
cat "$ZONES"/ipv4/*.zone > "$TMP/world4"; cat "$ZONES"/ipv6/*.zone > "$TMP/world6"
cat "$TMP/world4" "$TMP/world6" > "$TMP/world.txt"
COUNTRIES=$(ls "$ZONES/ipv4" | sed 's/\.zone$//' | tr '\n' ' ')
n_us4=$(wc -l < "$TMP/us4"); n_us6=$(wc -l < "$TMP/us6")
n_w4=$(wc -l < "$TMP/world4"); n_w6=$(wc -l < "$TMP/world6")

# The seed's rules as a restore file (one rule per network).
restore_file() { # file chain
  { echo "*filter"; echo ":INPUT ACCEPT [0:0]"; echo ":FORWARD ACCEPT [0:0]"; echo ":OUTPUT ACCEPT [0:0]"
    sed "s|.*|-A $2 -s & -i eth0 -j DROP|" "$1"; echo "COMMIT"; }
}
# One interval set per family, one rule each, as a raw nft file.
nft_file() { # v4file v6file
  { echo "table inet raw_block {"
    echo " set b4 { type ipv4_addr; flags interval; elements = {"; sed 's/$/,/' "$1"; echo " } }"
    echo " set b6 { type ipv6_addr; flags interval; elements = {"; sed 's/$/,/' "$2"; echo " } }"
    echo " chain input { type filter hook input priority -200; ip saddr @b4 drop; ip6 saddr @b6 drop; }"
    echo "}"; }
}
restore_file "$TMP/us4" INPUT > "$TMP/us4.rules"; restore_file "$TMP/us6" INPUT > "$TMP/us6.rules"
restore_file "$TMP/world4" INPUT > "$TMP/world4.rules"; restore_file "$TMP/world6" INPUT > "$TMP/world6.rules"
nft_file "$TMP/us4" "$TMP/us6" > "$TMP/us.nft"
nft_file "$TMP/world4" "$TMP/world6" > "$TMP/world.nft"

# ------------------------------------------------- the seed's way, sampled
# Each `iptables -I` reads the whole table first, so a call gets slower as
# rules pile up. Measure the average call at 0, 1/4, 1/2, 3/4 and all of N
# rules already loaded, and integrate (trapezoids) over the N calls.
per_call_ms() { # program rules-file prefill-count
  local prog="$1" file="$2" k="$3" start end i addr
  fresh_ns
  if [ "$k" -gt 0 ]; then head -n $((k + 4)) "$file" | { cat; echo COMMIT; } | in_ns "$prog-restore"; fi
  # The calls run in one shell inside the namespace, as the seed's loop does.
  start=$(now_ns)
  in_ns bash -c 'for i in $(seq 1 '"$SAMPLE_CALLS"'); do
      if [ '"$prog"' = ip6tables ]; then a="2001:db8:ff::$i"; else a="198.18.$((i / 256)).$((i % 256))"; fi
      '"$prog"' -I INPUT -s "$a" -i eth0 -j DROP; done'
  end=$(now_ns)
  awk -v t=$(( end - start )) -v n="$SAMPLE_CALLS" 'BEGIN { printf "%.3f", t / n / 1e6 }'
}
seed_estimate_ms() { # program rules-file N
  local prog="$1" file="$2" n="$3" total=0 prev="" q k t
  for q in 0 1 2 3 4; do
    k=$(( n * q / 4 )); t=$(per_call_ms "$prog" "$file" "$k")
    if [ -n "$prev" ]; then total=$(awk -v a="$prev" -v b="$t" -v s=$(( n / 4 )) -v tot="$total" 'BEGIN { print tot + (a + b) / 2 * s }'); fi
    prev=$t
  done
  awk -v t="$total" 'BEGIN { printf "%d", t }'
}
seed_full_ms() { # rules-file: runs every call
  local start end
  fresh_ns; start=$(now_ns)
  grep '^-A' "$1" | sed 's/^-A INPUT /-I INPUT /' | in_ns bash -c 'while read -r line; do iptables $line; done' 
  end=$(now_ns); echo $(( (end - start) / 1000000 ))
}

echo "# Block lists ($(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), $(iptables -V), $(nft --version | cut -d' ' -f1-2))"
echo
if [ $LOADS = 1 ]; then
echo "us.zone: $n_us4 IPv4 + $n_us6 IPv6 networks; world: $(echo $COUNTRIES | wc -w) countries, $n_w4 IPv4 + $n_w6 IPv6 networks"
echo
printf '| %-44s | %14s | %14s | %10s |\n' "load" "us.zone" "world" "peak RSS (world)"
printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "----------------:" "----------------:" "-----------:"

# seed
if [ $FULL_SEED = 1 ]; then
  s_us=$(seed_full_ms "$TMP/us4.rules"); s_us_note="measured"
else
  s_us=$(seed_estimate_ms iptables "$TMP/us4.rules" "$n_us4"); s_us_note="extrapolated"
fi
s_us6=$(seed_estimate_ms ip6tables "$TMP/us6.rules" "$n_us6")
s_w4=$(seed_estimate_ms iptables "$TMP/world4.rules" "$n_w4")
s_w6=$(seed_estimate_ms ip6tables "$TMP/world6.rules" "$n_w6")
printf '| %-44s | %14s | %14s | %10s |\n' "seed: iptables -I per network, IPv4 ($s_us_note)" \
  "$(secs "$s_us")" "$(secs "$s_w4")" "-"
printf '| %-44s | %14s | %14s | %10s |\n' "seed's way for IPv4 + IPv6 (ip6tables -I too)" \
  "$(secs $(( s_us + s_us6 )))" "$(secs $(( s_w4 + s_w6 )))" "-"

# iptables-restore
fresh_ns; read -r r_us4 _ < <(measure iptables-restore "$TMP/us4.rules")
read -r r_us6 _ < <(measure ip6tables-restore "$TMP/us6.rules")
fresh_ns; read -r r_w4 m_w4 < <(measure iptables-restore "$TMP/world4.rules")
read -r r_w6 m_w6 < <(measure ip6tables-restore "$TMP/world6.rules")
printf '| %-44s | %14s | %14s | %10s |\n' "iptables-restore file (one rule per network)" \
  "$(secs $(( r_us4 + r_us6 )))" "$(secs $(( r_w4 + r_w6 )))" "$(mib $(( m_w4 > m_w6 ? m_w4 : m_w6 )))"

# raw nft -f of interval sets
fresh_ns; read -r n_us _ < <(measure nft -f "$TMP/us.nft")
fresh_ns; read -r n_w n_wm < <(measure nft -f "$TMP/world.nft")
printf '| %-44s | %14s | %14s | %10s |\n' "nft -f: one interval set per family" "$(secs "$n_us")" "$(secs "$n_w")" "$(mib "$n_wm")"

# moat
fresh_ns; read -r m_us _ < <(measure "$MOAT" block country us --zone-dir "$ZONES")
read -r m_usr _ < <(measure "$MOAT" block country us --zone-dir "$ZONES")
fresh_ns; read -r m_w m_wm < <(measure "$MOAT" block country $COUNTRIES --zone-dir "$ZONES")
read -r m_wr m_wrm < <(measure "$MOAT" block country $COUNTRIES --zone-dir "$ZONES")
fresh_ns; read -r m_f m_fm < <(measure "$MOAT" block country $COUNTRIES --zone-dir "$ZONES" --as world)
read -r m_fr _ < <(measure "$MOAT" block country $COUNTRIES --zone-dir "$ZONES" --as world)
printf '| %-44s | %14s | %14s | %10s |\n' "moat block country (one list per country)" "$(secs "$m_us")" "$(secs "$m_w")" "$(mib "$m_wm")"
printf '| %-44s | %14s | %14s | %10s |\n' "moat, refresh of the same lists" "$(secs "$m_usr")" "$(secs "$m_wr")" "$(mib "$m_wrm")"
printf '| %-44s | %14s | %14s | %10s |\n' "moat block country ... --as world (1 list)" "-" "$(secs "$m_f")" "$(mib "$m_fm")"
printf '| %-44s | %14s | %14s | %10s |\n' "moat ... --as world, refresh" "-" "$(secs "$m_fr")" "-"
echo
echo "moat against raw nft -f, world: $(ratio "$n_w" "$m_w") faster as 238 country lists, $(ratio "$n_w" "$m_f") as one list;" \
  "peak RSS $(mib "$m_wm") against $(mib "$n_wm")."
echo

# ---------------------------------------------------- one element, 166k list
# 166,000 separate /24s (every other one from 1.0.0.0), so no two merge.
awk 'BEGIN { for (i = 0; i < 166000; i++) { a = i * 2; printf "%d.%d.%d.0/24\n", 1 + int(a / 65536), int(a / 256) % 256, a % 256 } }' > "$TMP/big"
{ echo "table inet raw_big {"; echo " set s { type ipv4_addr; flags interval; elements = {"; sed 's/$/,/' "$TMP/big"; echo " } }"; echo "}"; } > "$TMP/big.nft"
REPEAT=$([ $QUICK = 1 ] && echo 3 || echo 5)
# Average milliseconds of a command run REPEAT times; ADDR in its words is
# replaced by a fresh address in a gap between the /24s (1.0.1.7, 1.0.3.7, ...).
avg_ms() {
  local total=0 i start end words
  for i in $(seq 1 "$REPEAT"); do
    words=("${@//ADDR/1.0.$(( 2 * i + 1 )).7}")
    start=$(now_ns); in_ns "${words[@]}" > /dev/null; end=$(now_ns)
    total=$(( total + end - start ))
  done
  awk -v t="$total" -v n="$REPEAT" 'BEGIN { printf "%.1f ms", t / n / 1e6 }'
}
fresh_ns; in_ns nft -f "$TMP/big.nft"
nft_add=$(avg_ms nft add element inet raw_big s "{ ADDR }")
nft_del=$(avg_ms nft delete element inet raw_big s "{ ADDR }")
fresh_ns; in_ns "$MOAT" block file big "$TMP/big" > /dev/null
moat_add=$(avg_ms "$MOAT" block add big ADDR)
moat_del=$(avg_ms "$MOAT" block remove big ADDR)
printf '| %-44s | %14s | %14s |\n' "one address, list of 166,000 ranges" "add" "remove"
printf '|%s|%s|%s|\n' "----------------------------------------------" "----------------:" "----------------:"
printf '| %-44s | %14s | %14s |\n' "nft add / delete element" "$nft_add" "$nft_del"
printf '| %-44s | %14s | %14s |\n' "moat block add / remove" "$moat_add" "$moat_del"
echo

fi

# ------------------------------------------------------ forwarding throughput
# One lab: client (10.99.1.2) -- gateway -- server (10.99.2.2). In each
# round every case loads its rules into the gateway (after a flush) and
# iperf3 runs from client to server through it; each round starts at another
# case. Reported: each case's median, and the median over rounds of its
# throughput divided by the no-rules run of the same round (which cancels
# drifting load from other processes). The client's address is in no list,
# so every packet is checked against all rules.
CASES=(none seed us world238 worldone)
c="${P}c"; g="${P}g"; s="${P}s"
cleanup_lab() { for n in "$c" "$g" "$s"; do ip netns del "$n" 2>/dev/null || true; done; }
trap 'cleanup_lab; cleanup' EXIT
for n in "$c" "$g" "$s"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$g" link add lan0 type veth peer name eth0 netns "$c"
ip -n "$g" link add wan0 type veth peer name eth0 netns "$s"
ip -n "$g" addr add 10.99.1.1/24 dev lan0; ip -n "$g" addr add 10.99.2.1/24 dev wan0
ip -n "$g" link set lan0 up; ip -n "$g" link set wan0 up
ip -n "$c" addr add 10.99.1.2/24 dev eth0; ip -n "$c" link set eth0 up; ip -n "$c" route add default via 10.99.1.1
ip -n "$s" addr add 10.99.2.2/24 dev eth0; ip -n "$s" link set eth0 up; ip -n "$s" route add default via 10.99.2.1
ip netns exec "$g" sysctl -qw net.ipv4.ip_forward=1
for _ in $(seq 1 50); do ip netns exec "$c" ping -c1 -W1 10.99.2.2 > /dev/null 2>&1 && break; sleep 0.1; done
restore_file "$TMP/us4" FORWARD > "$TMP/us4.forward"
load_case() {
  ip netns exec "$g" nft flush ruleset
  case "$1" in
    none) ;;
    seed) ip netns exec "$g" iptables-restore < "$TMP/us4.forward" ;;
    us) ip netns exec "$g" "$MOAT" block country us --zone-dir "$ZONES" > /dev/null ;;
    world238) ip netns exec "$g" "$MOAT" block country $COUNTRIES --zone-dir "$ZONES" > /dev/null ;;
    worldone) ip netns exec "$g" "$MOAT" block country $COUNTRIES --zone-dir "$ZONES" --as world > /dev/null ;;
  esac
}
gbps_once() {
  local out
  ip netns exec "$s" iperf3 -s -B 10.99.2.2 -1 > /dev/null 2>&1 &
  sleep 0.3
  out=$(ip netns exec "$c" timeout $(( IPERF_SECS + 15 )) iperf3 -c 10.99.2.2 -t "$IPERF_SECS" -J 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9)' 2>/dev/null || echo 0)
  wait || true
  echo "$out"
}
declare -A RESULTS RATIOS
n_cases=${#CASES[@]}
for round in $(seq 1 "$IPERF_RUNS"); do
  declare -A this=()
  for j in $(seq 0 $(( n_cases - 1 ))); do
    k=${CASES[$(( (round + j) % n_cases ))]}
    load_case "$k"
    this[$k]=$(gbps_once)
    RESULTS[$k]="${RESULTS[$k]:-} ${this[$k]}"
  done
  for k in "${CASES[@]}"; do
    RATIOS[$k]="${RATIOS[$k]:-} $(awk -v a="${this[$k]}" -v b="${this[none]}" 'BEGIN { if (b == 0) b = 1; print a / b }')"
  done
done
ip netns exec "$g" nft flush ruleset
median() { echo "$@" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '| %-44s | %14s | %14s |\n' "forwarding (iperf3 TCP ${IPERF_SECS}s, $IPERF_RUNS rounds)" "median Gbit/s" "of no rules"
printf '|%s|%s|%s|\n' "----------------------------------------------" "----------------:" "----------------:"
label() { case "$1" in
  none) echo "no rules" ;; seed) echo "seed: $n_us4 rules (us.zone v4) in FORWARD" ;;
  us) echo "moat block country us" ;; world238) echo "moat block country (238 lists)" ;;
  worldone) echo "moat block country ... --as world (1 list)" ;; esac; }
for k in "${CASES[@]}"; do
  printf '| %-44s | %14.2f | %13.0f%% |\n' "$(label "$k")" "$(median ${RESULTS[$k]})" "$(awk -v r="$(median ${RATIOS[$k]})" 'BEGIN { print 100 * r }')"
done
echo
echo "Runs (Gbit/s, round by round):"; for k in "${CASES[@]}"; do echo "  $k:${RESULTS[$k]}"; done
echo
echo "Reproduce: sudo bash bench/blocklists.sh$([ $QUICK = 1 ] && echo ' --quick')"
