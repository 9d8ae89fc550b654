//! A small, hand-written deterministic PRNG (xoshiro256++ seeded by
//! SplitMix64) and the few distributions the demo data needs.
//!
//! Why hand-written: the demo bytes must be identical on every run and every
//! machine, so the generator must never change under us with a crate update.
//! Why no `ln`/`exp`/`cos` from the platform libm: their last bit may differ
//! between platforms. Everything here uses only integer arithmetic and the
//! IEEE-exact float operations (+ − × ÷, `round`, `abs`), plus a local `exp`
//! built from those.

/// xoshiro256++ (Blackman & Vigna): fast, 256-bit state, good quality.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

/// SplitMix64 step: used to expand seeds into generator state.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stream domains: each kind of random decision draws from its own stream, so
/// adding a draw in one place never shifts the numbers used anywhere else.
pub(crate) mod domain {
    pub const UNIVERSE: u64 = 1;
    pub const STOCK: u64 = 2;
    pub const PATH: u64 = 3;
    pub const DAY: u64 = 4;
    pub const SUSPENSION: u64 = 5;
}

impl Rng {
    /// An independent stream for `(seed, domain, index)`.
    pub fn stream(seed: u64, domain: u64, index: u64) -> Rng {
        let mut x = seed;
        let a = splitmix64(&mut x);
        x = a ^ domain.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let b = splitmix64(&mut x);
        x = b ^ index.wrapping_mul(0xA24B_AED4_963E_E407);
        let s = [
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
            splitmix64(&mut x),
        ];
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n) (multiply-shift; the bias is far below
    /// anything that matters for demo data). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately standard normal: Irwin–Hall sum of twelve 16-bit
    /// uniforms (mean 0, variance 1, bounded at ±6). Integer sum, so exact;
    /// fat tails are added explicitly where the model wants them.
    pub fn normal(&mut self) -> f64 {
        let mut sum: u64 = 0;
        for _ in 0..3 {
            let x = self.next_u64();
            sum += (x & 0xffff) + ((x >> 16) & 0xffff) + ((x >> 32) & 0xffff) + (x >> 48);
        }
        // Each 16-bit uniform has mean 32767.5 and variance ≈ 65536²/12.
        (sum as f64 - 393_210.0) / 65_536.0
    }

    /// Log-normal with the given median and log-space sigma.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * det_exp(sigma * self.normal())
    }

    /// Picks an index with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// `exp(x)` from IEEE-exact operations only: `2^k · exp(r)` with
/// `|r| ≤ ln2/2` and a degree-14 Taylor polynomial in Horner form (error
/// ~1e-16 relative). Used instead of `f64::exp` so the output does not
/// depend on the platform's libm.
pub(crate) fn det_exp(x: f64) -> f64 {
    /// 1/k for k = 1..=14 (constants, so the same bits everywhere).
    const INV: [f64; 14] = [
        1.0,
        1.0 / 2.0,
        1.0 / 3.0,
        1.0 / 4.0,
        1.0 / 5.0,
        1.0 / 6.0,
        1.0 / 7.0,
        1.0 / 8.0,
        1.0 / 9.0,
        1.0 / 10.0,
        1.0 / 11.0,
        1.0 / 12.0,
        1.0 / 13.0,
        1.0 / 14.0,
    ];
    let x = x.clamp(-700.0, 700.0);
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = x - k * std::f64::consts::LN_2;
    // e^r = 1 + r(1 + r/2(1 + r/3(… (1 + r/14))))
    let mut sum = 1.0;
    for inv in INV.iter().rev() {
        sum = 1.0 + r * inv * sum;
    }
    // 2^k built from its bits: exact, no powi.
    let two_k = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    sum * two_k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(42, 1, 7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(42, 1, 7).next_u64(),
            Rng::stream(42, 1, 8).next_u64()
        );
        assert_ne!(
            Rng::stream(42, 1, 7).next_u64(),
            Rng::stream(42, 2, 7).next_u64()
        );
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = Rng::stream(1, 2, 3);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn det_exp_matches_std() {
        for &x in &[-20.0, -3.3, -1.0, -0.1, 0.0, 0.5, 1.0, 2.7, 10.0, 30.0] {
            let rel = (det_exp(x) - f64::exp(x)).abs() / f64::exp(x);
            assert!(rel < 1e-14, "exp({x}): rel err {rel}");
        }
    }
}
