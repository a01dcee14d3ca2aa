//! The backend: applies planned nf_tables batches as one kernel transaction
//! and reads moat's tables (rules, handles, counters) back.
//!
//! Drivers sit behind the [`Backend`] trait; [`NftCli`] drives the `nft`
//! program through its JSON interface.

pub mod driver;
mod ipset;
pub mod netlink;
mod nft_cli;
mod read;

use moat_model::{Counters, Family, Stage};
use moat_nft::{ChangeSet, KernelTable};

pub use driver::{default_backend, Hybrid, NetlinkDriver};
pub use ipset::{find_ipset, IpSet};
pub use nft_cli::NftCli;

/// Why the backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The driver program could not be started.
    #[error("cannot run {program}: {source} (is nftables installed?)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The change could not be expressed for the driver; nothing was changed.
    #[error("{0}")]
    Encode(String),
    /// The kernel or nft refused the transaction; nothing was changed.
    #[error("the kernel refused the change, nothing was applied: {0}")]
    Refused(String),
    /// What nft printed could not be understood.
    #[error("cannot read nft's listing: {0}")]
    Listing(String),
}

/// One rule of a user-visible chain, found without reading the whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRule {
    /// The kernel's handle of the rule.
    pub handle: u32,
    /// The rule's stored source text (its iptables `-S` text).
    pub source: String,
}

/// What a read bounded by a number of rules found.
#[derive(Debug, Clone)]
pub enum BoundedRead {
    /// The table (`None` when it does not exist).
    Table(Option<KernelTable>),
    /// The table holds more rules than the read was to take.
    TooLarge,
}

/// What a search of one chain for a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSearch {
    /// The rule.
    Found(FoundRule),
    /// The whole chain was read and no rule is the one wanted.
    Absent,
    /// The search cannot tell: the table or chain is missing, a port map's
    /// rule came first, or the driver only reads whole tables.
    Unknown,
}

/// What a read hands on as it meets the rules (see [`Backend::read_seeing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// The rules are read again from the first: forget those seen so far.
    Restart,
    /// The next rule of user-visible chain `chain`: its stored text and
    /// its counters.
    Rule {
        chain: &'a str,
        text: &'a str,
        counters: Counters,
    },
}

/// Which part of one of moat's tables [`Backend::read_part`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TablePart<'a> {
    /// The layout (every chain, without rules), with the rules of these
    /// user-visible chains (one not there is skipped) and the table's
    /// named sets: enough for a change to those chains alone.
    LayoutWith(&'a [&'a str]),
    /// The built-in chains and these user-visible chains that exist, each
    /// asked for by name, and no other chain; with their rules and the
    /// table's named sets when `rules`, else as in the layout.
    Named {
        /// The chains asked for besides the built-in ones.
        chains: &'a [&'a str],
        /// Whether their rules and the table's sets come too.
        rules: bool,
    },
}

impl<'a> TablePart<'a> {
    /// The user-visible chains whose rules the read takes.
    pub fn chains_with_rules(self) -> &'a [&'a str] {
        match self {
            TablePart::LayoutWith(chains)
            | TablePart::Named {
                chains,
                rules: true,
            } => chains,
            TablePart::Named { rules: false, .. } => &[],
        }
    }

    /// Whether the read takes the table's named sets.
    pub fn with_sets(self) -> bool {
        !matches!(self, TablePart::Named { rules: false, .. })
    }
}

/// A firewall driver: applies batches atomically and reads moat's tables back.
pub trait Backend {
    /// Reads moat's table for `family` and `stage`; `None` when it does not exist.
    fn read(&self, family: Family, stage: Stage) -> Result<Option<KernelTable>, BackendError>;

