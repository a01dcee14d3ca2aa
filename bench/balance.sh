#!/usr/bin/env bash
# Balanced services (issue 13): time from a backend's death to its removal
# and the new connections that failed meanwhile, over 20 tries, with real
# TCP through a gateway in network namespaces (root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# HAProxy is the side-by-side baseline only here, so it is installed here, not for the tests.
command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; }
cargo test -p moat --test balance_health -- --ignored --nocapture 2>&1 | grep -E "^failover|^100 backends|peak memory|test result"
