//! Address translation: `snat`, `dnat`, `masquerade` and `redirect`, as nft
//! 1.0.6 writes them. The values go into registers first, one `immediate`
//! each (or, for a value looked up in a map, the key's load and the lookup,
//! see [`maps`]), numbered from 1 in this order: the first address, the last
//! address of a range, the first port, the last port of a range. The `nat`,
//! `masq` or `redir` expression then names those registers, with the flags
//! asked for plus NF_NAT_RANGE_PROTO_SPECIFIED when there are ports.

use moat_model::Family;
use nftables::expr::{Expression, NamedExpression, SetItem};
use nftables::stmt::{NATFamily, NATFlag, Statement, NAT};

use super::super::anon_set::{AnonSet, Values, ANON_MAP_NAME};
use super::super::encode::nfproto;
use super::super::expr::{NatRegs, NlExpr};
use super::fields::{self, Kind, Load};
use super::{maps, sets, values};
use crate::netlink::consts::*;

/// The layer-4 protocols (tcp, udp, dccp, sctp, udplite) whose port a
/// port map looks up; after any other, or none, the rule is left to nft to
/// take or refuse.
const PORT_PROTOCOLS: [u8; 5] = [6, 17, 33, 132, 136];

/// Which translation to the addresses a statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Translate {
    /// `snat to ...`.
    Snat,
    /// `dnat to ...`.
    Dnat,
}

/// Which translation to an address of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Local {
    /// `masquerade`: the outgoing interface's address.
    Masquerade,
    /// `redirect`: the incoming interface's address.
    Redirect,
}

/// Registers handed out in nft's order, and the expressions that fill them.
struct Loads {
    next: u32,
    exprs: Vec<NlExpr>,
    family: Family,
    l4: Option<u8>,
}

impl Loads {
    /// Loads for a rule of `family` that has established layer-4 protocol `l4`.
    fn new(family: Family, l4: Option<u8>) -> Self {
        Loads {
            next: NFT_REG_1,
            exprs: Vec::with_capacity(5),
            family,
            l4,
        }
    }

    /// Loads `expr` — a value of `kind`, an inclusive range of two, or a
    /// map lookup — into the next registers: the first value's, and the
    /// last value's for a range. None when it is none of these, or a port
    /// range runs backwards. An address range may, as iptables lets it (nft
    /// refuses it): the kernel then picks from addresses that wrap around
    /// past the last.
    fn load(&mut self, kind: Kind, expr: &Expression<'_>) -> Option<(u32, Option<u32>)> {
        let (first, last) = match expr {
            Expression::Named(NamedExpression::Map(map)) => {
                let reg = self.next;
                self.exprs
                    .extend(maps::lookup(map, self.family, self.l4, reg)?);
                self.next += 1;
                return Some((reg, None));
            }
            Expression::Range(range) => {
                let [lo, hi] = &range.range;
                let (lo, hi) = (values::constant(kind, lo)?, values::constant(kind, hi)?);
                if lo > hi && !matches!(kind, Kind::Ipv4 | Kind::Ipv6) {
                    return None;
                }
                (lo, Some(hi))
            }
            value => (values::constant(kind, value)?, None),
        };
        let first = self.push(first);
        Some((first, last.map(|last| self.push(last))))
    }

    fn push(&mut self, data: Vec<u8>) -> u32 {
        let reg = self.next;
        self.next += 1;
        self.exprs.push(NlExpr::Immediate { reg, data });
        reg
    }

    /// Loads the ports, if any, and returns them with the flags.
    fn ports(&mut self, port: Option<&Expression<'_>>, flags: u32) -> Option<NatRegs> {
        let Some(port) = port else {
            return Some(NatRegs { ports: None, flags });
        };
        // After any other protocol, or none, the rule is left to nft to
        // take or refuse.
        if !self.l4.is_some_and(moat_model::nat_translates_ports) {
            return None;
        }
        Some(NatRegs {
            ports: Some(self.load(Kind::Big(2), port)?),
            flags: flags | NF_NAT_RANGE_PROTO_SPECIFIED,
        })
    }

    fn finish(mut self, expr: NlExpr) -> Vec<NlExpr> {
        self.exprs.push(expr);
        self.exprs
    }
}

/// The NF_NAT_RANGE_* flags of a statement.
fn flags(nat: &NAT<'_>) -> u32 {
    nat.flags.iter().flatten().fold(0, |all, flag| {
        all | match flag {
            NATFlag::Random => NF_NAT_RANGE_PROTO_RANDOM,
            NATFlag::FullyRandom => NF_NAT_RANGE_PROTO_RANDOM_FULLY,
            NATFlag::Persistent => NF_NAT_RANGE_PERSISTENT,
        }
    })
}

/// The kind of the addresses `nat` translates to in a table of `family`;
/// None when it names the other family.
fn address_kind(nat: &NAT<'_>, family: Family) -> Option<Kind> {
    match (family, nat.family) {
        (Family::Ipv4, None | Some(NATFamily::IP)) => Some(Kind::Ipv4),
        (Family::Ipv6, None | Some(NATFamily::IP6)) => Some(Kind::Ipv6),
        _ => None,
    }
}

