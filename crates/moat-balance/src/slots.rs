//! The lookup table a service's rule picks backends from: `M` slots, each
//! holding a backend. The rule draws a slot number (`numgen random mod M`,
//! `numgen inc mod M`, or `jhash ip saddr mod M`), so a backend's share of
//! new connections is its share of the slots.
//!
//! `M` never changes while the configuration stays (the rule would have to
//! change); when backends go down or come back only the slots are refilled.
//! For random and round-robin, `M` is chosen so that every set of backends
//! that can be up at once divides it exactly by weight (the least common
//! multiple of the possible weight sums, up to [`MAX_EXACT`]); for hash
//! mode it is a prime for Maglev's permutations.

/// The largest table kept exact; beyond it shares are off by at most 1/M.
pub const MAX_EXACT: u64 = 5040;
/// Table sizes for hash mode: primes, the first at least 100 slots per backend is taken.
const MAGLEV_PRIMES: [u64; 9] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];

/// How a service spreads new connections over its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// Slots drawn at random.
    Random,
    /// Slots taken in turn.
    RoundRobin,
    /// Slots by a hash of the client address, filled by Maglev.
    Hash,
}

/// One backend that may take slots: an identity that stays the same while
/// the configuration does (Maglev's permutation comes from it) and a weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// E.g. `10.0.0.1:80`.
    pub key: String,
    /// Its share relative to the others.
    pub weight: u32,
}

/// The number of slots for a service whose backends have `weights`.
pub fn table_size(spread: Spread, weights: &[u32]) -> u64 {
    match spread {
        Spread::Hash => {
            let want = 100 * weights.len().max(1) as u64;
            MAGLEV_PRIMES
                .iter()
                .copied()
                .find(|&p| p >= want)
                .unwrap_or(MAGLEV_PRIMES[MAGLEV_PRIMES.len() - 1])
        }
        Spread::Random | Spread::RoundRobin => exact_size(weights),
    }
}

/// The least common multiple of every sum of a subset of `weights`, or
/// [`MAX_EXACT`] when that is larger.
fn exact_size(weights: &[u32]) -> u64 {
    let total: usize = weights.iter().map(|&w| w as usize).sum();
    let mut reachable = vec![false; total + 1];
    reachable[0] = true;
    for &w in weights {
        let w = w as usize;
        for s in (w..=total).rev() {
            if reachable[s - w] {
                reachable[s] = true;
            }
        }
    }
    let mut size = 1u64;
    for (sum, _) in reachable.iter().enumerate().skip(1).filter(|(_, &r)| r) {
        size = lcm(size, sum as u64);
        if size > MAX_EXACT {
            return MAX_EXACT;
        }
    }
    size
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

/// Fills `size` slots with the `live` backends (indexes into `live`);
/// empty when none is live.
pub fn fill(spread: Spread, size: u64, live: &[Candidate]) -> Vec<usize> {
    if live.is_empty() || size == 0 {
        return Vec::new();
    }
    match spread {
        Spread::Random => {
            let counts = apportion(size, live);
            counts
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| std::iter::repeat_n(i, n as usize))
                .collect()
        }
        Spread::RoundRobin => smooth_order(&apportion(size, live)),
        Spread::Hash => maglev(size, live),
    }
}