    /// Reads moat's table like [`Backend::read`], handing `see` each rule
    /// of a user-visible chain while the kernel still sends the rest: work
    /// on the rules (a listing's lines) then goes on beside the kernel's.
    /// After the last [`Seen::Restart`], a chain's rules are seen in the
    /// chain's order, each once, but for a port map's rule and a rule
    /// without text, which are not seen. Drivers that read all at once
    /// hand the rules on after the read.
    fn read_seeing(
        &self,
        family: Family,
        stage: Stage,
        see: &mut dyn FnMut(Seen<'_>),
    ) -> Result<Option<KernelTable>, BackendError> {
        let table = self.read(family, stage)?;
        see(Seen::Restart);
        for chain in table.iter().flat_map(|t| &t.chains) {
            for rule in chain.rules.iter().filter(|r| r.port_map().is_none()) {
                if let Some(text) = &rule.source {
                    see(Seen::Rule {
                        chain: &chain.name,
                        text,
                        counters: rule.counters,
                    });
                }
            }
        }
        Ok(table)
    }

    /// Reads only the layout of moat's table: chains, hooks, policies and
    /// policy counters, without user rules (enough to append to a chain that
    /// exists). Drivers that cannot do better read everything.
    fn read_layout(
        &self,
        family: Family,
        stage: Stage,
    ) -> Result<Option<KernelTable>, BackendError> {
        self.read(family, stage)
    }

    /// Reads `part` of moat's table, each chain with how many uses the
    /// kernel counts of it ([`moat_nft::KernelChain::uses`]), so that a
    /// command about a few chains beside thousands (Kubernetes' nat table)
    /// reads those alone. Drivers that cannot do better read everything,
    /// and count nothing.
    fn read_part(
        &self,
        family: Family,
        stage: Stage,
        part: TablePart<'_>,
    ) -> Result<Option<KernelTable>, BackendError> {
        let _ = part;
        self.read(family, stage)
    }

    /// The first rule of user-visible `chain` for which `wanted(position,
    /// source)` holds (positions count from 1), reading the chain no further
    /// than that rule; when the answer is [`RuleSearch::Unknown`] the caller
    /// reads the whole table.
    fn find_rule(
        &self,
        family: Family,
        stage: Stage,
        chain: &str,
        wanted: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<RuleSearch, BackendError> {
        let _ = (family, stage, chain, wanted);
        Ok(RuleSearch::Unknown)
    }

    /// Renames moat's user chain `from` to `to` when no rule jumps to it,
    /// in one transaction; `Ok(false)`, changing nothing, when one does or
    /// the driver cannot, and the caller rewrites the jumps' texts too.
    fn rename_unused_chain(
        &self,
        family: Family,
        stage: Stage,
        from: &str,
        to: &str,
    ) -> Result<bool, BackendError> {
        let _ = (family, stage, from, to);
        Ok(false)
    }

    /// Zeroes the packet and byte counters of the rules of moat's user-
    /// visible `chain` (a built-in chain's policy counter too), every
    /// chain's when `None`, without changing a rule; `Ok(false)` when the
    /// driver cannot, and the caller changes the rules' counters instead.
    fn zero_counters(
        &self,
        family: Family,
        stage: Stage,
        chain: Option<&str>,
    ) -> Result<bool, BackendError> {
        let _ = (family, stage, chain);
        Ok(false)
    }

    /// Reads moat's table like [`Backend::read`] when it holds at most
    /// `rules` rules. Drivers that cannot stop early read everything.
    fn read_at_most(
        &self,
        family: Family,
        stage: Stage,
        rules: usize,
    ) -> Result<BoundedRead, BackendError> {
        let _ = rules;
        self.read(family, stage).map(BoundedRead::Table)
    }

    /// Whether the kernel holds a table called `name` of `family`, moat's
    /// or another program's (iptables-nft's `filter`); `None` when the
    /// driver cannot tell with one question.
    fn table_exists(&self, family: Family, name: &str) -> Result<Option<bool>, BackendError> {
        let _ = (family, name);
        Ok(None)
    }

    /// Applies `changes` as one transaction: all of it or, on any error, nothing.
    fn apply(&self, changes: &ChangeSet) -> Result<(), BackendError>;

    /// Checks `changes` against the kernel without applying them.
    fn check(&self, changes: &ChangeSet) -> Result<(), BackendError>;
}
