//! Standard output, written without a panic when it cannot be (a full
//! disk, `> /dev/full`): the failure is a [`CommandError`] that names it.

use std::io::Write;

use crate::CommandError;

/// Writes `text` to standard output and flushes it.
pub(crate) fn write(text: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| CommandError::Io {
            what: "cannot write to standard output".into(),
            source,
        })
}

/// Writes `text` for `program` where the caller ends with an exit status:
/// on failure the reason goes to standard error and the status is 1.
pub(crate) fn write_or_fail(program: &str, text: &str) -> std::process::ExitCode {
    match write(text) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            e.report(program);
            std::process::ExitCode::FAILURE
        }
    }
}
