//! A native nf_tables driver for moat's tables: reads them with netlink
//! dumps and applies a whole [`ChangeSet`] as one netlink batch, without
//! starting `nft`.
//!
//! - [`NetlinkDriver`] reads a table with three requests (the table, a dump
//!   of its chains, a dump of its rules) plus a dump of the elements of
//!   each port map's address map, and applies a change set as one
//!   batch (`NFNL_MSG_BATCH_BEGIN` … `NFNL_MSG_BATCH_END`) sent with one
//!   `sendmsg`: the kernel applies it as one transaction, all of it or,
//!   on any error, none. The socket's send buffer is raised to the batch
//!   size first, as `nft` does, so even 100k rules go in one message. A
//!   refusal names the operation the kernel refused and its errno.
//! - Rules are compiled by [`moat_nft::rule::compile_rule`] (a port map's
//!   rule by [`moat_nft::portmap::compile`]), exactly as for the `nft`
//!   driver, and the nftables statements are lowered to the netlink
//!   expressions nft 1.0.6 writes for them (see `lower`); port maps' maps
//!   and elements are written as nft writes them (see `portmap`), and so
//!   are the sets connection counts and per-key limits fill (see `dyn_set`)
//!   and block lists' copies with their elements (see `list_set`). A change
//!   holding anything the lowering does not cover is refused with
//!   [`DriverError::Unsupported`] before anything is sent.
//! - [`Hybrid`] — what [`default_backend`] returns — reads by netlink and
//!   applies by netlink when every rule of the change is supported, else
//!   hands the whole change to [`NftCli`]: one transaction either way
//!   (unless the change holds xtables matches, which nft cannot write:
//!   then the netlink driver's refusal is the error).

mod anon_set;
mod batch;
mod dyn_set;
mod encode;
mod error;
mod expr;
mod find;
mod list_set;
mod long_text;
mod lower;
mod members;
mod portmap;
mod read;
mod rename;
mod udata;

use moat_model::{Family, Stage};
use moat_nft::{ChangeSet, KernelTable};

pub use error::{DriverError, Unsupported};

use crate::netlink::NfSocket;
use crate::{Backend, BackendError, BoundedRead, NftCli, RuleSearch, Seen, TablePart};

/// Drives nf_tables over netlink; see the [module docs](self).
///
/// Each call opens its own socket, in the calling thread's network namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetlinkDriver;

impl NetlinkDriver {
    /// Reads moat's table for `family` and `stage`; `None` when it does not exist.
    pub fn read_table(
        &self,
        family: Family,
        stage: Stage,
    ) -> Result<Option<KernelTable>, DriverError> {
        self.read_table_seeing(family, stage, &mut |_| ())
    }

