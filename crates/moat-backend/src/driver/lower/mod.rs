//! Lowers a compiled rule — the nftables JSON statements
//! [`moat_nft::rule::compile_rule`] emits, exactly what the `nft` driver
//! sends — into the netlink expressions nft 1.0.6 writes for them:
//!
//! 1. each match becomes a load (payload, meta, ct, numgen, [`fib`]), an
//!    optional bitwise mask, and a compare (`cmp`, two `cmp`s for a range,
//!    `range` for a negated one); a prefix on a byte boundary loads only the
//!    prefix bytes; `<`, `<=`, `>`, `>=` compare network-order values only;
//! 2. a transport-header field gets the `meta l4proto` test nft adds unless
//!    an earlier `meta l4proto` equality already fixes the protocol;
//! 3. adjacent header tests are joined as nft joins them ([`merge`]);
//! 4. counters, verdicts, limits, logs, rejects, notrack and marks being
//!    set are written as they are ([`actions`]); address translations load
//!    their addresses and ports into registers first ([`nat`]), or look
//!    them up in named maps ([`maps`]).
//!
//! A match against an inline set loads its field and looks it up in an
//! anonymous set the rule brings along ([`sets`]); a connection count per
//! address fills a named set ([`dynset`]). Anything else (concatenations,
//! lookups of named sets, ...) is refused with a description, and the rule
//! goes to `nft` instead.

mod actions;
mod dynset;
mod fib;
mod fields;
mod link;
mod maps;
mod merge;
mod nat;
mod rewrite;
mod sets;
mod values;

use moat_model::Family;
use moat_nft::rule::carried::Carried;
use nftables::expr::{BinaryOperation, Expression, NamedExpression};
use nftables::stmt::{Match, Operator, Statement};

use super::anon_set::{AnonSet, ANON_SET_NAME};
use super::expr::NlExpr;
use crate::netlink::consts::*;
use fields::{Field, Kind, Load};

/// The right side of a compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Right {
    /// One value.
    Value(Vec<u8>),
    /// An inclusive range.
    Range(Vec<u8>, Vec<u8>),
}

/// A match after nft's evaluation: load, mask, compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rel {
    load: Load,
    mask: Option<Vec<u8>>,
    /// A host-order field compared in network order: nft converts it
    /// first (`byteorder hton`), in units of this many bytes.
    swap: Option<u32>,
    /// NFT_CMP_*; a range is only ever compared with EQ or NEQ.
    op: u32,
    right: Right,
}

/// A statement of the rule on its way to expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A match.
    Rel(Rel),
    /// Anything else, already lowered.
    Other(Vec<NlExpr>),
}

/// `meta l4proto == proto`, the dependency nft adds.
fn l4proto_is(proto: u8) -> Rel {
    Rel {
        load: Load::Meta(NFT_META_L4PROTO),
        mask: None,
        swap: None,
        op: NFT_CMP_EQ,
        right: Right::Value(vec![proto]),
    }
}

/// The field and mask of a match's left side: a field, or `field & mask`.
fn left_side(left: &Expression<'_>, family: Family) -> Option<(Field, Option<Vec<u8>>)> {
    if let Some(field) = fields::field(left, family) {
        return Some((field, None));
    }
    let Expression::BinaryOperation(op) = left else {
        return None;
    };
    let BinaryOperation::AND(inner, mask) = op.as_ref() else {
        return None;
    };
    let field = fields::field(inner, family)?;
    if field.high_nibble {
        return None;
    }
    let mask = values::constant(field.kind, mask)?;
    Some((field, Some(mask)))
}

/// The kernel comparison of a match's operator.
/// Whether a set lookup with `op` is negated; None for an operator a
/// lookup cannot have.
fn lookup_negated(op: Operator) -> Option<bool> {
    match op {
        Operator::EQ => Some(false),
        Operator::NEQ => Some(true),
        _ => None,
    }
}

fn cmp_op(op: Operator) -> Option<u32> {
    Some(match op {
        Operator::EQ => NFT_CMP_EQ,
        Operator::NEQ => NFT_CMP_NEQ,
        // nftables 0.6.3 swaps these two names: `GT` is written `<` and
        // `LT` `>`; what counts is what nft reads.
        Operator::GT => NFT_CMP_LT,
        Operator::LT => NFT_CMP_GT,
        Operator::LEQ => NFT_CMP_LTE,
        Operator::GEQ => NFT_CMP_GTE,
        _ => return None,
    })
}

/// The byte-order conversion nft writes before an ordered comparison of a
/// field of `kind`: none for network order, `hton` in units of the whole
/// field for 4- and 8-byte host-order numbers; `None` for other kinds.
fn conversion(kind: Kind) -> Option<Option<u32>> {
    match kind {
        _ if kind.is_network_order() => Some(None),
        Kind::Host(1) => Some(None),
        Kind::Host(len @ (4 | 8)) => Some(Some(u32::try_from(len).ok()?)),
        _ => None,
    }
}