/// Slots per backend in proportion to the weights (largest remainders
/// take the slots left over).
fn apportion(size: u64, live: &[Candidate]) -> Vec<u64> {
    let total: u64 = live.iter().map(|c| u64::from(c.weight)).sum();
    let mut counts: Vec<u64> = live
        .iter()
        .map(|c| size * u64::from(c.weight) / total)
        .collect();
    let mut left = size - counts.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..live.len()).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(size * u64::from(live[i].weight) % total));
    for i in by_remainder {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// The order smooth weighted round-robin gives for these counts: each
/// backend's turns spread evenly through the cycle.
fn smooth_order(counts: &[u64]) -> Vec<usize> {
    let total: i64 = counts.iter().map(|&c| c as i64).sum();
    let mut current = vec![0i64; counts.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (cur, &c) in current.iter_mut().zip(counts) {
            *cur += c as i64;
        }
        let best = (0..counts.len())
            .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        current[best] -= total;
        out.push(best);
    }
    out
}

/// Maglev's lookup table (Eisenbud et al., NSDI 2016), weighted: each
/// backend walks its own permutation of the slots and takes the next free
/// one in turn, as often per round as its weight allows, so removing a
/// backend moves only the slots it held (and a few more).
fn maglev(size: u64, live: &[Candidate]) -> Vec<usize> {
    let max_weight = live.iter().map(|c| c.weight).max().unwrap_or(1).max(1);
    let perms: Vec<(u64, u64)> = live
        .iter()
        .map(|c| {
            let offset = moat_model::stable_hash(&c.key, 1) % size;
            let skip = moat_model::stable_hash(&c.key, 2) % (size - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; live.len()];
    let mut credit = vec![0u64; live.len()];
    let mut table: Vec<Option<usize>> = vec![None; size as usize];
    let mut filled = 0u64;
    while filled < size {
        for (i, c) in live.iter().enumerate() {
            credit[i] += u64::from(c.weight);
            while credit[i] >= u64::from(max_weight) && filled < size {
                credit[i] -= u64::from(max_weight);
                let (offset, skip) = perms[i];
                loop {
                    let slot = ((offset + next[i] * skip) % size) as usize;
                    next[i] += 1;
                    if table[slot].is_none() {
                        table[slot] = Some(i);
                        filled += 1;
                        break;
                    }
                }
            }
        }
    }
    table.into_iter().map(|s| s.unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(weights: &[u32]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Candidate {
                key: format!("10.0.0.{}:80", i + 1),
                weight,
            })
            .collect()
    }

    fn shares(slots: &[usize], n: usize) -> Vec<usize> {
        let mut out = vec![0; n];
        for &s in slots {
            out[s] += 1;
        }
        out
    }

    #[test]
    fn sizes_divide_every_set_of_backends_exactly() {
        assert_eq!(exact_size(&[1, 1, 1]), 6);
        assert_eq!(exact_size(&[2, 1, 1]), 12);
        assert_eq!(exact_size(&[1]), 1);
        let weights = [2, 1, 1];
        let size = table_size(Spread::Random, &weights);
        // Every subset of the backends splits the table exactly by weight.
        for mask in 1u32..8 {
            let live: Vec<Candidate> = candidates(&weights)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, c)| c)
                .collect();
            let total: u64 = live.iter().map(|c| u64::from(c.weight)).sum();
            let slots = fill(Spread::Random, size, &live);
            assert_eq!(slots.len() as u64, size);
            for (i, n) in shares(&slots, live.len()).into_iter().enumerate() {
                assert_eq!(
                    n as u64 * total,
                    size * u64::from(live[i].weight),
                    "mask {mask}"
                );
            }
        }
    }

    #[test]
    fn many_backends_cap_the_table_and_stay_within_one_slot() {
        let weights = vec![1; 40];
        let size = table_size(Spread::Random, &weights);
        assert_eq!(size, MAX_EXACT);
        let slots = fill(Spread::Random, size, &candidates(&weights));
        let s = shares(&slots, 40);
        let (lo, hi) = (s.iter().min().unwrap(), s.iter().max().unwrap());
        assert!(hi - lo <= 1, "{s:?}");
    }

    #[test]
    fn round_robin_interleaves_by_weight() {
        let slots = fill(Spread::RoundRobin, 4, &candidates(&[2, 1, 1]));
        assert_eq!(slots, vec![0, 1, 2, 0]);
        let slots = fill(Spread::RoundRobin, 6, &candidates(&[1, 1, 1]));
        assert_eq!(slots, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn nothing_live_gives_an_empty_table() {
        assert!(fill(Spread::Random, 6, &[]).is_empty());
    }

    #[test]
    fn maglev_moves_only_the_lost_backends_slots_mostly() {
        let all = candidates(&[1, 1, 1, 1, 1]);
        let size = table_size(Spread::Hash, &[1; 5]);
        assert_eq!(size, 509);
        let before = fill(Spread::Hash, size, &all);
        let s = shares(&before, 5);
        assert!(s.iter().all(|&n| (90..=115).contains(&n)), "{s:?}");
        // Remove backend 2: every slot it did not hold mostly keeps its backend.
        let rest: Vec<Candidate> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, c)| c.clone())
            .collect();
        let after = fill(Spread::Hash, size, &rest);
        let key = |v: &[usize], set: &[Candidate], i: usize| set[v[i]].key.clone();
        let kept_elsewhere = (0..size as usize)
            .filter(|&i| before[i] != 2)
            .filter(|&i| key(&before, &all, i) == key(&after, &rest, i))
            .count();
        let elsewhere = before.iter().filter(|&&b| b != 2).count();
        assert!(
            kept_elsewhere * 100 >= elsewhere * 90,
            "{kept_elsewhere} of {elsewhere} slots kept"
        );
        assert!(after.iter().all(|&b| b < 4));
    }

    #[test]
    fn maglev_follows_weights() {
        let slots = fill(Spread::Hash, 1021, &candidates(&[2, 1, 1]));
        let s = shares(&slots, 3);
        assert!((490..=530).contains(&s[0]), "{s:?}");
    }
}
