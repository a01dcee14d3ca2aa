//! Small constructors for the nftables crate's expressions and statements,
//! so the compilers read like the nft syntax they produce.

use std::borrow::Cow;

use moat_model::Family;
use nftables::expr::{
    BinaryOperation, CTDir, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadBase,
    PayloadField, PayloadRaw, Range, SetItem, CT,
};
use nftables::stmt::{Match, Operator, Statement};

/// `<` (nftables 0.6.3 swaps the names: its `Operator::GT` serializes as `"<"`).
pub(super) const LESS: Operator = Operator::GT;
/// `>` (written `Operator::LT` for the same reason).
pub(super) const GREATER: Operator = Operator::LT;
/// `>=`.
pub(super) const GREATER_EQ: Operator = Operator::GEQ;

/// A payload field, e.g. `payload("tcp", "dport")` for `tcp dport`.
pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

/// `len` raw bits at bit `offset` of the network header, e.g. `@nh,8,8`.
pub(super) fn network_bits(offset: u32, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadRaw(PayloadRaw {
        base: PayloadBase::NH,
        offset,
        len,
    })))
}

/// A packet meta key, e.g. `meta mark`.
pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// A conntrack key without direction, e.g. `ct state`.
pub(super) fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

/// A conntrack key of one direction, e.g. `ct original ip saddr`.
pub(super) fn ct_dir(key: &'static str, dir: CTDir) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: Some(dir),
    }))
}

/// An integer immediate.
pub(super) fn num(n: u32) -> Expression<'static> {
    Expression::Number(n)
}

/// A string immediate (a symbol nft parses with the type of the other side).
pub(super) fn text(s: impl Into<Cow<'static, str>>) -> Expression<'static> {
    Expression::String(s.into())
}

/// An inclusive range `lo-hi`.
pub(super) fn range(lo: Expression<'static>, hi: Expression<'static>) -> Expression<'static> {
    Expression::Range(Box::new(Range { range: [lo, hi] }))
}

/// A single value, or the range `lo-hi` when the bounds differ.
pub(super) fn value_or_range(lo: u32, hi: u32) -> Expression<'static> {
    if lo == hi {
        num(lo)
    } else {
        range(num(lo), num(hi))
    }
}

/// `a & b`.
pub(super) fn and(a: Expression<'static>, b: Expression<'static>) -> Expression<'static> {
    Expression::BinaryOperation(Box::new(BinaryOperation::AND(a, b)))
}

/// `value`, or `value & mask` when the mask keeps only some bits.
pub(super) fn masked(value: Expression<'static>, mask: u32) -> Expression<'static> {
    if mask == u32::MAX {
        value
    } else {
        and(value, num(mask))
    }
}

/// `a ^ b`.
pub(super) fn xor(a: Expression<'static>, b: Expression<'static>) -> Expression<'static> {
    Expression::BinaryOperation(Box::new(BinaryOperation::XOR(a, b)))
}

/// The concatenation `a . b . ...`.
pub(super) fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

/// An anonymous set `{ a, b, ... }`.
pub(super) fn anon_set(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        items.into_iter().map(SetItem::Element).collect(),
    ))
}

/// A reference to the named set `@name`.
pub(super) fn set_ref(name: &str) -> Expression<'static> {
    text(format!("@{name}"))
}

/// The relational statement `left op right`.
pub(super) fn cmp(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// `left == right`, or `left != right` when `negate`.
pub(super) fn eq(
    left: Expression<'static>,
    right: Expression<'static>,
    negate: bool,
) -> Statement<'static> {
    cmp(
        left,
        if negate { Operator::NEQ } else { Operator::EQ },
        right,
    )
}

/// A statement no packet of `family` satisfies (`ip version != 4` in an IPv4
/// table), for rules iptables accepts but that can never match.
pub(super) fn never(family: Family) -> Statement<'static> {
    match family {
        Family::Ipv4 => eq(payload("ip", "version"), num(4), true),
        Family::Ipv6 => eq(payload("ip6", "version"), num(6), true),
    }
}