/// A constant compared in an ordered way: network order, after the
/// conversion of a host-order field.
fn ordered_value(kind: Kind, swap: Option<u32>, expr: &Expression<'_>) -> Option<Vec<u8>> {
    match swap {
        None => values::constant(kind, expr),
        Some(_) => values::swapped(kind, expr),
    }
}

/// `left < value` and the like: compared bytewise, so in network order
/// (a host-order number converted first, as nft does).
fn ordering(op: u32, field: Field, mask: Option<Vec<u8>>, right: &Expression<'_>) -> Option<Rel> {
    if mask.is_some() || field.high_nibble {
        return None;
    }
    let swap = conversion(field.kind)?;
    let value = match right {
        Expression::Number(_) | Expression::String(_) => ordered_value(field.kind, swap, right)?,
        _ => return None,
    };
    Some(Rel {
        load: field.load,
        mask: None,
        swap,
        op,
        right: Right::Value(value),
    })
}

/// A match as nft evaluates it, with the field it reads.
fn relational(m: &Match<'_>, family: Family) -> Option<(Rel, Field)> {
    let op = cmp_op(m.op)?;
    let (field, mask) = left_side(&m.left, family)?;
    if op != NFT_CMP_EQ && op != NFT_CMP_NEQ {
        return Some((ordering(op, field, mask, &m.right)?, field));
    }
    let kind = field.kind;
    let mut load = field.load;
    if field.high_nibble {
        let Expression::Number(n @ 0..=15) = m.right else {
            return None;
        };
        let value = vec![u8::try_from(n << 4).ok()?];
        return Some((
            Rel {
                load,
                mask: Some(vec![0xf0]),
                swap: None,
                op,
                right: Right::Value(value),
            },
            field,
        ));
    }
    let mut swap = None;
    let (mask, right) = match &m.right {
        Expression::Number(_) | Expression::String(_) => {
            (mask, Right::Value(values::constant(kind, &m.right)?))
        }
        Expression::Named(NamedExpression::Prefix(p)) if mask.is_none() => {
            let (net, prefix_mask) = values::prefix(kind, &p.addr, p.len)?;
            match p.len {
                0 => return None,
                // On a byte boundary the compare takes only the prefix's
                // bytes; a payload load also loads only those.
                bits if bits % 8 == 0 => {
                    let bytes = bits / 8;
                    if let Load::Payload { len, .. } = &mut load {
                        *len = bytes;
                    }
                    let bytes = usize::try_from(bytes).ok()?;
                    (None, Right::Value(net.get(..bytes)?.to_vec()))
                }
                _ => (Some(prefix_mask), Right::Value(net)),
            }
        }
        Expression::Range(r) if mask.is_none() => {
            let [lo, hi] = &r.range;
            swap = conversion(kind)?;
            (
                None,
                Right::Range(
                    ordered_value(kind, swap, lo)?,
                    ordered_value(kind, swap, hi)?,
                ),
            )
        }
        _ => return None,
    };
    Some((
        Rel {
            load,
            mask,
            swap,
            op,
            right,
        },
        field,
    ))
}

fn linearize(rel: Rel, out: &mut Vec<NlExpr>) {
    out.push(rel.load.expr());
    if let Some(size) = rel.swap {
        out.push(NlExpr::Byteorder {
            reg: NFT_REG_1,
            op: NFT_BYTEORDER_HTON,
            len: size,
            size,
        });
    }
    if let Some(mask) = rel.mask {
        let xor = vec![0; mask.len()];
        out.push(NlExpr::Bitwise {
            reg: NFT_REG_1,
            mask,
            xor,
        });
    }
    match (rel.right, rel.op == NFT_CMP_NEQ) {
        (Right::Value(data), _) => out.push(NlExpr::Cmp { op: rel.op, data }),
        (Right::Range(from, to), false) => {
            out.push(NlExpr::Cmp {
                op: NFT_CMP_GTE,
                data: from,
            });
            out.push(NlExpr::Cmp {
                op: NFT_CMP_LTE,
                data: to,
            });
        }
        (Right::Range(from, to), true) => out.push(NlExpr::Range {
            op: NFT_RANGE_NEQ,
            from,
            to,
        }),
    }
}

/// What a statement looks like in nft's JSON, to say what was refused.
fn describe(stmt: &Statement<'_>) -> String {
    serde_json::to_string(stmt).unwrap_or_else(|_| "a statement".to_string())
}