/// `snat`/`dnat to ADDR[-ADDR][:PORT[-PORT]] [flags]` in a table of
/// `family`; `l4` is the layer-4 protocol the rule has established, which
/// ports need.
pub(super) fn translate(
    which: Translate,
    nat: &NAT<'_>,
    family: Family,
    l4: Option<u8>,
) -> Option<Vec<NlExpr>> {
    let kind = address_kind(nat, family)?;
    if nat.addr.is_none() && nat.port.is_none() {
        return None;
    }
    let mut loads = Loads::new(family, l4);
    let mut extra = 0;
    let addrs = match &nat.addr {
        // NETMAP's `dnat prefix to NET/LEN`: the network's first and last
        // addresses, flagged as a prefix mapping.
        Some(Expression::Named(NamedExpression::Prefix(prefix))) => {
            if nat.port.is_some() || nat.flags.is_some() {
                return None;
            }
            let (first, mask) = values::prefix(kind, &prefix.addr, prefix.len)?;
            let last = first.iter().zip(&mask).map(|(a, m)| a | !m).collect();
            extra = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_NETMAP;
            let first = loads.push(first);
            Some((first, Some(loads.push(last))))
        }
        Some(addr) => Some(loads.load(kind, addr)?),
        None => None,
    };
    let regs = loads.ports(nat.port.as_ref(), flags(nat) | extra)?;
    let ty = match which {
        Translate::Snat => NFT_NAT_SNAT,
        Translate::Dnat => NFT_NAT_DNAT,
    };
    Some(loads.finish(NlExpr::Nat {
        ty,
        family: u32::from(nfproto(family)),
        addrs,
        regs,
    }))
}

/// A port shift, `snat`/`dnat to ADDR : PROTO PORT map { port : port,
/// ... }`, as the compiler writes iptables' `FIRST-LAST/BASE`: the
/// address's registers, the packet's port loaded and looked up in an
/// inline map whose value replaces it, and the nat naming that register.
/// The map to declare comes with the expressions.
pub(super) fn shifted(
    stmt: &Statement<'_>,
    family: Family,
    l4: Option<u8>,
) -> Option<(Vec<NlExpr>, AnonSet)> {
    let (ty, nat) = match stmt {
        Statement::SNAT(Some(nat)) => (NFT_NAT_SNAT, nat),
        Statement::DNAT(Some(nat)) => (NFT_NAT_DNAT, nat),
        _ => return None,
    };
    let Some(Expression::Named(NamedExpression::Map(map))) = &nat.port else {
        return None;
    };
    let Expression::Named(NamedExpression::Set(items)) = &map.data else {
        return None;
    };
    if !l4.is_some_and(|p| PORT_PROTOCOLS.contains(&p)) {
        return None;
    }
    let field = fields::field(&map.key, family)?;
    let Load::Payload {
        base,
        offset,
        len: 2,
    } = field.load
    else {
        return None;
    };
    if field.l4 != l4 {
        return None;
    }
    let port = |e: &Expression<'_>| match e {
        Expression::Number(n) => u16::try_from(*n).ok().map(|p| p.to_be_bytes().to_vec()),
        _ => None,
    };
    let pairs = items
        .iter()
        .map(|item| match item {
            SetItem::Mapping(k, v) => Some((port(k)?, port(v)?)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let values = Values {
        ty: TYPE_INET_SERVICE,
        len: 2,
    };
    let set = AnonSet::map(sets::key(&map.key, &field)?, values, pairs)?;
    let kind = address_kind(nat, family)?;
    let mut loads = Loads::new(family, l4);
    let addrs = match &nat.addr {
        Some(addr) => Some(loads.load(kind, addr)?),
        None => None,
    };
    let reg = loads.next;
    loads.next += 1;
    loads.exprs.extend([
        NlExpr::Payload {
            reg,
            base,
            offset,
            len: 2,
        },
        NlExpr::Lookup {
            reg,
            set: ANON_MAP_NAME.to_string(),
            set_id: None,
        },
    ]);
    let regs = NatRegs {
        ports: Some((reg, None)),
        flags: flags(nat) | NF_NAT_RANGE_PROTO_SPECIFIED,
    };
    let exprs = loads.finish(NlExpr::Nat {
        ty,
        family: u32::from(nfproto(family)),
        addrs,
        regs,
    });
    Some((exprs, set))
}

/// `masquerade`/`redirect [to :PORT[-PORT]] [flags]` in a table of
/// `family`; `l4` as for [`translate`]. They take no address.
pub(super) fn local(
    which: Local,
    nat: Option<&NAT<'_>>,
    family: Family,
    l4: Option<u8>,
) -> Option<Vec<NlExpr>> {
    let mut loads = Loads::new(family, l4);
    let regs = match nat {
        None => NatRegs::default(),
        Some(nat) if nat.addr.is_none() && nat.family.is_none() => {
            loads.ports(nat.port.as_ref(), flags(nat))?
        }
        Some(_) => return None,
    };
    Some(loads.finish(match which {
        Local::Masquerade => NlExpr::Masq(regs),
        Local::Redirect => NlExpr::Redir(regs),
    }))
}
