#!/usr/bin/env bash
# Sets up a fresh machine and runs every check: formatting, clippy and all
# tests, the network-namespace tests with real packets included (run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --release
