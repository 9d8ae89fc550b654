//! Byte-capped caches for derived results. Each entry is weighed by the
//! bytes it really holds (its JSON text, its key and the bookkeeping around
//! them), and an insert evicts least-recently-used entries first, under one
//! lock, so a cache never holds more than its cap — not even briefly.
//! (Crates such as moka evict asynchronously and weigh in u32 units; a cap
//! that is only eventually enforced is not a cap on a 2 GB box.)

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stockd_api::CacheStatus;

/// Bookkeeping per entry on top of key and value bytes: the hash-map slot,
/// the LRU-order node, the Arc header and the key's String header,
/// rounded up.
pub const ENTRY_OVERHEAD: usize = 160;

/// A cached JSON document (valid JSON text), shared between the cache and
/// responses.
pub type Doc = Arc<str>;

struct Entry {
    value: Doc,
    weight: usize,
    at: Instant,
    tick: u64,
}

struct Inner {
    map: HashMap<String, Entry>,
    /// LRU order: tick → key; the smallest tick is the least recently used.
    order: BTreeMap<u64, String>,
    bytes: usize,
    /// The configured cap.
    cap: usize,
    /// The cap in force: `cap`, or less while memory is high.
    limit: usize,
    ttl: Duration,
    tick: u64,
}

/// One named byte-capped LRU cache with a TTL.
pub struct ByteCache {
    name: &'static str,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// What a clear or shrink dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub entries: u64,
    pub bytes: u64,
}

impl Inner {
    fn remove_lru(&mut self) -> Option<usize> {
        let (_, key) = self.order.pop_first()?;
        let e = self.map.remove(&key)?;
        self.bytes -= e.weight;
        Some(e.weight)
    }

    fn evict_to(&mut self, limit: usize) -> Dropped {
        let mut d = Dropped::default();
        while self.bytes > limit {
            match self.remove_lru() {
                Some(w) => {
                    d.entries += 1;
                    d.bytes += w as u64;
                }
                None => break,
            }
        }
        d
    }
}

