//! NFQUEUE: `queue num N [bypass]`, `queue num A-B [bypass,fanout]`.

use std::collections::HashSet;

use nftables::stmt::{Queue, QueueFlag, Statement};

use super::build::value_or_range;
use super::{refuse, CompileError};

/// `queue num FIRST[-LAST] [bypass][,fanout]`: like iptables' NFQUEUE, a
/// range spreads flows over the queues (by CPU with `fanout`), and with
/// `bypass` a queue no program reads lets the packet through. The kernel
/// needs nf_tables queue support (CONFIG_NFT_QUEUE).
pub(super) fn compile(
    first: u16,
    last: u16,
    bypass: bool,
    fanout: bool,
) -> Result<Statement<'static>, CompileError> {
    if first > last || (first, last) == (0, u16::MAX) {
        return refuse(format!(
            "NFQUEUE queues {first}:{last}: nf_tables takes a range of at most 65535 queues, first to last"
        ));
    }
    let flags: HashSet<QueueFlag> = [(bypass, QueueFlag::Bypass), (fanout, QueueFlag::Fanout)]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f)
        .collect();
    Ok(Statement::Queue(Queue {
        num: value_or_range(first.into(), last.into()),
        flags: (!flags.is_empty()).then_some(flags),
    }))
}
