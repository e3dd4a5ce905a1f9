package state

// Cache keeps point values (patient records, window metadata, alert
// states, counters) of one partition in memory across batches, so that a
// hot patient's keys are read from Pebble once. It is safe because a
// partition has a single writer: only committed batches update the cache,
// so a discarded batch leaves no trace. Iterators do not use it.
type Cache struct {
	entries map[string]cacheEntry
	max     int
}

type cacheEntry struct {
	value []byte
	found bool
}

// NewCache returns a cache of at most maxEntries keys; when full, it
// forgets an arbitrary quarter of them.
func NewCache(maxEntries int) *Cache {
	return &Cache{entries: make(map[string]cacheEntry), max: maxEntries}
}

// Len returns the number of cached keys.
func (c *Cache) Len() int { return len(c.entries) }

// Reset forgets everything, as a partition's state is replaced on restore.
func (c *Cache) Reset() { clear(c.entries) }

func (c *Cache) fold(overlay map[string]cacheEntry) {
	for k, e := range overlay {
		c.entries[k] = e
	}
	if len(c.entries) <= c.max {
		return
	}
	// Map iteration order is unspecified, which is enough to spread the
	// eviction; an exact LRU would cost a list update on every read.
	drop := len(c.entries) - c.max*3/4
	for k := range c.entries {
		if drop == 0 {
			break
		}
		delete(c.entries, k)
		drop--
	}
}
