#!/usr/bin/env bash
# Each iptables command alone beside 10,000 rules, moat-iptables against
# iptables-nft (Debian's iptables 1.8.9): a fail2ban jail's commands,
# Docker's kinds of set-up, and the ones that still read the whole table.
# With --kube, beside Kubernetes' nat table instead (kube-proxy's iptables
# mode, 2,000 services: 22,000 rules in 8,000 chains): its partial sync
# and the commands its start and its canary check run.
# Median time and peak memory of ROUNDS fresh namespaces (default 3), each
# restored from the same file with a chain `foo` added, the commands run in
# order. Every namespace is throwaway; the host's firewall is never touched.
# Usage: bash bench/commands.sh [ROUNDS] [--kube]
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=moatcmds
source bench/iptables_setup.sh
ROUNDS="${1:-3}"
KUBE=""
[ "${2:-}" = "--kube" ] && KUBE=1

if [ -z "$KUBE" ]; then
  gen_rules 10000 > "$TMP/rules"
  BESIDE="beside 10,000 rules"
  COMMANDS=(
    "-N f2b"
    "-A f2b -j RETURN"
    "-I INPUT -p tcp -m multiport --dports 22 -j f2b"
    "-I f2b 1 -s 192.0.2.1 -j REJECT"
    "-I INPUT 5 -s 192.0.2.2 -j DROP"
    "-R INPUT 5 -s 192.0.2.3 -j DROP"
    "-P FORWARD DROP"
    "-D f2b -s 192.0.2.1 -j REJECT"
    "-D INPUT -p tcp -m multiport --dports 22 -j f2b"
    "-F f2b"
    "-X f2b"
    "-Z FORWARD"
    "-E foo bar"
  )
else
  gen_kube_nat 2000 > "$TMP/rules"
  gen_kube_nat 2000 10 > "$TMP/partial"
  BESIDE="beside Kubernetes' nat table"
  # "restore" is kube-proxy's partial sync after 10 services changed.
  COMMANDS=(
    "restore"
    "-t nat -N KUBE-PROXY-CANARY"
    "-t nat -S KUBE-SVC-000005"
    "-t nat -C POSTROUTING -m comment --comment k8s -j KUBE-POSTROUTING"
    "-t nat -I POSTROUTING -m comment --comment k8s -j KUBE-POSTROUTING"
    "-t nat -L KUBE-SERVICES -n"
  )
fi

# rounds NAME: runs the commands with RESTORE (an array: the tool's
# restore command) and RUN (its iptables command), appending "tenths-of-ms
# kB" of command i to $TMP/NAME.i.
rounds() {
  local name=$1 r i start end
  for r in $(seq 1 "$ROUNDS"); do
    ip netns del "$NS" 2>/dev/null || true
    ip netns add "$NS"
    ip netns exec "$NS" "${RESTORE[@]}" --noflush < "$TMP/rules"
    ip netns exec "$NS" "${RUN[@]}" -N foo
    for i in "${!COMMANDS[@]}"; do
      start=$(date +%s%N)
      if [ "${COMMANDS[$i]}" = restore ]; then
        /usr/bin/time -f '%M' -o "$TMP/rss" ip netns exec "$NS" "${RESTORE[@]}" --noflush \
          < "$TMP/partial" > /dev/null 2>&1 || true
      else
        # shellcheck disable=SC2086
        /usr/bin/time -f '%M' -o "$TMP/rss" ip netns exec "$NS" "${RUN[@]}" ${COMMANDS[$i]} > /dev/null 2>&1 || true
      fi
      end=$(date +%s%N)
      echo "$(( (end - start) / 100000 )) $(cat "$TMP/rss")" >> "$TMP/$name.$i"
    done
  done
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# column FILE N: the median of column N.
column() { awk -v n="$2" '{ print $n }' "$1" | median; }

RESTORE=(iptables-nft-restore); RUN=(iptables-nft); rounds nft
RESTORE=("$MOAT" iptables-restore); RUN=("$MOAT" iptables); rounds moat

printf '%-50s %22s %22s\n' "$BESIDE (median of $ROUNDS)" "iptables-nft" "moat"
for i in "${!COMMANDS[@]}"; do
  cell() {
    awk -v t="$(column "$TMP/$1.$i" 1)" -v k="$(column "$TMP/$1.$i" 2)" \
      'BEGIN { printf "%.1f ms %.1f MB", t / 10, k / 1024 }'
  }
  printf '%-50s %22s %22s\n' "${COMMANDS[$i]}" "$(cell nft)" "$(cell moat)"
done
