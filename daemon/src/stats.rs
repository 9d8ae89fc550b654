//! Per-method request counts, errors and latency percentiles, kept in a
//! fixed set of lock-free log-scale histograms (bounded memory whatever the
//! traffic: method names outside the contract share one "other" slot).

use std::sync::atomic::{AtomicU64, Ordering};
use stockd_api::RequestStatus;

/// Four buckets per power of two, from 1 µs to about 2^34 µs (4.7 h).
const SUB: usize = 4;
const BUCKETS: usize = 35 * SUB;

/// A latency histogram of microseconds.
pub struct Histogram {
    counts: Vec<AtomicU64>,
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
        }
    }
}

impl Histogram {
    pub fn record(&self, us: u64) {
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
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
