//! Per-method request counts, errors and latency percentiles, kept in a
//! fixed set of lock-free log-scale histograms (bounded memory whatever the
//! traffic: method names outside the contract share one "other" slot).

use std::sync::atomic::{AtomicU64, Ordering};
use stockd_api::RequestStatus;

/// Four buckets per power of two, from 1 µs to about 2^34 µs (4.7 h).
const SUB: usize = 4;
const BUCKETS: usize = 35 * SUB;

/// The `le` bounds exported to Prometheus, in µs: every other power of
/// two from 16 µs to about 16.8 s (bucket edges of [`Histogram`]).
pub const EXPORT_BOUNDS_US: [u64; 11] = [
    1 << 4,
    1 << 6,
    1 << 8,
    1 << 10,
    1 << 12,
    1 << 14,
    1 << 16,
    1 << 18,
    1 << 20,
    1 << 22,
    1 << 24,
];

/// A latency histogram of microseconds.
pub struct Histogram {
    counts: Vec<AtomicU64>,
    /// The sum of every recorded value, in µs (Prometheus' `_sum`).
    sum_us: AtomicU64,
}

fn bucket(us: u64) -> usize {
    let us = us.max(1);
    let exp = 63 - us.leading_zeros() as usize; // floor(log2)
    let frac = if exp >= 2 {
        ((us >> (exp - 2)) & 0b11) as usize
    } else {
        ((us << (2 - exp)) & 0b11) as usize
    };
    (exp * SUB + frac).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in µs.
fn upper(b: usize) -> u64 {
    let exp = b / SUB;
    let frac = (b % SUB) as u64;
    let base = 1u64 << exp;
    base + (base * (frac + 1)) / SUB as u64
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, us: u64) {
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative counts for Prometheus: for each bound of [`EXPORT_BOUNDS_US`]
    /// the values below it, then the total and the sum in µs. The bounds are
    /// bucket edges, so the counts are exact.
    pub fn export(&self) -> (Vec<u64>, u64, u64) {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let below = EXPORT_BOUNDS_US
            .iter()
            .map(|&le| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|&(b, _)| upper(b) <= le)
                    .map(|(_, c)| c)
                    .sum()
            })
            .collect();
        (
            below,
            counts.iter().sum(),
            self.sum_us.load(Ordering::Relaxed),
        )
    }

    /// The value at quantile `q` (0..1), as a bucket's upper bound.
    pub fn quantile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(b);
            }
        }
        upper(BUCKETS - 1)
    }
}

#[derive(Default)]
struct MethodStats {
    count: AtomicU64,
    errors: AtomicU64,
    latency: Histogram,
}

/// Statistics for every method of the contract, plus "other".
pub struct RequestStats {
    names: Vec<&'static str>,
    slots: Vec<MethodStats>,
}

impl RequestStats {
    pub fn new(methods: &[&'static str]) -> RequestStats {
        let mut names = methods.to_vec();
        names.push("other");
        RequestStats {
            slots: names.iter().map(|_| MethodStats::default()).collect(),
            names,
        }
    }

    fn slot(&self, method: &str) -> &MethodStats {
        let i = self
            .names
            .iter()
            .position(|n| *n == method)
            .unwrap_or(self.names.len() - 1);
        &self.slots[i]
    }

    pub fn record(&self, method: &str, us: u64, error: bool) {
        let s = self.slot(method);
        s.count.fetch_add(1, Ordering::Relaxed);
        if error {
            s.errors.fetch_add(1, Ordering::Relaxed);
        }
        s.latency.record(us);
    }

    /// Every method's name, count, errors and latency histogram
    /// (for `/metrics`), called or not.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, u64, u64, &Histogram)> + '_ {
        self.names.iter().zip(&self.slots).map(|(n, s)| {
            (
                *n,
                s.count.load(Ordering::Relaxed),
                s.errors.load(Ordering::Relaxed),
                &s.latency,
            )
        })
    }

    /// Methods that have been called at least once.
    pub fn status(&self) -> Vec<RequestStatus> {
        self.names
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| s.count.load(Ordering::Relaxed) > 0)
            .map(|(n, s)| RequestStatus {
                method: n.to_string(),
                count: s.count.load(Ordering::Relaxed),
                errors: s.errors.load(Ordering::Relaxed),
                p50_us: s.latency.quantile(0.50),
                p99_us: s.latency.quantile(0.99),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(us);
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((500..=640).contains(&p50), "p50 {p50}");
        assert!((990..=1280).contains(&p99), "p99 {p99}");
        for us in [1u64, 3, 17, 1000, 123_456] {
            assert!(upper(bucket(us)) >= us, "{us}");
            assert!(upper(bucket(us)) <= us * 2 + 1, "{us}");
        }
    }

    #[test]
    fn export_counts_values_below_each_bound() {
        let h = Histogram::default();
        for us in [1u64, 15, 16, 63, 64, 1000, 5_000_000, 100_000_000] {
            h.record(us);
        }
        let (below, total, sum) = h.export();
        assert_eq!(total, 8);
        assert_eq!(sum, 105_001_159);
        // < 16 µs: 1 and 15; < 64: also 16, 63; < 256: also 64; 1000 below
        // 1024; 5 s only below 2^24 µs; 100 s only in +Inf.
        assert_eq!(below, vec![2, 4, 5, 6, 6, 6, 6, 6, 6, 6, 7]);
        for &b in &EXPORT_BOUNDS_US {
            assert_eq!(upper(bucket(b - 1)), b, "{b} is a bucket edge");
        }
    }

    #[test]
    fn unknown_methods_share_one_slot() {
        let s = RequestStats::new(&["a"]);
        s.record("a", 10, false);
        s.record("x", 10, true);
        s.record("y", 10, true);
        let st = s.status();
        assert_eq!(st.len(), 2);
        assert_eq!(
            (st[1].method.as_str(), st[1].count, st[1].errors),
            ("other", 2, 2)
        );
    }
}
