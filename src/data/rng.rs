//! A small, self-contained PRNG for the data generators: SplitMix64.
//!
//! Every generator draws from its own stream, keyed by (seed, domain, index), so item `i` of a
//! dataset does not depend on how many items are generated, and changing one generator does
//! not shift another's numbers. Not for cryptography; stable across platforms and versions
//! (datasets are reproducible from their seed).

/// Stream domains: one per generator.
pub(crate) const DOMAIN_SPRITES: u64 = 0x5350_5249_5445; // "SPRITE"
pub(crate) const DOMAIN_MOONS: u64 = 0x4d4f_4f4e; // "MOON"
pub(crate) const DOMAIN_SPLIT: u64 = 0x0053_504c_4954; // "SPLIT"
pub(crate) const DOMAIN_KMEANS: u64 = 0x4b4d_4541_4e53; // "KMEANS"

/// SplitMix64's finaliser: a bijective 64-bit mix.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood 2014).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The stream for item `index` of generator `domain` under `seed`.
    pub fn stream(seed: u64, domain: u64, index: u64) -> Rng {
        let a = mix64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let b = mix64(a ^ domain.wrapping_mul(0xd6e8_feb8_6659_fd93));
        Rng::new(mix64(b ^ index.wrapping_mul(0xa076_1d64_78bd_642f)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in [0, 1), 24 bits.
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    /// Uniform integer in [0, n); `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        // Lemire's multiply-shift; the bias for the small n used here is far below 2^-32.
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }

    /// Index drawn with probability proportional to `weights` (not all zero).
    pub fn weighted(&mut self, weights: &[f32]) -> usize {
        let total: f32 = weights.iter().sum();
        let mut x = self.f32() * total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