impl ByteCache {
    pub fn new(name: &'static str, cap: u64, ttl: Duration) -> ByteCache {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        ByteCache {
            name,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: BTreeMap::new(),
                bytes: 0,
                cap,
                limit: cap,
                ttl,
                tick: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data behind
        // (every mutation completes before anything can panic), so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value for `key`, if present and younger than the TTL.
    pub fn get(&self, key: &str) -> Option<Doc> {
        let mut g = self.lock();
        let inner = &mut *g;
        let ttl = inner.ttl;
        let fresh = match inner.map.get(key) {
            Some(e) => e.at.elapsed() < ttl,
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        if !fresh {
            if let Some(e) = inner.map.remove(key) {
                inner.order.remove(&e.tick);
                inner.bytes -= e.weight;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.map.get_mut(key)?;
        let old = std::mem::replace(&mut e.tick, tick);
        let value = e.value.clone();
        if let Some(k) = inner.order.remove(&old) {
            inner.order.insert(tick, k);
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(value)
    }

    /// The weight an entry would have.
    pub fn weigh(key: &str, value: &str) -> usize {
        key.len() + value.len() + ENTRY_OVERHEAD
    }

    /// Stores `value`, evicting least-recently-used entries to make room.
    /// An entry larger than the cap in force is not stored.
    pub fn insert(&self, key: String, value: Doc) {
        let weight = Self::weigh(&key, &value);
        let mut g = self.lock();
        if weight > g.limit {
            return;
        }
        if let Some(old) = g.map.remove(&key) {
            g.order.remove(&old.tick);
            g.bytes -= old.weight;
        }
        let limit = g.limit - weight;
        let d = g.evict_to(limit);
        self.evictions.fetch_add(d.entries, Ordering::Relaxed);
        g.tick += 1;
        let tick = g.tick;
        g.order.insert(tick, key.clone());
        g.map.insert(
            key,
            Entry {
                value,
                weight,
                at: Instant::now(),
                tick,
            },
        );
        g.bytes += weight;
    }

    /// Drops every entry.
    pub fn clear(&self) -> Dropped {
        let mut g = self.lock();
        let d = Dropped {
            entries: g.map.len() as u64,
            bytes: g.bytes as u64,
        };
        g.map = HashMap::new();
        g.order = BTreeMap::new();
        g.bytes = 0;
        d
    }

    /// Sets a new cap and evicts down to it now.
    pub fn resize(&self, cap: u64) -> Dropped {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let mut g = self.lock();
        let shrunk = g.limit < g.cap;
        g.cap = cap;
        g.limit = if shrunk { cap / 2 } else { cap };
        let limit = g.limit;
        let d = g.evict_to(limit);
        self.evictions.fetch_add(d.entries, Ordering::Relaxed);
        d
    }

    /// Limits the cache to `fraction` of its cap (memory pressure) and
    /// evicts down to it; `1.0` restores the full cap.
    pub fn throttle(&self, fraction: f64) -> Dropped {
        let mut g = self.lock();
        g.limit = (g.cap as f64 * fraction.clamp(0.0, 1.0)) as usize;
        let limit = g.limit;
        let d = g.evict_to(limit);
        self.evictions.fetch_add(d.entries, Ordering::Relaxed);
        d
    }

    pub fn cap(&self) -> u64 {
        self.lock().cap as u64
    }

    pub fn bytes(&self) -> u64 {
        self.lock().bytes as u64
    }

    pub fn status(&self) -> CacheStatus {
        let g = self.lock();
        CacheStatus {
            name: self.name.to_string(),
            entries: g.map.len() as u64,
            bytes: g.bytes as u64,
            max_bytes: g.cap as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// The daemon's caches, one per derived view plus recent query results.
pub struct Caches {
    pub hotspots: ByteCache,
    pub industry: ByteCache,
    pub signals: ByteCache,
    pub query: ByteCache,
}

impl Caches {
    pub fn new(cfg: &crate::config::CachesConfig) -> Caches {
        Caches {
            hotspots: ByteCache::new("hotspots", cfg.hotspots.max_bytes, cfg.hotspots.ttl),
            industry: ByteCache::new("industry", cfg.industry.max_bytes, cfg.industry.ttl),
            signals: ByteCache::new("signals", cfg.signals.max_bytes, cfg.signals.ttl),
            query: ByteCache::new("query", cfg.query.max_bytes, cfg.query.ttl),
        }
    }

    pub fn all(&self) -> [&ByteCache; 4] {
        [&self.hotspots, &self.industry, &self.signals, &self.query]
    }

    pub fn by_name(&self, name: &str) -> Option<&ByteCache> {
        self.all().into_iter().find(|c| c.name() == name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.all().iter().map(|c| c.name()).collect()
    }

    pub fn clear_all(&self) -> Dropped {
        self.all().iter().fold(Dropped::default(), |acc, c| {
            let d = c.clear();
            Dropped {
                entries: acc.entries + d.entries,
                bytes: acc.bytes + d.bytes,
            }
        })
    }

    pub fn throttle_all(&self, fraction: f64) -> Dropped {
        self.all().iter().fold(Dropped::default(), |acc, c| {
            let d = c.throttle(fraction);
            Dropped {
                entries: acc.entries + d.entries,
                bytes: acc.bytes + d.bytes,
            }
        })
    }

    /// (bytes held, sum of caps).
    pub fn totals(&self) -> (u64, u64) {
        self.all()
            .iter()
            .fold((0, 0), |(b, c), x| (b + x.bytes(), c + x.cap()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(len: usize) -> Doc {
        Arc::from(format!("\"{}\"", "x".repeat(len)))
    }

    #[test]
    fn never_exceeds_its_cap_and_evicts_lru_first() {
        let c = ByteCache::new("t", 4096, Duration::from_secs(60));
        for i in 0..1000 {
            c.insert(format!("k{i}"), doc(i % 700));
            assert!(c.bytes() <= 4096, "after insert {i}: {}", c.bytes());
            if i % 3 == 0 {
                c.get("k0");
            }
        }
        let s = c.status();
        assert!(s.evictions > 900, "{s:?}");
        assert!(s.entries >= 1);
        // A value larger than the cap is refused, not stored.
        c.insert("big".into(), doc(5000));
        assert!(c.get("big").is_none());
    }

    #[test]
    fn lru_order_is_respected() {
        let w = ByteCache::weigh("a", &doc(100));
        let c = ByteCache::new("t", (3 * w) as u64, Duration::from_secs(60));
        c.insert("a".into(), doc(100));
        c.insert("b".into(), doc(100));
        c.insert("c".into(), doc(100));
        assert!(c.get("a").is_some()); // a is now most recent
        c.insert("d".into(), doc(100)); // evicts b
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some() && c.get("c").is_some() && c.get("d").is_some());
    }

    #[test]
    fn ttl_resize_throttle_clear() {
        let c = ByteCache::new("t", 1 << 20, Duration::from_millis(30));
        c.insert("a".into(), doc(10));
        assert!(c.get("a").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get("a").is_none());
        for i in 0..100 {
            c.insert(format!("k{i}"), doc(1000));
        }
        let before = c.bytes();
        let d = c.resize(before / 2);
        assert!(d.entries > 0 && c.bytes() <= before / 2);
        c.throttle(0.5);
        assert!(c.bytes() <= before / 4);
        c.throttle(1.0);
        assert_eq!(c.cap(), before / 2);
        let d = c.clear();
        assert!(d.entries > 0);
        assert_eq!(c.bytes(), 0);
        let s = c.status();
        assert!(s.hits >= 1 && s.misses >= 1);
    }
}