    /// [`NetlinkDriver::read_table`], handing each rule of a user-visible
    /// chain to `see` while the kernel sends the rest (see
    /// [`Backend::read_seeing`]).
    pub fn read_table_seeing(
        &self,
        family: Family,
        stage: Stage,
        see: &mut dyn FnMut(Seen<'_>),
    ) -> Result<Option<KernelTable>, DriverError> {
        let mut sock = NfSocket::open()?;
        read::read_table(&mut sock, family, stage, read::Depth::Everything, see)
    }

    /// Reads moat's table for `family` and `stage` without the rules of its
    /// user-visible chains: every chain's `rules` is empty, while hooks,
    /// policies and policy counters are read. This costs a few small
    /// requests whatever the table's size, where a full read dumps every
    /// rule (the kernel's rule dump restarts its walk of a chain for each
    /// 32 KiB it returns, so it grows faster than the chain). Enough to
    /// append to a chain that exists; never plan a change against it.
    pub fn read_chains_without_rules(
        &self,
        family: Family,
        stage: Stage,
    ) -> Result<Option<KernelTable>, DriverError> {
        let mut sock = NfSocket::open()?;
        read::read_table(&mut sock, family, stage, read::Depth::Layout, &mut |_| ())
    }

    /// `part` of moat's table, each chain with its uses; see
    /// [`Backend::read_part`].
    pub fn read_table_part(
        &self,
        family: Family,
        stage: Stage,
        part: TablePart<'_>,
    ) -> Result<Option<KernelTable>, DriverError> {
        let mut sock = NfSocket::open()?;
        read::read_table(
            &mut sock,
            family,
            stage,
            read::Depth::Part(part),
            &mut |_| (),
        )
    }

    /// Renames user chain `from` to `to` when nothing jumps to it; see
    /// [`Backend::rename_unused_chain`].
    pub fn rename_unused_chain(
        &self,
        family: Family,
        stage: Stage,
        from: &str,
        to: &str,
    ) -> Result<bool, DriverError> {
        let mut sock = NfSocket::open()?;
        rename::rename_unused_chain(&mut sock, family, stage, from, to)
    }

    /// Whether the kernel holds table `name` of `family`; see
    /// [`Backend::table_exists`].
    pub fn table_exists(&self, family: Family, name: &str) -> Result<bool, DriverError> {
        let mut sock = NfSocket::open()?;
        read::table_exists(&mut sock, family, name)
    }

    /// Zeroes the counters of `chain` (every chain when `None`); see
    /// [`Backend::zero_counters`].
    pub fn zero_counters(
        &self,
        family: Family,
        stage: Stage,
        chain: Option<&str>,
    ) -> Result<(), DriverError> {
        let mut sock = NfSocket::open()?;
        read::reset_counters(&mut sock, family, stage, chain)
    }

    /// The first rule of user-visible `chain` that `wanted` picks; see
    /// [`Backend::find_rule`].
    pub fn find_rule(
        &self,
        family: Family,
        stage: Stage,
        chain: &str,
        wanted: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<RuleSearch, DriverError> {
        let mut sock = NfSocket::open()?;
        find::find_rule(&mut sock, family, stage, chain, wanted)
    }

    /// Reads moat's table when it holds at most `rules` rules.
    pub fn read_table_at_most(
        &self,
        family: Family,
        stage: Stage,
        rules: usize,
    ) -> Result<BoundedRead, DriverError> {
        let mut sock = NfSocket::open()?;
        let depth = read::Depth::AtMost(rules);
        match read::read_table(&mut sock, family, stage, depth, &mut |_| ()) {
            Ok(table) => Ok(BoundedRead::Table(table)),
            Err(DriverError::TooManyRules(_)) => Ok(BoundedRead::TooLarge),
            Err(e) => Err(e),
        }
    }

    /// Checks that every part of `changes` can be encoded by this driver,
    /// without sending anything.
    pub fn supports(&self, changes: &ChangeSet) -> Result<(), DriverError> {
        encode::encode(changes, 1, true, &encode::policies(changes)?).map(drop)
    }

    /// Applies `changes` as one transaction (`commit`), or has the kernel
    /// check them and apply nothing (`!commit`, like `nft --check`).
    pub fn submit(&self, changes: &ChangeSet, commit: bool) -> Result<(), DriverError> {
        if changes.is_empty() {
            return Ok(());
        }
        let policies = encode::policies(changes)?;
        let mut sock = NfSocket::open()?;
        let first_seq = sock.next_seq();
        let Some(sealed) = encode::encode(changes, first_seq, commit, &policies)? else {
            return Ok(());
        };
        sock.skip_seq(sealed.end_seq);
        match sock.send_batch(&sealed.bytes, sealed.begin_seq, sealed.last_seq)? {
            None => Ok(()),
            Some(refusal) => Err(DriverError::Refused {
                what: match sealed.origin(refusal.seq) {
                    Some(origin) => encode::describe(changes, origin),
                    None => "committing the transaction".to_string(),
                },
                errno: refusal.errno,
                detail: refusal.detail,
            }),
        }
    }
}

impl Backend for NetlinkDriver {
    fn read(&self, family: Family, stage: Stage) -> Result<Option<KernelTable>, BackendError> {
        self.read_table(family, stage)
            .map_err(|e| e.into_backend(true))
    }

    fn read_seeing(
        &self,
        family: Family,
        stage: Stage,
        see: &mut dyn FnMut(Seen<'_>),
    ) -> Result<Option<KernelTable>, BackendError> {
        self.read_table_seeing(family, stage, see)
            .map_err(|e| e.into_backend(true))
    }

    fn find_rule(
        &self,
        family: Family,
        stage: Stage,
        chain: &str,
        wanted: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<RuleSearch, BackendError> {
        NetlinkDriver::find_rule(self, family, stage, chain, wanted)
            .map_err(|e| e.into_backend(true))
    }

    fn table_exists(&self, family: Family, name: &str) -> Result<Option<bool>, BackendError> {
        NetlinkDriver::table_exists(self, family, name)
            .map(Some)
            .map_err(|e| e.into_backend(true))
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, true)
            .map_err(|e| e.into_backend(false))
    }

    fn check(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, false)
            .map_err(|e| e.into_backend(false))
    }
}

/// Which driver a [`Hybrid`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// Netlink where it can, `nft` for changes netlink does not encode.
    #[default]
    Auto,
    /// Always `nft` (`MOAT_DRIVER=nft`).
    Nft,
    /// Always netlink; unsupported changes are errors (`MOAT_DRIVER=netlink`).
    Netlink,
}

impl Route {
    /// The route `MOAT_DRIVER` asks for (`nft`, `netlink`, anything else: auto).
    pub fn from_env() -> Route {
        match std::env::var("MOAT_DRIVER").as_deref() {
            Ok("nft") => Route::Nft,
            Ok("netlink") => Route::Netlink,
            _ => Route::Auto,
        }
    }
}

/// Reads by netlink; applies by netlink when the driver encodes every part
/// of the change, else through `nft` (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct Hybrid {
    netlink: NetlinkDriver,
    nft: NftCli,
    route: Route,
}

impl Hybrid {
    /// A hybrid driver that takes `route`.
    pub fn new(route: Route) -> Self {
        Hybrid {
            route,
            ..Hybrid::default()
        }
    }

