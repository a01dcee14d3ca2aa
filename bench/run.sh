#!/usr/bin/env bash
# moat versus iptables-nft (Debian's iptables 1.8.9), side by side in one run.
# Every measurement runs in a throwaway network namespace; the host's own
# firewall is never touched. Usage: bash bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=moatbench
source bench/iptables_setup.sh
# The iptables commands' functions are laid out together from
# crates/moat/hot-code.txt; a function it no longer names sits with the
# cold code (scripts/hot-code.sh makes the file again).
if command -v nm > /dev/null; then
  hot=$(grep -v '^#' crates/moat/hot-code.txt | sort -u)
  found=$(nm "$MOAT" | awk '{ print $NF }' | sort -u | comm -12 - <(echo "$hot") | wc -l)
  echo "hot code: $found of $(echo "$hot" | wc -l) functions of crates/moat/hot-code.txt are in the binary"
fi
SIZES=(1000 10000 100000)
REPEAT=5
SHORT_RUNS=11
if [ "${1:-}" = "--quick" ]; then SIZES=(1000 10000); REPEAT=3; SHORT_RUNS=7; fi

fresh_ns() { ip netns del "$NS" 2>/dev/null || true; ip netns add "$NS"; }
# Commands run in namespace $IN when set, else in $NS.
in_ns() { ip netns exec "${IN:-$NS}" "$@"; }
now_ns() { date +%s%N; }

# Microseconds one command takes in the namespace (stdin from $1, output
# discarded), timed by a shell inside it: `ip netns exec` itself (its own
# mount namespace and /sys mounted again, 1.5-3 ms) is part of neither
# tool, and a user runs neither through it.
time_us() {
  local input="$1"; shift
  ip netns exec "${IN:-$NS}" bash -c \
    's=$EPOCHREALTIME; "${@:2}" < "$1" > /dev/null; e=$EPOCHREALTIME; echo $(( ${e/./} - ${s/./} ))' \
    time_us "$input" "$@"
}

# Milliseconds, to a tenth, of $1 microseconds.
ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.1fx", a / b }'; }

# Peak resident memory in MB of one command run in the namespace (stdin
# from $1), by GNU time started inside it: a process's peak survives exec,
# so timing `ip netns exec` would report ip's own 2-3 MB for a smaller
# command.
peak_mb() {
  local input="$1"; shift
  in_ns /usr/bin/time -f '%M' -o "$TMP/rss" "$@" < "$input" > /dev/null
  awk '{ printf "%.1f", $1 / 1024 }' "$TMP/rss"
}

row() { printf '%-40s %12s ms %12s ms %10s\n' "$1" "$(ms "$2")" "$(ms "$3")" "$(ratio "$2" "$3")"; }

# The median of the numbers on standard input, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Sets fresh_median and again_median: the microseconds of restoring file
# $1 with command $2... into a fresh namespace and then over itself, the
# median of REPEAT rounds (three for 100,000 rules).
restore_medians() {
  local file="$1" rounds="$REPEAT" i
  shift
  [ "$(wc -l < "$file")" -gt 50000 ] && rounds=3
  : > "$TMP/fresh"; : > "$TMP/again"
  for i in $(seq 1 "$rounds"); do
    fresh_ns
    time_us "$file" "$@" >> "$TMP/fresh"
    time_us "$file" "$@" >> "$TMP/again"
  done
  fresh_median=$(median < "$TMP/fresh")
  again_median=$(median < "$TMP/again")
}

printf '%-40s %14s %14s %10s\n' "benchmark" "iptables-nft" "moat" "moat wins"
for n in "${SIZES[@]}"; do
  gen_rules "$n" > "$TMP/rules-$n"
  restore_medians "$TMP/rules-$n" iptables-nft-restore; ipt=$fresh_median; ipt_again=$again_median
  fresh_ns; ipt_mb=$(peak_mb "$TMP/rules-$n" iptables-nft-restore)
  restore_medians "$TMP/rules-$n" "$MOAT" iptables-restore; moat=$fresh_median; moat_again=$again_median
  fresh_ns; moat_mb=$(peak_mb "$TMP/rules-$n" "$MOAT" iptables-restore)
  row "restore $n rules" "$ipt" "$moat"
  row "restore $n rules over themselves" "$ipt_again" "$moat_again"
  printf '%-40s %12s MB %12s MB\n' "peak memory, restore $n rules" "$ipt_mb" "$moat_mb"
