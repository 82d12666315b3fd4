//! A thread-safe LRU of parsed source maps, bounded by bytes ([`ParsedMap::approx_bytes`]),
//! with short-lived negative entries ("no map for this key") so an event storm for a build
//! without uploads does not query storage for every frame.
//!
//! Invariants:
//! - After every call, the sum of the entries' costs is at most `max_bytes`; the least
//!   recently used entries (by `get` or `insert`) are evicted first.
//! - A map costing more than the whole budget is handed back by [`MapCache::insert`] but not
//!   kept (and evicts nothing).
//! - A negative entry costs [`NEGATIVE_ENTRY_BYTES`] and expires after the negative TTL; an
//!   expired entry is a miss and is dropped. [`MapCache::invalidate`] removes an entry (call
//!   it when a bundle is uploaded, so a new map is seen at once).
//! - One `Mutex`, held only for map bookkeeping (never while parsing).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::map::{ParsedMap, Unmapped};
use crate::stacktrace::MapLookup;

/// What a negative entry costs in the budget.
pub const NEGATIVE_ENTRY_BYTES: usize = 256;

/// How long "no map" is believed by default.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Counters and sizes, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub max_bytes: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

enum Value {
    Map(Arc<ParsedMap>),
    Missing { reason: Unmapped, expires: Instant },
}

struct Entry {
    value: Value,
    bytes: usize,
    tick: u64,
}

struct Inner<K> {
    entries: HashMap<K, Entry>,
    /// Use order: tick → key; the first is the least recently used.
    order: BTreeMap<u64, K>,
    next_tick: u64,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// See the module docs.
pub struct MapCache<K> {
    max_bytes: usize,
    negative_ttl: Duration,
    inner: Mutex<Inner<K>>,
}

impl<K: Eq + Hash + Clone> MapCache<K> {
    /// A cache holding at most `max_bytes` of maps, negative entries kept
    /// [`DEFAULT_NEGATIVE_TTL`].
    pub fn new(max_bytes: usize) -> MapCache<K> {
        MapCache::with_negative_ttl(max_bytes, DEFAULT_NEGATIVE_TTL)
    }

    pub fn with_negative_ttl(max_bytes: usize, negative_ttl: Duration) -> MapCache<K> {
        MapCache {
            max_bytes,
            negative_ttl,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: BTreeMap::new(),
                next_tick: 0,
                bytes: 0,
                hits: 0,
                misses: 0,
                evictions: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // A panic elsewhere while holding the lock leaves consistent bookkeeping (every
        // mutation below completes before it can panic), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached map or negative answer, marking it recently used; `None` on a miss.
    pub fn get(&self, key: &K) -> Option<MapLookup> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &K, now: Instant) -> Option<MapLookup> {
        let mut inner = self.lock();
        let expired = match inner.entries.get(key) {
            None => {
                inner.misses += 1;
                return None;
            }
            Some(Entry {
                value: Value::Missing { expires, .. },
                ..
            }) => *expires <= now,
            Some(_) => false,
        };
        if expired {
            inner.remove(key);
            inner.misses += 1;
            return None;
        }
        inner.hits += 1;
        let tick = inner.touch(key);
        let entry = inner.entries.get_mut(key)?;
        entry.tick = tick;
        Some(match &entry.value {
            Value::Map(map) => MapLookup::Found(map.clone()),
            Value::Missing { reason, .. } => MapLookup::Missing(reason.clone()),
        })
    }

    /// Caches `map` (unless it alone exceeds the budget) and returns it.
    pub fn insert(&self, key: K, map: Arc<ParsedMap>) -> Arc<ParsedMap> {
        let bytes = map.approx_bytes();
        if bytes <= self.max_bytes {
            self.put(key, Value::Map(map.clone()), bytes);
        }
        map
    }

    /// Remembers that `key` has no map, for the negative TTL.
    pub fn insert_missing(&self, key: K, reason: Unmapped) {
        self.insert_missing_at(key, reason, Instant::now());
    }

    fn insert_missing_at(&self, key: K, reason: Unmapped, now: Instant) {
        if NEGATIVE_ENTRY_BYTES > self.max_bytes {
            return;
        }
        let expires = now + self.negative_ttl;
        self.put(
            key,
            Value::Missing { reason, expires },
            NEGATIVE_ENTRY_BYTES,
        );
    }

    fn put(&self, key: K, value: Value, bytes: usize) {
        let mut inner = self.lock();
        inner.remove(&key);
        while inner.bytes + bytes > self.max_bytes {
            let Some((_, lru)) = inner.order.pop_first() else {
                break;
            };
            if let Some(old) = inner.entries.remove(&lru) {
                inner.bytes -= old.bytes;
                inner.evictions += 1;
            }
        }
        let tick = inner.next_tick;
        inner.next_tick += 1;
        inner.order.insert(tick, key.clone());
        inner.bytes += bytes;
        inner.entries.insert(key, Entry { value, bytes, tick });
    }

    /// Forgets `key` (a new upload may have changed the answer).
    pub fn invalidate(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Forgets every key `matches` accepts (a project's uploads changed).
    pub fn invalidate_where(&self, matches: impl Fn(&K) -> bool) {
        let mut inner = self.lock();
        let keys: Vec<K> = inner
            .entries
            .keys()
            .filter(|k| matches(k))
            .cloned()
            .collect();
        for key in keys {
            inner.remove(&key);
        }
    }

    /// Forgets everything (the counters stay).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.order.clear();
        inner.bytes = 0;
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.entries.len(),
            bytes: inner.bytes,
            max_bytes: self.max_bytes,
            hits: inner.hits,
            misses: inner.misses,
            evictions: inner.evictions,
        }
    }
}

impl<K: Eq + Hash + Clone> Inner<K> {
    fn remove(&mut self, key: &K) {
        if let Some(old) = self.entries.remove(key) {
            self.order.remove(&old.tick);
            self.bytes -= old.bytes;
        }
    }