    fn submit(&self, changes: &ChangeSet, commit: bool) -> Result<(), BackendError> {
        let nft = || {
            if commit {
                self.nft.apply(changes)
            } else {
                self.nft.check(changes)
            }
        };
        if self.route == Route::Nft {
            return nft();
        }
        match self.netlink.submit(changes, commit) {
            // nft cannot write xtables matches or TCP option resets: the
            // netlink driver's refusal is then the one that names the real
            // problem.
            Err(DriverError::Unsupported(_))
                if self.route == Route::Auto && !changes.needs_netlink() =>
            {
                nft()
            }
            other => other.map_err(|e| e.into_backend(false)),
        }
    }

    /// Part of moat's table, read by `netlink` through the netlink driver;
    /// on the nft route, or should netlink fail, the whole table.
    fn read_partly(
        &self,
        family: Family,
        stage: Stage,
        netlink: impl FnOnce(&NetlinkDriver) -> Result<Option<KernelTable>, DriverError>,
    ) -> Result<Option<KernelTable>, BackendError> {
        if self.route == Route::Nft {
            return self.nft.read(family, stage);
        }
        netlink(&self.netlink).or_else(|_| self.read(family, stage))
    }
}

impl Backend for Hybrid {
    fn read(&self, family: Family, stage: Stage) -> Result<Option<KernelTable>, BackendError> {
        self.read_seeing(family, stage, &mut |_| ())
    }

    fn read_seeing(
        &self,
        family: Family,
        stage: Stage,
        see: &mut dyn FnMut(Seen<'_>),
    ) -> Result<Option<KernelTable>, BackendError> {
        if self.route == Route::Nft {
            return self.nft.read_seeing(family, stage, see);
        }
        match self.netlink.read_table_seeing(family, stage, see) {
            Ok(table) => Ok(table),
            // A permission problem is the same for nft, and so is a ruleset
            // that keeps changing; anything else, nft may read.
            Err(e @ (DriverError::Refused { .. } | DriverError::Changed)) => {
                Err(e.into_backend(true))
            }
            Err(_) if self.route == Route::Auto => self.nft.read_seeing(family, stage, see),
            Err(e) => Err(e.into_backend(true)),
        }
    }

    fn read_at_most(
        &self,
        family: Family,
        stage: Stage,
        rules: usize,
    ) -> Result<BoundedRead, BackendError> {
        if self.route == Route::Nft {
            return self.nft.read(family, stage).map(BoundedRead::Table);
        }
        match self.netlink.read_table_at_most(family, stage, rules) {
            Ok(read) => Ok(read),
            Err(e @ (DriverError::Refused { .. } | DriverError::Changed)) => {
                Err(e.into_backend(true))
            }
            Err(_) => self.read(family, stage).map(BoundedRead::Table),
        }
    }

    fn read_layout(
        &self,
        family: Family,
        stage: Stage,
    ) -> Result<Option<KernelTable>, BackendError> {
        self.read_partly(family, stage, |netlink| {
            netlink.read_chains_without_rules(family, stage)
        })
    }

    fn read_part(
        &self,
        family: Family,
        stage: Stage,
        part: TablePart<'_>,
    ) -> Result<Option<KernelTable>, BackendError> {
        self.read_partly(family, stage, |netlink| {
            netlink.read_table_part(family, stage, part)
        })
    }

    fn find_rule(
        &self,
        family: Family,
        stage: Stage,
        chain: &str,
        wanted: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<RuleSearch, BackendError> {
        if self.route == Route::Nft {
            return Ok(RuleSearch::Unknown);
        }
        // Whatever the partial read meets, the caller's full read handles.
        Ok(self
            .netlink
            .find_rule(family, stage, chain, wanted)
            .unwrap_or(RuleSearch::Unknown))
    }

    fn table_exists(&self, family: Family, name: &str) -> Result<Option<bool>, BackendError> {
        if self.route == Route::Nft {
            return Ok(None);
        }
        Backend::table_exists(&self.netlink, family, name)
    }

    fn rename_unused_chain(
        &self,
        family: Family,
        stage: Stage,
        from: &str,
        to: &str,
    ) -> Result<bool, BackendError> {
        if self.route == Route::Nft {
            return Ok(false);
        }
        self.netlink
            .rename_unused_chain(family, stage, from, to)
            .map_err(|e| e.into_backend(true))
    }

    fn zero_counters(
        &self,
        family: Family,
        stage: Stage,
        chain: Option<&str>,
    ) -> Result<bool, BackendError> {
        // A kernel without the resetting dump leaves it to the caller.
        Ok(self.route != Route::Nft && self.netlink.zero_counters(family, stage, chain).is_ok())
    }

    fn apply(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, true)
    }

    fn check(&self, changes: &ChangeSet) -> Result<(), BackendError> {
        self.submit(changes, false)
    }
}

/// The backend the `moat` binary should use: [`Hybrid`], routed by
/// `MOAT_DRIVER` (`nft` or `netlink` force one driver).
pub fn default_backend() -> Hybrid {
    Hybrid::new(Route::from_env())
}
