//! A container image of one static busybox, for the Docker and podman
//! tests: no registry needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Makes, in `dir`, a root file system as a tar file (`dir/rootfs.tar`):
/// `/bin/busybox` (a copy of the static `busybox`), a link to it for each
/// of `applets`, and `/www/index.html` saying `page`.
pub fn busybox_image(dir: &Path, busybox: &Path, applets: &[&str], page: &str) -> Result<PathBuf> {
    let io = |what: &'static str| move |e| Error::io(what, e);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).map_err(io("making the image's tree"))?;
    std::fs::create_dir_all(rootfs.join("www")).map_err(io("making the image's tree"))?;
    std::fs::copy(busybox, rootfs.join("bin/busybox")).map_err(io("copying busybox"))?;
    for applet in applets {
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).map_err(io("linking an applet"))?;
        }
    }
    std::fs::write(rootfs.join("www/index.html"), page).map_err(io("writing the page"))?;
    let tar = dir.join("rootfs.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .map_err(io("running tar"))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: "tar -cf rootfs.tar".into(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(tar)
}
