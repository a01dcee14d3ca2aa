//! What can go wrong running an iptables command, and the exit status
//! iptables gives it.

use moat_backend::BackendError;
use moat_host::HostError;
use moat_iptables::rule::RuleParseError;
use moat_iptables::save::SaveError;
use moat_iptables::state::StateError;
use moat_iptables::{EngineError, Problem};
use moat_model::RuleError;
use moat_nft::PlanError;

/// An error of an iptables personality.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command engine refused the command.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A line of a save file, pointed at.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// A rule that cannot work where it goes.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A rule that does not read.
    #[error(transparent)]
    RuleParse(#[from] RuleParseError),
    /// A bad option (a table name).
    #[error(transparent)]
    Option(#[from] moat_iptables::CommandError),
    /// moat's table in the kernel holds a rule that does not read back.
    #[error(transparent)]
    State(#[from] StateError),
    /// The host's upkeep failed (the lock, a set, a kept file).
    #[error(transparent)]
    Host(#[from] HostError),
    /// The kernel refused the change or could not be asked.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The change could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Another moat command held the ruleset lock longer than this one
    /// waits (iptables' exit status for a lock it cannot take: 4).
    #[error("another moat command is holding the ruleset lock; stopped waiting after {}s (iptables -w SECONDS waits longer)", waited.as_secs())]
    Locked {
        /// How long the command waited.
        waited: std::time::Duration,
    },
    /// A file or standard input or output failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What the command was doing.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    /// iptables' own words for this error, when it has some.
    pub fn iptables_words(&self) -> Option<&'static str> {
        match self {
            CommandError::Engine(e) => e.iptables,
            CommandError::Option(e) => e.iptables,
            CommandError::Save(e) | CommandError::Host(HostError::Save(e)) => e.iptables,
            _ => None,
        }
    }

    /// Writes why `program` failed to stderr: in iptables' own words when
    /// it has words for it (`iptables: Chain already exists.`; a restore's
    /// `line N failed: ...`), which programs look for in its output
    /// (go-iptables, used by the CNI plugins, tells a missing chain or rule
    /// by them), followed by moat's reason where a person reads it;
    /// otherwise moat's reason.
    pub fn report(&self, program: &str) {
        let Some(words) = self.iptables_words() else {
            tell!("{program}: {self}");
            if let Some(line) = self.usage_error_line() {
                // iptables-restore's own lines after a line it cannot
                // read, which programs take the line number from
                // (firehol shows the offending rule by it).
                tell!("Error occurred at line: {line}");
                tell!("Try `{program} -h' or '{program} --help' for more information.");
            }
            return;
        };
        match self {
            CommandError::Save(e) | CommandError::Host(HostError::Save(e)) => {
                tell!("{program}: line {} failed: {words}", e.line)
            }
            _ => tell!("{program}: {words}"),
        }
        if crate::advice::wanted() {
            tell!("{program}: {self}");
        }
    }

    /// The line of a restore file iptables-restore could not read (exit
    /// status 2), if this is one.
    fn usage_error_line(&self) -> Option<usize> {
        match self {
            CommandError::Save(e) | CommandError::Host(HostError::Save(e))
                if e.problem == Problem::Parameter =>
            {
                Some(e.line)
            }
            _ => None,
        }
    }

    /// iptables' (and iptables-restore's) exit status for this error: 4
    /// when the kernel refuses the change (or would: a chain in use, a
    /// target or match where its module does not work), 2 for what
    /// iptables refuses on its command line or in a file's line, else 1.
    pub fn exit_status(&self) -> u8 {
        let problem = match self {
            CommandError::Engine(e) => e.problem,
            CommandError::Save(e) | CommandError::Host(HostError::Save(e)) => e.problem,
            CommandError::Rule(e) if e.found_by_kernel() => Problem::Resource,
            CommandError::Rule(_)
            | CommandError::Host(HostError::MissingSet(_) | HostError::WrongSetFamily(_)) => {
                Problem::Parameter
            }
            CommandError::Backend(BackendError::Refused(_))
            | CommandError::Host(HostError::Backend(BackendError::Refused(_)))
            | CommandError::Locked { .. } => Problem::Resource,
            _ => Problem::Other,
        };
        problem.exit_status()
    }
}