done

n=10000
[ -f "$TMP/rules-$n" ] || gen_rules "$n" > "$TMP/rules-$n"
: > "$TMP/empty"
# Sets ipt_us and moat_us: the median microseconds of SHORT_RUNS runs of
# one command (`iptables ARGS...` or `iptables-save ARGS...`) by each
# tool, the two taking turns, each in its own namespace beside the same
# rules (IPT_NS, MOAT_NS); "{i}" in an argument becomes the run's number.
# A single -A moves between 2.9 and 12 ms from run to run, with how much
# of the chain the kernel walks is still in the CPU's caches: run after
# its own kind it is a millisecond faster than after the other tool's, so
# one tool's runs in a row, then the other's, measured the order.
pair_median() {
  local program="$1" i
  shift
  : > "$TMP/ipt_runs"; : > "$TMP/moat_runs"
  for i in $(seq 1 "$SHORT_RUNS"); do
    IN=$IPT_NS time_us "$TMP/empty" "${program/iptables/iptables-nft}" "${@//\{i\}/$i}" >> "$TMP/ipt_runs"
    IN=$MOAT_NS time_us "$TMP/empty" "$MOAT" "$program" "${@//\{i\}/$i}" >> "$TMP/moat_runs"
  done
  ipt_us=$(median < "$TMP/ipt_runs")
  moat_us=$(median < "$TMP/moat_runs")
}
# fail2ban's iptables-multiport action beside the table, as a jail runs it:
# its start (a chain, its RETURN, the jump from INPUT), REPEAT bans (-I 1)
# and as many unbans (-D by rule), and its stop (-D of the jump, -F, -X);
# one command each. Prints the microseconds of the whole cycle.
jail_cycle_us() {
  local total=0 i
  step() { total=$(( total + $(time_us "$TMP/empty" "$@") )); }
  step "$@" -N f2b-sshd
  step "$@" -A f2b-sshd -j RETURN
  step "$@" -I INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
  for i in $(seq 1 "$REPEAT"); do
    step "$@" -I f2b-sshd 1 -s "192.0.2.$i" -j REJECT --reject-with icmp-port-unreachable
  done
  for i in $(seq 1 "$REPEAT"); do
    step "$@" -D f2b-sshd -s "192.0.2.$i" -j REJECT --reject-with icmp-port-unreachable
  done
  step "$@" -D INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
  step "$@" -F f2b-sshd
  step "$@" -X f2b-sshd
  echo "$total"
}
# Peak memory of one ban (-I 1 into the jail's chain), in MB.
ban_mb() {
  in_ns "$@" -N f2b-mem
  peak_mb "$TMP/empty" "$@" -I f2b-mem 1 -s 192.0.2.99 -j DROP
}
fresh_ns; IPT_NS=$NS; MOAT_NS="${NS}m"
ip netns del "$MOAT_NS" 2>/dev/null || true; ip netns add "$MOAT_NS"
IN=$IPT_NS in_ns iptables-nft-restore < "$TMP/rules-$n"
IN=$MOAT_NS in_ns "$MOAT" iptables-restore < "$TMP/rules-$n"
pair_median iptables -A INPUT -s "10.250.0.{i}" -j ACCEPT; ipt_a=$ipt_us; moat_a=$moat_us
pair_median iptables -C INPUT -s 10.250.0.1/32 -j ACCEPT; ipt_c=$ipt_us; moat_c=$moat_us
pair_median iptables -vnL; ipt_l=$ipt_us; moat_l=$moat_us
pair_median iptables -S; ipt_s=$ipt_us; moat_s=$moat_us
pair_median iptables-save; ipt_save=$ipt_us; moat_save=$moat_us
ipt_l_mb=$(IN=$IPT_NS peak_mb "$TMP/empty" iptables-nft -vnL)
ipt_save_mb=$(IN=$IPT_NS peak_mb "$TMP/empty" iptables-nft-save)
moat_l_mb=$(IN=$MOAT_NS peak_mb "$TMP/empty" "$MOAT" iptables -vnL)
moat_save_mb=$(IN=$MOAT_NS peak_mb "$TMP/empty" "$MOAT" iptables-save)
pair_median iptables -D INPUT 1; ipt_d=$ipt_us; moat_d=$moat_us
ipt_jail=$(IN=$IPT_NS jail_cycle_us iptables-nft); ipt_ban_mb=$(IN=$IPT_NS ban_mb iptables-nft)
moat_jail=$(IN=$MOAT_NS jail_cycle_us "$MOAT" iptables)
moat_ban_mb=$(IN=$MOAT_NS ban_mb "$MOAT" iptables)
ip netns del "$MOAT_NS"
row "one -A into a chain of $n rules" "$ipt_a" "$moat_a"
row "one -C of the rule -A put last in $n rules" "$ipt_c" "$moat_c"
row "one -D 1 in a chain of $n rules" "$ipt_d" "$moat_d"
row "fail2ban jail start, $REPEAT bans, stop" "$ipt_jail" "$moat_jail"
row "-vnL of $n rules" "$ipt_l" "$moat_l"
row "-S of $n rules" "$ipt_s" "$moat_s"
row "iptables-save of $n rules" "$ipt_save" "$moat_save"
printf '%-40s %12s MB %12s MB\n' "peak memory, one ban beside $n rules" "$ipt_ban_mb" "$moat_ban_mb"
printf '%-40s %12s MB %12s MB\n' "peak memory, -vnL of $n rules" "$ipt_l_mb" "$moat_l_mb"
printf '%-40s %12s MB %12s MB\n' "peak memory, iptables-save of $n rules" "$ipt_save_mb" "$moat_save_mb"

