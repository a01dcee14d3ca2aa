#!/usr/bin/env bash
# Sets up a fresh machine and runs `moat demo`: a throwaway client, gateway and
# server in network namespaces, seed 003's stateful firewall applied with moat,
# real traffic, the -vnL counters, then everything removed. The host's own
# firewall and routes are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo run --release --quiet -- demo
