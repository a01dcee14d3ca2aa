//! Bounding boxes of a few selective dimensions, to skip rule pairs that
//! cannot share a packet without comparing their full packet sets.

use crate::space::{CubeList, Dim, Domain};

const DIMS: [Dim; 5] = [Dim::Proto, Dim::Dport, Dim::Dst, Dim::Src, Dim::Iif];

/// The hull of a packet set over the selective dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig {
    lo: [u128; DIMS.len()],
    hi: [u128; DIMS.len()],
}

impl Sig {
    /// The hull of `cubes`.
    pub fn of(cubes: &CubeList, domain: &Domain) -> Self {
        let mut sig = Sig {
            lo: [0; DIMS.len()],
            hi: [0; DIMS.len()],
        };
        for (i, &d) in DIMS.iter().enumerate() {
            (sig.lo[i], sig.hi[i]) = cubes.hull(d, domain);
        }
        sig
    }

    /// Whether the hulls overlap (they must for the sets to share a packet).
    pub fn may_overlap(&self, other: &Sig) -> bool {
        (0..DIMS.len()).all(|i| self.lo[i] <= other.hi[i] && other.lo[i] <= self.hi[i])
    }
}