# Where the time goes: each tool's own CPU time (user) and the kernel's
# (system), from getrusage, averaged over REPEAT runs.
cpu() { python3 bench/cpu_times.py "$REPEAT" "$@" | awk '{ printf "%s / %s / %s", $1, $2, $3 }'; }
split_row() { printf '%-40s %24s %24s\n' "$1" "$2" "$3"; }
echo
split_row "user / kernel / elapsed ms" "iptables-nft" "moat"
split_row "restore $n rules (fresh namespace)" \
  "$(cpu "$TMP/rules-$n" --fresh "$NS" -- ip netns exec "$NS" iptables-nft-restore)" \
  "$(cpu "$TMP/rules-$n" --fresh "$NS" -- ip netns exec "$NS" "$MOAT" iptables-restore)"
fresh_ns; in_ns iptables-nft-restore < "$TMP/rules-$n"
ipt_cpu_a=$(cpu "$TMP/empty" -- ip netns exec "$NS" iptables-nft -A INPUT -s 10.251.0.1 -j ACCEPT)
ipt_cpu_s=$(cpu "$TMP/empty" -- ip netns exec "$NS" iptables-nft -S)
ipt_cpu_l=$(cpu "$TMP/empty" -- ip netns exec "$NS" iptables-nft -vnL)
fresh_ns; in_ns "$MOAT" iptables-restore < "$TMP/rules-$n"
moat_cpu_a=$(cpu "$TMP/empty" -- ip netns exec "$NS" "$MOAT" iptables -A INPUT -s 10.251.0.1 -j ACCEPT)
moat_cpu_s=$(cpu "$TMP/empty" -- ip netns exec "$NS" "$MOAT" iptables -S)
moat_cpu_l=$(cpu "$TMP/empty" -- ip netns exec "$NS" "$MOAT" iptables -vnL)
split_row "one -A into a chain of $n rules" "$ipt_cpu_a" "$moat_cpu_a"
split_row "-S of $n rules" "$ipt_cpu_s" "$moat_cpu_s"
split_row "-vnL of $n rules" "$ipt_cpu_l" "$moat_cpu_l"

echo
echo "parse of a 100k-line restore file (no kernel):"
cargo bench --quiet -p moat-iptables --bench parse_restore 2>/dev/null | grep -v '^$'
