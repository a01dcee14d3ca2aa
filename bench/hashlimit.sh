#!/usr/bin/env bash
# Restores of per-key rate limits (hashlimit, the anti-DoS recipes'
# match) into a fresh namespace: moat against iptables-nft, side by side.
# Each of N rules limits per source address and destination port, so each
# fills a set of its own. MOAT_OLD=path/to/moat times an older build too.
# Usage: bash bench/hashlimit.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
N=${1:-200}
ROUNDS=${2:-10}
NS="moathl$$"
FILE=$(mktemp)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -f "$FILE"; }
trap cleanup EXIT
{
  printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
  for i in $(seq 1 "$N"); do
    echo "-A INPUT -p tcp --dport $((1000 + i)) -m hashlimit --hashlimit-upto 20/sec --hashlimit-burst 40 --hashlimit-mode srcip,dstport --hashlimit-name h$i --hashlimit-htable-expire 300000 -j ACCEPT"
  done
  echo COMMIT
} > "$FILE"

# Mean milliseconds of ROUNDS restores by "$@", each into a fresh namespace.
fresh_restores() {
  local total=0 start
  for _ in $(seq 1 "$ROUNDS"); do
    ip netns add "$NS"
    start=$(date +%s%N)
    ip netns exec "$NS" "$@" < "$FILE" > /dev/null
    total=$((total + $(date +%s%N) - start))
    ip netns del "$NS"
  done
  echo $((total / ROUNDS / 1000000))
}

theirs=$(fresh_restores iptables-nft-restore)
ours=$(fresh_restores "$(bash scripts/bin-dir.sh)/moat" iptables-restore)
echo "fresh restore of $N hashlimit rules: iptables-nft $theirs ms, moat $ours ms"
if [ -n "${MOAT_OLD:-}" ]; then
  echo "  older moat ($MOAT_OLD): $(fresh_restores "$MOAT_OLD" iptables-restore) ms"
fi
