//! Packet-space boxes: a set of packets as a product of per-dimension
//! interval sets (a cube), unions of cubes (cube lists), and the set
//! operations the checks need.

/// A dimension of the packet space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Source address.
    Src,
    /// Destination address.
    Dst,
    /// Layer-4 protocol number.
    Proto,
    /// Source port; [`NO_PORT`] for packets without one.
    Sport,
    /// Destination port; [`NO_PORT`] for packets without one.
    Dport,
    /// Input interface class (see `ifaces`).
    Iif,
    /// Output interface class.
    Oif,
    /// Connection-tracking state, as the bit index of [`moat_model::ConnStates`].
    CtState,
    /// ICMP type * 256 + code; [`NO_ICMP`] for packets without one.
    Icmp,
    /// TCP flags byte; [`NO_FLAGS`] for packets without one.
    TcpFlags,
    /// Packet mark.
    Mark,
    /// Connection mark.
    ConnMark,
    /// 1 for a second or later fragment.
    Fragment,
    /// IP packet length.
    Length,
    /// Link-layer packet type (unicast, broadcast, multicast, other).
    PktType,
    /// Source MAC address; [`NO_MAC`] for packets without an Ethernet header.
    Mac,
}

/// How many dimensions the space has.
pub const DIMS: usize = 16;

/// The port value of a packet that has no port (another protocol, or a later fragment).
pub const NO_PORT: u128 = 65536;
/// The ICMP value of a packet that is not a (first-fragment) ICMP packet.
pub const NO_ICMP: u128 = 65536;
/// The flags value of a packet that is not a (first-fragment) TCP packet.
pub const NO_FLAGS: u128 = 256;
/// The MAC value of a packet without an Ethernet source address (neither
/// `--mac-source` nor its negation matches it).
pub const NO_MAC: u128 = 1 << 48;

impl Dim {
    /// Every dimension, in index order.
    pub const ALL: [Dim; DIMS] = [
        Dim::Src,
        Dim::Dst,
        Dim::Proto,
        Dim::Sport,
        Dim::Dport,
        Dim::Iif,
        Dim::Oif,
        Dim::CtState,
        Dim::Icmp,
        Dim::TcpFlags,
        Dim::Mark,
        Dim::ConnMark,
        Dim::Fragment,
        Dim::Length,
        Dim::PktType,
        Dim::Mac,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The largest value of each dimension, for one family and interface dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// The largest address (`u32::MAX` for IPv4, `u128::MAX` for IPv6).
    pub addr_max: u128,
    /// The largest interface class index.
    pub iface_max: u128,
}

impl Domain {
    /// The largest value dimension `dim` takes.
    pub fn max(&self, dim: Dim) -> u128 {
        match dim {
            Dim::Src | Dim::Dst => self.addr_max,
            Dim::Proto => 255,
            Dim::Sport | Dim::Dport => NO_PORT,
            Dim::Iif | Dim::Oif => self.iface_max,
            Dim::CtState => 4,
            Dim::Icmp => NO_ICMP,
            Dim::TcpFlags => NO_FLAGS,
            Dim::Mark | Dim::ConnMark => u128::from(u32::MAX),
            Dim::Fragment => 1,
            Dim::Length => 65535,
            Dim::PktType => 3,
            Dim::Mac => NO_MAC,
        }
    }
}

/// A set of values: sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranges(Vec<(u128, u128)>);

impl Ranges {
    /// The empty set.
    pub fn empty() -> Self {
        Ranges(Vec::new())
    }

    /// The values `lo..=hi` (empty when `lo > hi`).
    pub fn span(lo: u128, hi: u128) -> Self {
        if lo > hi {
            Ranges::empty()
        } else {
            Ranges(vec![(lo, hi)])
        }
    }

    /// The single value `v`.
    pub fn single(v: u128) -> Self {
        Ranges::span(v, v)
    }

    /// The union of any inclusive intervals (empty ones are skipped).
    pub fn from_intervals(intervals: impl IntoIterator<Item = (u128, u128)>) -> Self {
        let mut v: Vec<(u128, u128)> = intervals.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Ranges(out)
    }

    /// The intervals, in order.
    pub fn intervals(&self) -> &[(u128, u128)] {
        &self.0
    }

    /// Whether the set has no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The smallest and largest value, if any.
    pub fn hull(&self) -> Option<(u128, u128)> {
        Some((self.0.first()?.0, self.0.last()?.1))
    }

    /// Whether the sets share a value.
    pub fn overlaps(&self, other: &Ranges) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            if a.1 < b.0 {
                i += 1;
            } else if b.1 < a.0 {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }

    /// The values in both sets.
    pub fn intersect(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }

    /// The values of `self` that are not in `other`.
    pub fn subtract(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::new();
        let mut j = 0;
        for &(lo, hi) in &self.0 {
            let mut start = lo;
            let mut open = true;
            while j < other.0.len() && other.0[j].1 < start {
                j += 1;
            }
            let mut k = j;
            while k < other.0.len() && other.0[k].0 <= hi {
                let (olo, ohi) = other.0[k];
                if olo > start {
                    out.push((start, olo - 1));
                }
                if ohi >= hi {
                    open = false;
                    break;
                }
                start = ohi + 1;
                k += 1;
            }
            if open {
                out.push((start, hi));
            }
        }
        Ranges(out)
    }

