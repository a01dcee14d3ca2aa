//! The pkttype match: the link-layer packet type.

use moat_model::{Match, PacketType};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::push_opt;

/// `-m pkttype --pkt-type`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PktType {
    kind: Option<(PacketType, bool)>,
}

fn name(kind: PacketType) -> &'static str {
    match kind {
        PacketType::Unicast => "unicast",
        PacketType::Broadcast => "broadcast",
        PacketType::Multicast => "multicast",
        PacketType::OtherHost => "otherhost",
    }
}

impl PktType {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let Some((kind, negate)) = self.kind {
            out.push(Match::PacketType { kind, negate });
        }
    }
}

impl Extension for PktType {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[opt("--pkt-type", 1, true)];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        once(&self.kind, "--pkt-type")?;
        let v = o.value().to_ascii_lowercase();
        let kind = match v.as_str() {
            "unicast" | "host" => PacketType::Unicast,
            "broadcast" | "bcast" => PacketType::Broadcast,
            "multicast" | "mcast" => PacketType::Multicast,
            "otherhost" => PacketType::OtherHost,
            _ => {
                return fail(format!(
                    "--pkt-type: bad packet type \"{}\" (expected unicast, broadcast, multicast \
                     or otherhost){}",
                    o.value(),
                    crate::rule::suggest::did_you_mean(
                        &v,
                        ["unicast", "broadcast", "multicast", "otherhost"]
                    )
                ))
            }
        };
        self.kind = Some((kind, o.invert));
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.kind.is_none() {
            return fail("the pkttype match needs --pkt-type");
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some((kind, inv)) = self.kind {
            push_opt(out, inv, "--pkt-type", Some(name(kind)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let Some((kind, inv)) = self.kind {
            out.push_str(&format!(
                " PKTTYPE {} {}",
                if inv { "!=" } else { "=" },
                name(kind)
            ));
        }
    }
}