    /// Moves `key` to the most recently used end; returns its new tick.
    fn touch(&mut self, key: &K) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(old) = self.entries.get(key).map(|e| e.tick) {
            self.order.remove(&old);
        }
        self.order.insert(tick, key.clone());
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real (small) map with a cost of its own.
    fn map_of(bytes_of_content: usize) -> Arc<ParsedMap> {
        let json = serde_json::json!({
            "version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA",
            "sourcesContent": ["x".repeat(bytes_of_content)],
        });
        Arc::new(ParsedMap::parse(json.to_string().as_bytes()).expect("map"))
    }

    fn found(l: Option<MapLookup>) -> bool {
        matches!(l, Some(MapLookup::Found(_)))
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        let m = map_of(1000);
        let cost = m.approx_bytes();
        let cache = MapCache::new(cost * 3);
        cache.insert("a", m.clone());
        cache.insert("b", m.clone());
        cache.insert("c", m.clone());
        assert!(found(cache.get(&"a"))); // a is now more recent than b
        cache.insert("d", m.clone());
        assert!(cache.get(&"b").is_none(), "b was least recently used");
        assert!(found(cache.get(&"a")));
        assert!(found(cache.get(&"c")));
        assert!(found(cache.get(&"d")));
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.evictions),
            (3, cost * 3, 1)
        );
        assert_eq!((stats.hits, stats.misses), (4, 1));
    }

    #[test]
    fn invalidating_by_predicate_forgets_maps_and_reasons_and_their_bytes() {
        let cache = MapCache::new(1 << 20);
        cache.insert((1, "a"), map_of(100));
        cache.insert_missing((1, "b"), Unmapped::NoMapForUrl("x".into()));
        cache.insert((2, "a"), map_of(100));
        let before = cache.stats().bytes;
        cache.invalidate_where(|(project, _)| *project == 1);
        assert!(cache.get(&(1, "a")).is_none());
        assert!(cache.get(&(1, "b")).is_none());
        assert!(found(cache.get(&(2, "a"))));
        let stats = cache.stats();
        assert_eq!(stats.entries, 1);
        assert!(stats.bytes < before);
    }

    #[test]
    fn the_byte_bound_holds_with_mixed_sizes() {
        let cache = MapCache::new(20_000);
        for i in 0..200usize {
            cache.insert(i, map_of((i * 37) % 9000));
            if i % 3 == 0 {
                cache.insert_missing(1000 + i, Unmapped::NoMapForUrl("x".into()));
            }
            let stats = cache.stats();
            assert!(stats.bytes <= 20_000, "{stats:?}");
        }
        assert!(cache.stats().evictions > 0);
    }

    #[test]
    fn a_map_larger_than_the_budget_is_returned_but_not_cached() {
        let small = map_of(10);
        let cache = MapCache::new(small.approx_bytes() * 2);
        cache.insert("small", small);
        let big = map_of(100_000);
        let back = cache.insert("big", big.clone());
        assert!(Arc::ptr_eq(&back, &big));
        assert!(cache.get(&"big").is_none());
        assert!(found(cache.get(&"small")), "nothing evicted for it");
        assert_eq!(cache.stats().evictions, 0);
    }

    #[test]
    fn replacing_a_key_does_not_leak_bytes() {
        let m = map_of(500);
        let cache = MapCache::new(1 << 20);
        cache.insert("k", m.clone());
        cache.insert("k", m.clone());
        cache.insert_missing("k", Unmapped::NoMapForUrl("u".into()));
        assert_eq!(cache.stats().bytes, NEGATIVE_ENTRY_BYTES);
        cache.insert("k", m.clone());
        assert_eq!(cache.stats().bytes, m.approx_bytes());
        assert_eq!(cache.stats().entries, 1);
        cache.invalidate(&"k");
        assert_eq!((cache.stats().entries, cache.stats().bytes), (0, 0));
    }

    #[test]
    fn negative_entries_expire() {
        let cache = MapCache::with_negative_ttl(1 << 20, Duration::from_secs(60));
        let t0 = Instant::now();
        let id = uuid::Uuid::nil();
        cache.insert_missing_at("k", Unmapped::NoMapForDebugId(id), t0);
        match cache.get_at(&"k", t0 + Duration::from_secs(59)) {
            Some(MapLookup::Missing(Unmapped::NoMapForDebugId(got))) => assert_eq!(got, id),
            _ => panic!("negative entry expected"),
        }
        assert!(cache.get_at(&"k", t0 + Duration::from_secs(60)).is_none());
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn clear_keeps_counters() {
        let cache = MapCache::new(1 << 20);
        cache.insert(1, map_of(1));
        assert!(cache.get(&1).is_some());
        cache.clear();
        assert!(cache.get(&1).is_none());
        let s = cache.stats();
        assert_eq!((s.entries, s.bytes, s.hits, s.misses), (0, 0, 1, 1));
    }

    #[test]
    fn shared_across_threads() {
        let cache = Arc::new(MapCache::new(50_000));
        let m = map_of(2000);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (cache, m) = (cache.clone(), m.clone());
                s.spawn(move || {
                    for i in 0..200 {
                        let key = (t * 7 + i) % 40;
                        if cache.get(&key).is_none() {
                            cache.insert(key, m.clone());
                        }
                    }
                });
            }
        });
        assert!(cache.stats().bytes <= 50_000);
    }
}