    /// The values in `0..=max` that are not in the set.
    pub fn complement(&self, max: u128) -> Ranges {
        Ranges::span(0, max).subtract(self)
    }

    /// Whether every value of `self` is in `other`.
    pub fn is_subset(&self, other: &Ranges) -> bool {
        self.subtract(other).is_empty()
    }

    /// Whether the set is all of `0..=max`.
    pub fn is_full(&self, max: u128) -> bool {
        self.0.len() == 1 && self.0[0] == (0, max)
    }
}

/// A box of packets: each dimension is either unconstrained (`None`) or a set of values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cube {
    dims: [Option<Ranges>; DIMS],
}

impl Cube {
    /// Every packet.
    pub fn all() -> Self {
        Cube::default()
    }

    /// The packets whose `dim` is in `values`.
    pub fn with(dim: Dim, values: Ranges) -> Self {
        let mut c = Cube::all();
        c.dims[dim.index()] = Some(values);
        c
    }

    /// The values of `dim`, or `None` when unconstrained.
    pub fn get(&self, dim: Dim) -> Option<&Ranges> {
        self.dims[dim.index()].as_ref()
    }

    /// Replaces the values of `dim` (`None` lifts the constraint).
    pub fn set(&mut self, dim: Dim, values: Option<Ranges>) {
        self.dims[dim.index()] = values;
    }

    /// Whether the box holds no packet.
    pub fn is_empty(&self) -> bool {
        self.dims.iter().flatten().any(Ranges::is_empty)
    }

    /// Whether no dimension is constrained.
    pub fn is_all(&self) -> bool {
        self.dims.iter().all(Option::is_none)
    }

    /// Whether the boxes share a packet (both assumed non-empty).
    pub fn intersects(&self, other: &Cube) -> bool {
        self.dims
            .iter()
            .zip(&other.dims)
            .all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a.overlaps(b),
                _ => true,
            })
    }

    /// The packets in both boxes, if any.
    pub fn intersect(&self, other: &Cube) -> Option<Cube> {
        let mut out = Cube::all();
        for (i, (a, b)) in self.dims.iter().zip(&other.dims).enumerate() {
            out.dims[i] = match (a, b) {
                (Some(a), Some(b)) => {
                    let r = a.intersect(b);
                    if r.is_empty() {
                        return None;
                    }
                    Some(r)
                }
                (Some(a), None) => Some(a.clone()),
                (None, b) => b.clone(),
            };
        }
        Some(out)
    }

    /// Whether every packet of `self` is in `other`.
    pub fn is_subset(&self, other: &Cube, domain: &Domain) -> bool {
        Dim::ALL.iter().all(|&d| match (self.get(d), other.get(d)) {
            (_, None) => true,
            (Some(a), Some(b)) => a.is_subset(b),
            (None, Some(b)) => b.is_full(domain.max(d)),
        })
    }

    /// The packets of `self` not in `other`, as disjoint boxes (at most one per
    /// dimension `other` constrains).
    pub fn subtract(&self, other: &Cube, domain: &Domain) -> Vec<Cube> {
        if !self.intersects(other) {
            return vec![self.clone()];
        }
        let mut out = Vec::new();
        let mut rest = self.clone();
        for &d in &Dim::ALL {
            let Some(o) = other.get(d) else { continue };
            let mine = rest
                .get(d)
                .cloned()
                .unwrap_or_else(|| Ranges::span(0, domain.max(d)));
            let outside = mine.subtract(o);
            if !outside.is_empty() {
                let mut piece = rest.clone();
                piece.set(d, Some(outside));
                out.push(piece);
            }
            rest.set(d, Some(mine.intersect(o)));
        }
        out
    }

    /// The smallest and largest value of `dim` (the whole domain when unconstrained).
    pub fn hull(&self, dim: Dim, domain: &Domain) -> (u128, u128) {
        self.get(dim)
            .and_then(Ranges::hull)
            .unwrap_or((0, domain.max(dim)))
    }
}

/// A union of boxes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CubeList {
    cubes: Vec<Cube>,
}

impl CubeList {
    /// The union of `cubes` (empty ones are dropped).
    pub fn from_cubes(cubes: Vec<Cube>) -> Self {
        CubeList {
            cubes: cubes.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }

    /// The boxes.
    pub fn cubes(&self) -> &[Cube] {
        &self.cubes
    }

    /// Whether the union holds no packet.
    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }

    /// Whether some box is unconstrained (the union is every packet).
    pub fn is_all(&self) -> bool {
        self.cubes.iter().any(Cube::is_all)
    }

    /// Whether the unions share a packet.
    pub fn intersects(&self, other: &CubeList) -> bool {
        self.cubes
            .iter()
            .any(|a| other.cubes.iter().any(|b| a.intersects(b)))
    }

