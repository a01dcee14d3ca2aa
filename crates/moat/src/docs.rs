//! `moat completions SHELL` and `moat man`: shell completions and the
//! manual page, generated from the command-line definitions (clap_complete,
//! clap_mangen), and the files `moat install` writes them to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::Cli;

/// The shells moat writes completions for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    /// bash (bash-completion).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

impl CompletionShell {
    /// Every shell, in the order `moat install` writes them.
    pub const ALL: [CompletionShell; 3] = [Self::Bash, Self::Zsh, Self::Fish];

    fn generator(self) -> Shell {
        match self {
            Self::Bash => Shell::Bash,
            Self::Zsh => Shell::Zsh,
            Self::Fish => Shell::Fish,
        }
    }

    /// Where the shell's packaged completions live, relative to the root.
    pub fn install_path(self) -> &'static str {
        match self {
            Self::Bash => "usr/share/bash-completion/completions/moat",
            Self::Zsh => "usr/share/zsh/vendor-completions/_moat",
            Self::Fish => "usr/share/fish/vendor_completions.d/moat.fish",
        }
    }
}

/// Options of `moat completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: CompletionShell,
}

/// Where `moat install` puts the manual page, relative to the root.
pub const MAN_PATH: &str = "usr/share/man/man8/moat.8";

/// The completion script for `shell`.
pub fn completion(shell: CompletionShell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell.generator(), &mut Cli::command(), "moat", &mut out);
    out
}

/// The manual page (section 8), as roff: one page, whose COMMANDS section
/// names each command as typed (`moat apply`) with what it does.
pub fn man_page() -> Result<Vec<u8>> {
    let cli = Cli::command();
    let man = clap_mangen::Man::new(cli.clone()).section("8");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    out.extend(commands_section(&cli).into_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The COMMANDS section: `moat NAME` and its one-line description for each
/// command that is not hidden.
fn commands_section(cli: &clap::Command) -> String {
    let mut text = String::from(".SH COMMANDS\n");
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        text += &format!(
            ".TP\n\\fBmoat {}\\fR\n{}\n",
            roff_text(sub.get_name()),
            roff_text(&about)
        );
    }
    text
}

/// `text` as roff prints it literally: backslashes and hyphens escaped, and
/// no line read as a request.
fn roff_text(text: &str) -> String {
    format!("\\&{}", text.replace('\\', "\\e").replace('-', "\\-"))
}

/// Writes the completions and the manual page under `root`; returns their paths.
pub fn install_into(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = CompletionShell::ALL
        .iter()
        .map(|&shell| (root.join(shell.install_path()), completion(shell)))
        .collect();
    files.push((root.join(MAN_PATH), man_page()?));
    for (path, bytes) in &files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Writes `bytes` to standard output.
fn print(bytes: &[u8]) -> ExitCode {
    match std::io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `moat completions SHELL`.
pub fn run_completions(args: &CompletionsArgs) -> ExitCode {
    print(&completion(args.shell))
}

/// `moat man`.
pub fn run_man() -> ExitCode {
    match man_page() {
        Ok(page) => print(&page),
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}
