#!/usr/bin/env bash
# Sets up a fresh machine and runs `moat demo`: a throwaway client, gateway and
# server in network namespaces, the 2010 stateful-firewall article's firewall
# and the 2016 port-forwarding article's router applied with moat, real
# traffic, the -vnL counters, then everything removed. The host's own
# firewall and routes are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
echo "building moat (first time: a minute or two)..."
cargo build --release --quiet
cargo run --release --quiet --bin moat -- demo
