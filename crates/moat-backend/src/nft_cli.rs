//! The `nft` program driver.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use moat_model::{Family, Stage};
use moat_nft::layout::{nf_family, table_name};
use moat_nft::nft_json::encode;
use moat_nft::{ChangeSet, KernelTable};
use nftables::types::NfFamily;

use crate::read::parse_listing;
use crate::{Backend, BackendError};

/// Drives nf_tables through `nft -j`.
#[derive(Debug, Clone)]
pub struct NftCli {
    program: PathBuf,
}

impl Default for NftCli {
    fn default() -> Self {
        NftCli {
            program: PathBuf::from(std::env::var_os("MOAT_NFT").unwrap_or_else(|| "nft".into())),
        }
    }
}

fn family_word(family: Family) -> &'static str {
    match nf_family(family) {
        NfFamily::IP6 => "ip6",
        _ => "ip",
    }
}

impl NftCli {
    fn run(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(bool, String, String), BackendError> {
        let spawn_error = |source| BackendError::Spawn {
            program: self.program.display().to_string(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).map_err(spawn_error)?;
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    /// Runs an nft script (`nft -f -`) as one transaction; with
    /// `check_only`, the kernel only checks it (`nft -c`).
    pub fn script(&self, text: &str, check_only: bool) -> Result<(), BackendError> {
        let args: &[&str] = if check_only {
            &["-c", "-f", "-"]
        } else {
            &["-f", "-"]
        };
        let (ok, _, stderr) = self.run(args, Some(text))?;
        if ok {
            Ok(())
        } else {
            Err(BackendError::Refused(stderr.trim().to_string()))
        }
    }

    /// `nft -j list WHAT...`'s output; `None` when nft says it does not exist.
    pub fn list_json(&self, what: &[&str]) -> Result<Option<String>, BackendError> {
        let mut args = vec!["-j", "list"];
        args.extend_from_slice(what);
        let (ok, stdout, _) = self.run(&args, None)?;
        Ok(ok.then_some(stdout))
    }

    fn submit(&self, changes: &ChangeSet, check_only: bool) -> Result<(), BackendError> {
        if changes.is_empty() {
            return Ok(());
        }
        let args: &[&str] = if check_only {
            &["-c", "-j", "-f", "-"]
        } else {
            &["-j", "-f", "-"]
        };
        let json = encode(changes).map_err(|e| BackendError::Encode(e.to_string()))?;
        let (ok, _, stderr) = self.run(args, Some(&json))?;
        if ok {
            Ok(())
        } else {
            Err(BackendError::Refused(stderr.trim().to_string()))
        }
    }
}

impl Backend for NftCli {
    fn read(&self, family: Family, stage: Stage) -> Result<Option<KernelTable>, BackendError> {
        let (ok, stdout, stderr) = self.run(
            &[
                "-j",
                "list",
                "table",
                family_word(family),
                table_name(stage),
            ],
            None,
        )?;
        if !ok {
            if stderr.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(BackendError::Listing(stderr.trim().to_string()));
        }
        parse_listing(&stdout, family, stage).map(Some)
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, false)
    }

    fn check(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, true)
    }
}
