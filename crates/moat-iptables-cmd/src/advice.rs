//! When moat's own advice goes to stderr.
//!
//! iptables is quiet where moat has advice (a kernel setting a rule needs,
//! input iptables takes without a word); programs that run iptables, such
//! as Docker's libnetwork, take any output as a failure. So the advice is
//! written only where a person reads it: stderr is a terminal, or
//! `MOAT_ADVICE=1` asks for it (`MOAT_ADVICE=0` never shows it). The
//! warnings iptables prints itself, and the lock-out guard's, are always
//! written; iptables' own in its words, each time, as a program reading
//! iptables' stderr expects them.

use std::io::IsTerminal;
use std::sync::OnceLock;

use moat_iptables::rule::Warning;

/// The environment variable that turns the advice on (`1`) or off (`0`)
/// whatever stderr is.
pub const ADVICE_VAR: &str = "MOAT_ADVICE";

/// Whether moat's own advice is written in this run.
pub fn wanted() -> bool {
    static WANTED: OnceLock<bool> = OnceLock::new();
    *WANTED.get_or_init(|| match std::env::var(ADVICE_VAR).as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => std::io::stderr().is_terminal(),
    })
}

/// Writes `warning` to stderr if it is shown: iptables' own line as
/// iptables writes it, moat's advice named by `program` and, in a restore
/// file, its `line`.
pub fn write(program: &str, line: Option<usize>, warning: &Warning) {
    if warning.from_iptables {
        tell!("{}", warning.text);
    } else if wanted() {
        match line {
            Some(line) => tell!("{program}: line {line}: warning: {}", warning.text),
            None => tell!("{program}: warning: {}", warning.text),
        }
    }
}
