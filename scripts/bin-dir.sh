#!/usr/bin/env bash
# Prints the directory `cargo build --release` puts moat's binaries in:
# target/<this machine's target>/release (.cargo/config.toml names the
# target so that the binaries link the C library in), or under
# CARGO_TARGET_DIR when that is set.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
echo "$target_dir/$host/release"
