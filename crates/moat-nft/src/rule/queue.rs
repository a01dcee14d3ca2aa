//! NFQUEUE: the kernel's xt_NFQUEUE through `nft_compat`, as iptables-nft
//! runs it. nf_tables' own `queue` needs CONFIG_NFT_QUEUE, which kernels
//! that have xt_NFQUEUE may lack (the development machine's does), so a
//! rule that sends packets to a userspace program (Suricata, snort) works
//! wherever iptables-nft's does.

use moat_model::{XtExtension, XtLayout};
use nftables::stmt::Statement;

use super::{refuse, xt, CompileError};

/// xt_NFQUEUE's flags (NFQ_FLAG_*).
const BYPASS: u16 = 0x01;
const CPU_FANOUT: u16 = 0x02;

/// `-j NFQUEUE --queue-num FIRST` or `--queue-balance FIRST:LAST`, with
/// `--queue-bypass` (a queue no program reads lets the packet through)
/// and `--queue-cpu-fanout` (a range spread by CPU, else by flow).
pub(super) fn compile(
    first: u16,
    last: u16,
    bypass: bool,
    fanout: bool,
) -> Result<Statement<'static>, CompileError> {
    if first > last || (first, last) == (0, u16::MAX) {
        return refuse(format!(
            "NFQUEUE queues {first}:{last}: iptables takes a range of at most 65535 queues, first to last"
        ));
    }
    let flags = [(bypass, BYPASS), (fanout, CPU_FANOUT)]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |all, (_, bit)| all | bit);
    // struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; }
    let info = XtLayout::new()
        .u16(first)
        .u16(last - first + 1)
        .u16(flags)
        .finish();
    Ok(xt::target_statement(&XtExtension::new(
        "NFQUEUE",
        3,
        info,
        format!("-j NFQUEUE --queue-balance {first}:{last}"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(first: u16, last: u16, bypass: bool, fanout: bool) -> Vec<u8> {
        let stmt = compile(first, last, bypass, fanout).unwrap();
        let xt = xt::parse_statement(&stmt).unwrap();
        assert!(xt.target);
        assert_eq!((xt.name.as_str(), xt.rev), ("NFQUEUE", 3));
        xt.info
    }

    #[test]
    fn queues_name_the_first_queue_how_many_and_the_flags() {
        let ne = |v: [u16; 3]| -> Vec<u8> {
            let mut out: Vec<u8> = v.iter().flat_map(|n| n.to_ne_bytes()).collect();
            out.resize(8, 0);
            out
        };
        assert_eq!(info(3, 3, false, false), ne([3, 1, 0]));
        assert_eq!(info(2, 5, true, true), ne([2, 4, 3]));
        assert_eq!(info(1, 65535, true, false), ne([1, 65535, 1]));
        assert!(compile(0, 65535, false, false).is_err());
        assert!(compile(5, 4, false, false).is_err());
    }
}
