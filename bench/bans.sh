#!/usr/bin/env bash
# Bans from logs (issue 10), side by side with fail2ban 1.0.2 (Debian's):
#   1. `moat jail test` against `fail2ban-regex` on one 1,000,000-line auth.log
#      (bench/gen_authlog.py) with the sshd filter, moat's own and fail2ban's
#      filter.d/sshd.conf: lines/s and peak RSS;
#   2. the daemon following a log written at 100,000 lines/s with a failure
#      from a new address every 10 ms: latency from the line's write(2) to
#      the element announced by the kernel (p50, p99), CPU used, peak RSS;
#   3. a ban storm: 10,000 distinct addresses failing within 10 s: all in the
#      kernel? when the last? then a "reboot" (daemon stopped, its kernel table
#      deleted, daemon started): time until the bans are back;
#   4. moat daemon starting with 100,000 bans due in its store.
#
# The daemons, the writer and the watcher (bench/bans_daemon.py) run in a
# throwaway network namespace (moatbans<pid>), one per run, deleted on exit;
# the host's ruleset is never touched and no packet is sent. State (moat's
# redb store, fail2ban's sqlite) lives in a temp dir on disk, as
# /var/lib/moat would.
#
# Usage: bash bench/bans.sh [--quick] [--no-fail2ban]
#   --quick        200,000-line log for 1, 5 s of writing for 2, fail2ban capped at 30 s
#   --no-fail2ban  moat only
# MOAT=/path/to/moat measures another build (default: a fresh release build).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0; F2B=1
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;; --no-fail2ban) F2B=0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
if [ $F2B = 1 ] && ! command -v fail2ban-regex > /dev/null; then
  echo "fail2ban is not installed (apt-get install fail2ban python3-pyinotify), or use --no-fail2ban" >&2; exit 1
fi
PY=/usr/bin/python3   # fail2ban's own Python
if [ -z "${MOAT:-}" ]; then
  cargo build --release --quiet -p moat
  MOAT="$(bash scripts/bin-dir.sh)/moat"
fi
cargo build --release --quiet -p moat-ban --example fill_store
export MOAT FILL_STORE="$(bash scripts/bin-dir.sh)/examples/fill_store"
LINES=$([ $QUICK = 1 ] && echo 200000 || echo 1000000)
SECS=$([ $QUICK = 1 ] && echo 5 || echo 10)
CAP=$([ $QUICK = 1 ] && echo 30 || echo 60)
TMP=$(mktemp -d /tmp/moat-bans.XXXXXX)
NS="moatbans$$"

cleanup() {
  # Whatever still runs in the namespace was started by this script.
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP" "/dev/shm/moat-bans-$$"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fresh_ns() { cleanup_ns; ip netns add "$NS"; }
cleanup_ns() {
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
}
# run NAME ARGS...: one bans_daemon.py run in a fresh namespace, its JSON kept as $TMP/NAME.json.
run() {
  local name="$1"; shift
  fresh_ns
  mkdir -p "$TMP/$name"
  echo "  $name ..." >&2
  ip netns exec "$NS" $PY bench/bans_daemon.py "$@" --dir "$TMP/$name" | tail -1 > "$TMP/$name.json" ||
    echo "  $name failed (its row is left out)" >&2
  cleanup_ns
  rm -rf "$TMP/$name"
}

echo "# Bans ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+changes'), $(nproc) cores, kernel $(uname -r), $(nft --version | cut -d' ' -f1-2), fail2ban $(fail2ban-server -V 2>/dev/null | head -1 | tr -dc '0-9.'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo

# ------------------------------------------------ 1. jail test vs fail2ban-regex
$PY bench/gen_authlog.py --lines "$LINES" --out "$TMP/auth.log"
# measure NAME CMD...: wall s, peak RSS KiB, user s, sys s into $TMP/NAME.time
measure() {
  local name="$1"; shift
  echo "  $name ..." >&2
  /usr/bin/time -f '%e %M %U %S' -o "$TMP/$name.time" "$@" > "$TMP/$name.out" 2>&1
  grep -E '^Lines: ' "$TMP/$name.out" | head -1 > "$TMP/$name.lines" || true
}
measure test_moat "$MOAT" jail test "$TMP/auth.log" sshd
measure test_moat_f2bfilter "$MOAT" jail test "$TMP/auth.log" sshd --filter-dir /etc/fail2ban/filter.d
[ $F2B = 1 ] && measure test_f2b fail2ban-regex "$TMP/auth.log" /etc/fail2ban/filter.d/sshd.conf

# ------------------------------------------------ 2-4. the daemons
run calibrate calibrate
run follow_moat follow --tool moat --rate 100000 --secs "$SECS" --cap "$CAP"
BANS_STATE=/dev/shm/moat-bans-$$ run follow_moat_tmpfs follow --tool moat --rate 100000 --secs "$SECS" --cap "$CAP"
rm -rf "/dev/shm/moat-bans-$$"
[ $F2B = 1 ] && run follow_f2b follow --tool fail2ban --rate 100000 --secs "$SECS" --cap "$CAP"
run storm_moat storm --tool moat --count 10000 --secs 10 --cap "$CAP" --restart
[ $F2B = 1 ] && run storm_f2b storm --tool fail2ban --count 10000 --secs 10 --cap "$CAP" --restart
run startup_moat startup --count 100000

$PY bench/bans_daemon.py report --dir "$TMP" --lines "$LINES" --cap "$CAP"
