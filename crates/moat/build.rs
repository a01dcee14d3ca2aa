//! Lays out the functions the iptables commands run side by side in the
//! `moat` and `moat-iptables` binaries, from `hot-code.txt` (written by `scripts/hot-code.sh`),
//! so that a command maps little more code than it runs: with the
//! kernel's fault-around every code page touched brings in its 64 KiB
//! neighbourhood, and these functions are otherwise spread over megabytes.
//!
//! Only where the file fits: the rustc that wrote it (symbol names carry
//! hashes of the toolchain) on x86_64 Linux with its default linker, lld.
//! Elsewhere the binary is linked as usual.

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let file = Path::new(&manifest).join("hot-code.txt");
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let made_by = text.lines().next().and_then(|l| l.strip_prefix("# "));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let ours = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let default_linker = std::env::var_os("RUSTC_LINKER").is_none()
        && !flags.contains("linker")
        && !flags.contains("link-self-contained");
    if made_by.is_some()
        && made_by == ours.as_deref()
        && target == "x86_64-unknown-linux-gnu"
        && default_linker
    {
        for bin in ["moat", "moat-iptables"] {
            println!(
                "cargo:rustc-link-arg-bin={bin}=-Wl,--symbol-ordering-file={}",
                file.display()
            );
            println!("cargo:rustc-link-arg-bin={bin}=-Wl,--no-warn-symbol-ordering");
        }
    }
}
