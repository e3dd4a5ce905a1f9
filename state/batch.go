package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

// Change is one key's final write in a batch: a value, or a deletion when
// Deleted is set. The changelog carries these.
type Change struct {
	Key     []byte
	Value   []byte
	Deleted bool
}

// Batch is one unit of work on one partition: reads see the batch's own
// writes, and Commit makes every write durable at once, offsets included.
// A Batch is used by one goroutine.
type Batch struct {
	store     *Store
	partition int
	b         *pebble.Batch
	counters  map[string]int64
	// changes records the last write of each key, when recording is on,
	// so the batch can be mirrored to the changelog coalesced.
	changes map[string]Change
	// cache, when set, serves point reads across batches; overlay holds
	// this batch's reads and writes until Commit folds them into cache.
	cache   *Cache
	overlay map[string]cacheEntry
	// deferred holds values that change many times in one batch (dedupe
	// buckets) and are written once, by Prepare.
	deferred map[string][]byte
}

// NewBatch starts a unit of work on the partition. With recordChanges the
// batch keeps the last write of each key for Changes.
func (s *Store) NewBatch(partition int, recordChanges bool) *Batch {
	b := &Batch{store: s, partition: partition, b: s.db.NewIndexedBatch(), counters: map[string]int64{}}
	if recordChanges {
		b.changes = map[string]Change{}
	}
	return b
}

// NewCachedBatch is NewBatch with a cache of point values that outlives
// the batch: values read or written by committed batches are served from
// memory. The cache belongs to the partition's single writer.
func (s *Store) NewCachedBatch(partition int, recordChanges bool, cache *Cache) *Batch {
	b := s.NewBatch(partition, recordChanges)
	if cache != nil {
		b.cache = cache
		b.overlay = map[string]cacheEntry{}
	}
	return b
}

// Partition returns the partition the batch writes to.
func (b *Batch) Partition() int { return b.partition }

// get returns a point value. The returned slice must not be modified.
func (b *Batch) get(k []byte) ([]byte, bool, error) {
	if v, ok := b.deferred[string(k)]; ok {
		return v, true, nil
	}
	if b.overlay != nil {
		if e, ok := b.overlay[string(k)]; ok {
			return e.value, e.found, nil
		}
		if e, ok := b.cache.entries[string(k)]; ok {
			return e.value, e.found, nil
		}
	}
	v, closer, err := b.b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		b.remember(k, nil, false)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	b.remember(k, out, true)
	return out, true, closer.Close()
}

func (b *Batch) remember(k, v []byte, found bool) {
	if b.overlay != nil {
		b.overlay[string(k)] = cacheEntry{value: v, found: found}
	}
}

func (b *Batch) set(k, v []byte) error {
	if b.changes != nil {
		b.changes[string(k)] = Change{Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)}
	}
	b.remember(k, append([]byte(nil), v...), true)
	return b.b.Set(k, v, nil)
}

// setDeferred sets a key whose value the batch may rewrite many times:
// reads see the new value at once, and Prepare writes only the last one.
func (b *Batch) setDeferred(k, v []byte) {
	if b.deferred == nil {
		b.deferred = map[string][]byte{}
	}
	b.deferred[string(k)] = v
}

func (b *Batch) delete(k []byte) error {
	delete(b.deferred, string(k))
	if b.changes != nil {
		b.changes[string(k)] = Change{Key: append([]byte(nil), k...), Deleted: true}
	}
	b.remember(k, nil, false)
	return b.b.Delete(k, nil)
}

// SetOffset records the next offset to read from topic. It is committed
// with the state it follows from.
func (b *Batch) SetOffset(topic string, next int64) error {
	if err := checkLengths(topic); err != nil {
		return err
	}
	return b.set(key(b.partition, kindOffset, topic), binary.BigEndian.AppendUint64(nil, uint64(next)))
}

// AddCounter adds delta to a named counter of the partition. Counters are
// part of the batch, so they count each input exactly once across crashes.
func (b *Batch) AddCounter(name string, delta int64) {
	b.counters[name] += delta
}

func (b *Batch) flushCounters() error {
	names := make([]string, 0, len(b.counters))
	for name := range b.counters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkLengths(name); err != nil {
			return fmt.Errorf("counter %.32q...: %w", name, err)
		}
		k := key(b.partition, kindCounter, name)
		v, ok, err := b.get(k)
		if err != nil {
			return err
		}
		var current int64
		if ok {
			current = int64(binary.BigEndian.Uint64(v))
		}
		if err := b.set(k, binary.BigEndian.AppendUint64(nil, uint64(current+b.counters[name]))); err != nil {
			return err
		}
	}
	clear(b.counters)
	return nil
}

// Changes returns the batch's coalesced writes in key order, including the
// counters. Call it after Prepare and before Commit.
func (b *Batch) Changes() []Change {
	out := make([]Change, 0, len(b.changes))
	for _, c := range b.changes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	return out
}

// Prepare folds the pending counters into the batch. Commit calls it too;
// call it earlier to see the counters in Changes.
func (b *Batch) Prepare() error {
	if err := b.flushDeferred(); err != nil {
		return fmt.Errorf("write deferred values of partition %d: %w", b.partition, err)
	}
	if err := b.flushCounters(); err != nil {
		return fmt.Errorf("flush counters of partition %d: %w", b.partition, err)
	}
	return nil
}

func (b *Batch) flushDeferred() error {
	keys := make([]string, 0, len(b.deferred))
	for k := range b.deferred {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := b.set([]byte(k), b.deferred[k]); err != nil {
			return err
		}
	}
	clear(b.deferred)
	return nil
}

// Commit writes the batch durably (synced to the WAL) and closes it.
func (b *Batch) Commit() error {
	if err := b.Prepare(); err != nil {
		b.Close()
		return err
	}
	err := b.b.Commit(pebble.Sync)
	if err == nil && b.cache != nil {
		b.cache.fold(b.overlay)
	}
	b.Close()
	if err != nil {
		return fmt.Errorf("commit batch of partition %d: %w", b.partition, err)
	}
	return nil
}

// Close discards an uncommitted batch. It is safe to call twice.
func (b *Batch) Close() {
	if b.b != nil {
		_ = b.b.Close()
		b.b = nil
	}
	b.overlay = nil
}

// Empty reports whether the batch holds no writes and no counters.
func (b *Batch) Empty() bool {
	return b.b.Empty() && len(b.counters) == 0 && len(b.deferred) == 0
}

func (b *Batch) newIter(lower, upper []byte) (*pebble.Iterator, error) {
	return b.b.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}