/// A rule lowered: its expressions, and the anonymous sets and maps its
/// lookups name, in the order of the lookups.
#[derive(Debug, Default)]
pub(crate) struct Lowered {
    /// The rule's expressions; a lookup of an anonymous set has no set ID yet.
    pub exprs: Vec<NlExpr>,
    /// The anonymous sets to declare right before the rule.
    pub sets: Vec<AnonSet>,
    /// The rules of the chain bound to the rule (its jump has no chain ID
    /// yet), to declare right before it.
    pub bound: Option<Vec<Vec<NlExpr>>>,
}

/// An element of a set of `family`'s addresses (`10.0.0.0/24`,
/// `10.0.2.0-10.0.2.9`, `192.0.2.1`) as its inclusive range, in network
/// order; None when it is not one.
pub(crate) fn address_range(item: &Expression<'_>, family: Family) -> Option<(Vec<u8>, Vec<u8>)> {
    let kind = match family {
        Family::Ipv4 => Kind::Ipv4,
        Family::Ipv6 => Kind::Ipv6,
    };
    sets::range(kind, item)
}

/// The netlink expressions of a rule's statements, as nft 1.0.6 writes
/// them in a table of `family`, with the anonymous sets they look up; `Err`
/// names the first statement this driver does not write.
pub(crate) fn lower_rule(stmts: &[Statement<'_>], family: Family) -> Result<Lowered, String> {
    let mut steps = Vec::with_capacity(stmts.len() + 1);
    let mut sets = Vec::new();
    let mut bound = None;
    let mut l4: Option<u8> = None;
    for stmt in stmts {
        let refused = || format!("statement {}", describe(stmt));
        if let Statement::Set(_) = stmt {
            steps.push(Step::Other(
                dynset::lower(stmt, family).ok_or_else(refused)?,
            ));
            continue;
        }
        if let Some(Carried::Tproxy(t)) = Carried::of(stmt) {
            steps.push(Step::Other(vec![NlExpr::BoundJump { chain_id: None }]));
            bound = Some(rewrite::tproxy_chain(&t, family));
            continue;
        }
        if let Statement::Mangle(mangle) = stmt {
            if let Some((exprs, map)) =
                rewrite::mapped_hop_count(&mangle.key, &mangle.value, family)
            {
                steps.push(Step::Other(exprs));
                sets.push(map);
                continue;
            }
        }
        if let Some((exprs, map)) = nat::shifted(stmt, family, l4) {
            steps.push(Step::Other(exprs));
            sets.push(map);
            continue;
        }
        let Statement::Match(m) = stmt else {
            steps.push(Step::Other(
                actions::lower(stmt, family, l4).ok_or_else(refused)?,
            ));
            continue;
        };
        if let Some(exprs) = link::ether_source(m) {
            steps.push(Step::Other(exprs));
            continue;
        }
        // The `meta l4proto` test a transport field needs, once per rule.
        let mut depend = |needed: Option<u8>, steps: &mut Vec<Step>| match (needed, l4) {
            (Some(needed), Some(known)) if known != needed => {
                Err(format!("{} (a second layer-4 protocol)", refused()))
            }
            (Some(needed), None) => {
                steps.push(Step::Rel(l4proto_is(needed)));
                l4 = Some(needed);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Some((loads, needed, set)) = sets::concat_lookup(m, family) {
            depend(needed, &mut steps)?;
            steps.push(Step::Other(loads));
            sets.push(set);
            continue;
        }
        if let Some((field, lookup)) = sets::named_lookup(m, family) {
            depend(field.l4, &mut steps)?;
            steps.push(Step::Other(vec![field.load.expr(), lookup]));
            continue;
        }
        if let Some((field, set, invert)) = sets::lookup(m, family) {
            depend(field.l4, &mut steps)?;
            let lookup = NlExpr::SetLookup {
                set: ANON_SET_NAME.to_string(),
                set_id: None,
                invert,
            };
            steps.push(Step::Other(vec![field.load.expr(), lookup]));
            sets.push(set);
            continue;
        }
        let (rel, field) = relational(m, family).ok_or_else(refused)?;
        depend(field.l4, &mut steps)?;
        if let (Load::Meta(NFT_META_L4PROTO), None, NFT_CMP_EQ, Right::Value(v)) =
            (&rel.load, &rel.mask, rel.op, &rel.right)
        {
            l4 = v.first().copied();
        }
        steps.push(Step::Rel(rel));
    }
    merge::reduce(&mut steps);
    let mut out = Vec::with_capacity(steps.len() * 2);
    for step in steps {
        match step {
            Step::Rel(rel) => linearize(rel, &mut out),
            Step::Other(exprs) => out.extend(exprs),
        }
    }
    Ok(Lowered {
        exprs: out,
        sets,
        bound,
    })
}

#[cfg(test)]
mod nat_tests;
#[cfg(test)]
mod tests;
