//! Finds one rule of a user-visible chain by dumping that chain alone and
//! stopping at the rule: `iptables -D INPUT 1` of a 10,000-rule chain reads
//! the kernel's first reply instead of the whole table.

use moat_model::{Family, Stage};
use moat_nft::layout::table_name;
use moat_nft::portmap;

use super::encode::nfproto;
use super::error::DriverError;
use super::read::parse_rule;
use crate::netlink::consts::*;
use crate::netlink::wire::Writer;
use crate::netlink::{NetlinkError, NfSocket};
use crate::{FoundRule, RuleSearch};

/// Why a scan of the chain's dump stopped early.
enum Stop {
    /// The wanted rule.
    Found(FoundRule),
    /// A rule the caller cannot be told about (a port map's rule, which
    /// stands for several of the user's rules, or one without source).
    Unknown,
    /// The dump failed.
    Failed(DriverError),
}

impl From<NetlinkError> for Stop {
    fn from(error: NetlinkError) -> Self {
        Stop::Failed(error.into())
    }
}

/// The first rule of `chain` in moat's table for `family` and `stage` for
/// which `wanted(position, source)` holds (positions count from 1);
/// [`RuleSearch::Unknown`] when the table or chain does not exist, or when
/// a rule before it is a port map's or has no stored source.
pub(crate) fn find_rule(
    sock: &mut NfSocket,
    family: Family,
    stage: Stage,
    chain: &str,
    wanted: &mut dyn FnMut(usize, &str) -> bool,
) -> Result<RuleSearch, DriverError> {
    let table = table_name(stage);
    let build = |w: &mut Writer| {
        w.attr_str(NFTA_RULE_TABLE, table);
        w.attr_str(NFTA_RULE_CHAIN, chain);
    };
    let mut position = 0;
    let scanned = sock.dump(NFT_MSG_GETRULE, nfproto(family), &build, &mut |msg| {
        let Some(msg) = msg else {
            position = 0;
            return Ok(());
        };
        let Some(rule) = parse_rule(msg, table).map_err(Stop::Failed)? else {
            return Ok(());
        };
        let Some(source) = rule.comment.filter(|c| portmap::map_of(c).is_none()) else {
            return Err(Stop::Unknown);
        };
        position += 1;
        if wanted(position, &source) {
            return Err(Stop::Found(FoundRule {
                handle: rule.handle,
                source,
            }));
        }
        Ok(())
    });
    match scanned {
        Ok(()) => Ok(RuleSearch::Absent),
        Err(Stop::Found(rule)) => Ok(RuleSearch::Found(rule)),
        Err(Stop::Unknown) => Ok(RuleSearch::Unknown),
        Err(Stop::Failed(e)) if e.errno() == Some(libc::ENOENT) => Ok(RuleSearch::Unknown),
        Err(Stop::Failed(e)) => Err(e),
    }
}
