//! moat's ruleset lock as the iptables personalities take it: iptables-nft
//! takes no lock, but moat reads, changes and writes its tables in one
//! cycle, which another moat command must not interleave.

use std::time::Duration;

use moat_host::lock::RulesetLock;
use moat_host::HostError;
use moat_iptables::Wait;

use crate::CommandError;

/// How long a command waits for another moat command without `-w`.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Takes the lock, waiting as `wait` says: without `-w` up to
/// [`DEFAULT_WAIT`], with `-w SECONDS` that long when it is longer (a
/// shorter wait would fail where iptables-nft, which never waits, goes on),
/// with `-w` alone as long as it takes.
pub(crate) fn take(wait: Wait) -> Result<RulesetLock, CommandError> {
    let timeout = match wait {
        Wait::Unsaid => DEFAULT_WAIT,
        Wait::Seconds(seconds) => DEFAULT_WAIT.max(Duration::from_secs(seconds)),
        Wait::Forever => Duration::MAX,
    };
    RulesetLock::acquire(timeout).map_err(|e| match e {
        HostError::Refused(_) => CommandError::Locked { waited: timeout },
        other => other.into(),
    })
}
