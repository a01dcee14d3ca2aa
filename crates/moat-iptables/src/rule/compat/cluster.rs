//! `-m cluster`: the packet's connection hashes to one of this node's
//! shares of a cluster (xt_cluster, revision 0).

use moat_model::{XtExtension, XtLayout};

use super::kernel_ext;
use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, u32_value};

/// The most nodes a cluster has.
const MAX_NODES: u64 = 32;

/// `-m cluster --cluster-total-nodes N --cluster-local-node(mask) M --cluster-hash-seed S`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cluster {
    total_nodes: Option<u32>,
    /// The local nodes as a mask, and whether `!` preceded them.
    node_mask: Option<(u32, bool)>,
    hash_seed: Option<u32>,
}

impl Cluster {
    /// The kernel extension.
    pub(crate) fn ext(&self) -> XtExtension {
        let (mask, invert) = self.node_mask.unwrap_or_default();
        kernel_ext(
            "-m",
            "cluster",
            0,
            XtLayout::new()
                .u32(self.total_nodes.unwrap_or_default())
                .u32(mask)
                .u32(self.hash_seed.unwrap_or_default())
                .u32(u32::from(invert))
                .finish(),
            self,
        )
    }
}

impl Extension for Cluster {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--cluster-total-nodes", 1, false),
            opt("--cluster-local-node", 1, true),
            opt("--cluster-local-nodemask", 1, true),
            opt("--cluster-hash-seed", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--cluster-total-nodes" => {
                once(&self.total_nodes, o.name)?;
                self.total_nodes = Some(number_in(v, o.name, 1, MAX_NODES)? as u32);
            }
            "--cluster-local-node" => {
                once(
                    &self.node_mask,
                    "--cluster-local-node or --cluster-local-nodemask",
                )?;
                let node = number_in(v, o.name, 1, MAX_NODES)?;
                self.node_mask = Some((1 << (node - 1), o.invert));
            }
            "--cluster-local-nodemask" => {
                once(
                    &self.node_mask,
                    "--cluster-local-node or --cluster-local-nodemask",
                )?;
                self.node_mask = Some((u32_value(v, o.name)?, o.invert));
            }
            _ => {
                once(&self.hash_seed, o.name)?;
                self.hash_seed = Some(u32_value(v, o.name)?);
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        let (Some(total), Some((mask, _)), Some(_)) =
            (self.total_nodes, self.node_mask, self.hash_seed)
        else {
            return fail(
                "cluster: give --cluster-total-nodes, --cluster-local-node (or \
                 --cluster-local-nodemask) and --cluster-hash-seed",
            );
        };
        if u64::from(mask) >= 1u64 << total {
            return fail(format!(
                "cluster: the local nodes (mask {mask:#x}) must be among the {total} nodes of \
                 --cluster-total-nodes"
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let (Some(total), Some((mask, invert)), Some(seed)) =
            (self.total_nodes, self.node_mask, self.hash_seed)
        {
            let bang = if invert { " !" } else { "" };
            out.push_str(&format!(
                "{bang} --cluster-local-nodemask {mask:#010x} --cluster-total-nodes {total} \
                 --cluster-hash-seed {seed:#010x}"
            ));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let (Some(total), Some((mask, invert)), Some(seed)) =
            (self.total_nodes, self.node_mask, self.hash_seed)
        {
            let bang = if invert { "!" } else { "" };
            out.push_str(&format!(
                " cluster {bang}node_mask={mask:#010x} total_nodes={total} hash_seed={seed:#010x}"
            ));
        }
    }
}