    /// The packets of `self` not in `other`, or `None` when the result would
    /// need more than `cap` boxes.
    pub fn subtract(&self, other: &CubeList, domain: &Domain, cap: usize) -> Option<CubeList> {
        let mut cur = self.cubes.clone();
        for o in &other.cubes {
            let mut next = Vec::with_capacity(cur.len());
            for c in &cur {
                next.extend(c.subtract(o, domain));
                if next.len() > cap {
                    return None;
                }
            }
            cur = next;
            if cur.is_empty() {
                break;
            }
        }
        Some(CubeList { cubes: cur })
    }

    /// Whether every packet of `self` is in `other` (`None` when undecided
    /// within `cap` boxes).
    pub fn is_subset(&self, other: &CubeList, domain: &Domain, cap: usize) -> Option<bool> {
        if self
            .cubes
            .iter()
            .all(|a| other.cubes.iter().any(|b| a.is_subset(b, domain)))
        {
            return Some(true);
        }
        self.subtract(other, domain, cap).map(|r| r.is_empty())
    }

    /// The smallest and largest value of `dim` over all boxes.
    pub fn hull(&self, dim: Dim, domain: &Domain) -> (u128, u128) {
        self.cubes
            .iter()
            .map(|c| c.hull(dim, domain))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            .unwrap_or((1, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM: Domain = Domain {
        addr_max: u32::MAX as u128,
        iface_max: 3,
    };

    fn r(v: &[(u128, u128)]) -> Ranges {
        Ranges::from_intervals(v.iter().copied())
    }

    #[test]
    fn ranges_normalise_merge_and_subtract() {
        assert_eq!(r(&[(5, 9), (1, 3), (4, 4)]).intervals(), &[(1, 9)]);
        let a = r(&[(0, 10), (20, 30)]);
        let b = r(&[(5, 25)]);
        assert_eq!(a.subtract(&b).intervals(), &[(0, 4), (26, 30)]);
        assert_eq!(a.intersect(&b).intervals(), &[(5, 10), (20, 25)]);
        assert!(a.overlaps(&b));
        assert!(!r(&[(0, 4)]).overlaps(&r(&[(5, 9)])));
        assert_eq!(b.complement(30).intervals(), &[(0, 4), (26, 30)]);
        assert!(r(&[(6, 7)]).is_subset(&b));
        assert!(a.overlaps(&Ranges::single(20)) && !a.overlaps(&Ranges::single(15)));
        assert_eq!(
            Ranges::span(0, u128::MAX).subtract(&Ranges::single(u128::MAX)),
            Ranges::span(0, u128::MAX - 1)
        );
        assert!(Ranges::span(3, 2).is_empty());
    }

    #[test]
    fn cube_difference_is_exact() {
        let big = Cube::with(Dim::Src, Ranges::span(0, 100));
        let mut small = Cube::with(Dim::Src, Ranges::span(10, 20));
        small.set(Dim::Proto, Some(Ranges::single(6)));
        let parts = big.subtract(&small, &DOM);
        assert_eq!(parts.len(), 2);
        for p in &parts {
            assert!(!p.intersects(&small));
            assert!(p.is_subset(&big, &DOM));
        }
        assert!(small.subtract(&big, &DOM).is_empty());
        assert!(small.is_subset(&big, &DOM));
        assert!(!big.is_subset(&small, &DOM));
        assert!(Cube::with(Dim::Proto, Ranges::span(0, 255)).is_subset(&Cube::all(), &DOM));
        assert!(Cube::all().is_subset(&Cube::with(Dim::Proto, Ranges::span(0, 255)), &DOM));
    }

    #[test]
    fn two_halves_cover_the_whole() {
        let lo = CubeList::from_cubes(vec![Cube::with(Dim::Src, Ranges::span(0, 49))]);
        let hi = CubeList::from_cubes(vec![Cube::with(Dim::Src, Ranges::span(50, 100))]);
        let mid = CubeList::from_cubes(vec![Cube::with(Dim::Src, Ranges::span(40, 60))]);
        let rest = mid
            .subtract(&lo, &DOM, 16)
            .and_then(|m| m.subtract(&hi, &DOM, 16));
        assert_eq!(rest.map(|r| r.is_empty()), Some(true));
        assert_eq!(mid.is_subset(&lo, &DOM, 16), Some(false));
        assert_eq!(mid.hull(Dim::Src, &DOM), (40, 60));
    }

    #[test]
    fn subtract_gives_up_past_the_cap() {
        let a = CubeList::from_cubes(vec![Cube::all()]);
        let mut holes = Cube::with(Dim::Src, Ranges::single(1));
        holes.set(Dim::Dst, Some(Ranges::single(1)));
        holes.set(Dim::Proto, Some(Ranges::single(1)));
        let b = CubeList::from_cubes(vec![holes]);
        assert!(a.subtract(&b, &DOM, 2).is_none());
        assert_eq!(a.subtract(&b, &DOM, 3).map(|r| r.cubes().len()), Some(3));
    }
}
