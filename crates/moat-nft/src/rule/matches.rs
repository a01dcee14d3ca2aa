//! Dispatches each kind of match to the module that compiles it.

use moat_model::Match;
use nftables::expr::MetaKey;

use super::{
    addr, addrtype, connbytes, conntrack, limit, owner, packet, ports, quota, recent, statistic,
    CompileError, CompiledRule, Cx,
};

/// Whether match `m`, after the rule's `earlier` matches, compiles to
/// something only the netlink driver writes: a kernel xtables match (`-m
/// recent`, `-m string`, ..., a state list that mixes SNAT/DNAT with
/// connection states, a connection port test with no protocol before it,
/// a list of ports).
pub(crate) fn needs_netlink(m: &Match, earlier: &[Match]) -> bool {
    match m {
        Match::Xt(_) | Match::Recent { .. } => true,
        Match::ConnState { states, negate } => conntrack::state_needs_xt(*states, *negate),
        Match::ConnPort { .. } => conntrack::port_needs_xt(earlier),
        Match::SourcePort { ports, .. }
        | Match::DestPort { ports, .. }
        | Match::AnyPort { ports, .. } => ports::is_multiport(ports),
        _ => false,
    }
}

/// Appends the statements (and sets) of one match.
pub(super) fn compile(m: &Match, cx: &Cx, out: &mut CompiledRule) -> Result<(), CompileError> {
    let family = cx.family;
    let stmts = match m {
        Match::Protocol { proto, negate } => packet::protocol(*proto, *negate),
        Match::SourceNet { net, negate } => addr::net(addr::Side::Source, net, *negate, family)?,
        Match::DestNet { net, negate } => addr::net(addr::Side::Dest, net, *negate, family)?,
        Match::AddrMask {
            side,
            addr,
            mask,
            negate,
        } => addr::masked_eq(*side, *addr, *mask, *negate, family)?,
        Match::SourceRange { from, to, negate } => {
            addr::range(addr::Side::Source, *from, *to, *negate, family)?
        }
        Match::DestRange { from, to, negate } => {
            addr::range(addr::Side::Dest, *from, *to, *negate, family)?
        }
        Match::InInterface { iface, negate } => packet::in_interface(iface, *negate, family)?,
        Match::OutInterface { iface, negate } => packet::out_interface(iface, *negate, family)?,
        Match::Fragment { negate } => packet::fragment(*negate, family)?,
        // iptables' dccp match (alone) takes a port range that runs backwards.
        Match::SourcePort {
            proto: DCCP,
            ports,
            negate,
        }
        | Match::DestPort {
            proto: DCCP,
            ports,
            negate,
        } if ports.iter().all(|r| r.first > r.last) => empty_range(*negate, family),
        Match::SourcePort {
            proto,
            ports,
            negate,
        } => ports::source(*proto, ports, *negate, family)?,
        Match::DestPort {
            proto,
            ports,
            negate,
        } => ports::dest(*proto, ports, *negate, family)?,
        Match::AnyPort {
            proto,
            ports,
            negate,
        } => ports::any(*proto, ports, *negate, family)?,
        Match::TcpFlags { flags, negate } => packet::tcp_flags(*flags, *negate),
        Match::Icmp { kind, code, negate } => packet::icmp(*kind, *code, *negate, family)?,
        Match::Icmpv6 { kind, code, negate } => packet::icmpv6(*kind, *code, *negate, family)?,
        Match::ConnState { states, negate } => conntrack::state(*states, *negate, family)?,
        Match::ConnStatus { status, negate } => conntrack::status(*status, *negate, family),
        Match::ConnProto { proto, negate } => conntrack::proto(*proto, *negate),
        Match::ConnAddr { which, net, negate } => conntrack::addr(*which, net, *negate, family)?,
        Match::ConnPort {
            which,
            range,
            negate,
        } => conntrack::port(*which, *range, *negate, cx)?,
        Match::ConnExpire { min, max, negate } => conntrack::expire(*min, *max, *negate, family)?,
        Match::ConnDirection { dir } => conntrack::direction(*dir),
        Match::SourceMac { mac, negate } => packet::source_mac(mac, *negate),
        Match::Mark {
            value,
            mask,
            negate,
        } => packet::mark(*value, *mask, *negate),
        Match::ConnMark {
            value,
            mask,
            negate,
        } => conntrack::mark(*value, *mask, *negate),
        Match::AddrType {
            src,
            dst,
            limit_iface_in,
            limit_iface_out,
        } => addrtype::compile(*src, *dst, *limit_iface_in, *limit_iface_out, family)?,
        Match::PacketType { kind, negate } => packet::packet_type(*kind, *negate),
        Match::Length { min, max, negate } => packet::length(*min, *max, *negate, family),
        Match::Limit { rate, burst, over } => vec![limit::limit(*rate, *burst, *over)?],
        Match::HashLimit {
            name,
            rate,
            burst,
            over,
            key,
            expire_ms,
            bytes,
            max_keys,
        } => {
            let spec = limit::HashLimitSpec {
                name,
                rate: *rate,
                burst: *burst,
                over: *over,
                key: *key,
                expire_ms: *expire_ms,
                bytes: *bytes,
                max_keys: *max_keys,
            };
            limit::hash_limit(&spec, cx, out)?
        }
        Match::ConnLimit {
            count,
            above,
            prefix,
            by_source,
        } => limit::conn_limit(*count, *above, *prefix, *by_source, cx, out)?,
        Match::Recent {
            name,
            action,
            seconds,
            hitcount,
            side,
            negate,
            rttl,
            reap,
            mask,
        } => {
            let spec = recent::RecentSpec {
                name,
                action: *action,
                seconds: *seconds,
                hitcount: *hitcount,
                side: *side,
                negate: *negate,
                rttl: *rttl,
                reap: *reap,
                mask: *mask,
            };
            recent::compile(&spec)?
        }
        Match::InSet {
            name,
            sides,
            negate,
            options,
        } => addr::in_set(name, sides, *negate, options, family)?,
        Match::Statistic { mode, negate } => statistic::compile(*mode, *negate, family)?,
        Match::SocketUid { min, max, negate } => owner::id(MetaKey::Skuid, *min, *max, *negate),
        Match::SocketGid { min, max, negate } => owner::id(MetaKey::Skgid, *min, *max, *negate),
        Match::HopLimit { cmp, value } => packet::hop_limit(*cmp, *value, family),
        Match::DsField {
            value,
            mask,
            negate,
        } => packet::ds_field(*value, *mask, *negate, family),
        Match::Quota { bytes, negate } => quota::compile(*bytes, *negate, family),
        Match::Cpu { cpu, negate } => packet::cpu(*cpu, *negate),
        Match::Realm {
            value,
            mask,
            negate,
        } => packet::realm(*value, *mask, *negate),
        Match::RpFilter {
            loose,
            valid_mark,
            accept_local,
            negate,
        } => packet::reverse_path(*loose, *valid_mark, *accept_local, *negate, family),
        Match::DeviceGroup {
            output,
            value,
            mask,
            negate,
        } => packet::device_group(*output, *value, *mask, *negate),
        Match::ConnBytes {
            counter,
            dir,
            min,
            max,
            negate,
        } => connbytes::compile(*counter, *dir, *min, *max, *negate),
        Match::Comment { .. } => Vec::new(),
        Match::Xt(ext) => vec![super::xt::statement(ext)],
    };
    out.stmts.extend(stmts);
    Ok(())
}

/// A range that runs backwards, which iptables takes: nothing is in it, so
/// the test never holds, or negated always does.
fn empty_range(
    negate: bool,
    family: moat_model::Family,
) -> Vec<nftables::stmt::Statement<'static>> {
    if negate {
        Vec::new()
    } else {
        vec![super::build::never(family)]
    }
}

/// The protocol number of DCCP.
const DCCP: u8 = 33;
