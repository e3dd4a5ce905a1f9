package state

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The changelog mirrors every committed batch of a partition to a
// compacted Kafka topic, so that any instance can rebuild the partition.
// Each batch's changes are followed by a marker record; a restore applies
// a batch only once it has read the batch's marker, so a batch whose
// writes were cut short by a crash is never half applied.
//
// Two key kinds exist only for this:
//
//	p <u16 partition> k    checkpoint: changelog offset after the last batch applied (local only)
//	p <u16 partition> x    batch marker (changelog only, never stored)
const (
	kindCheckpoint = 'k'
	kindMarker     = 'x'
)

// Changelog values carry a one-byte prefix, so that a key set to an empty
// value (a dedupe entry) differs from a deletion, which is a tombstone
// with no value at all.
const changelogSet = 0x01

// ErrForeignKey is returned when a changelog record belongs to another
// partition than the one being restored.
var ErrForeignKey = errors.New("state: changelog record of another partition")

// ChangelogValue encodes a change's value for the changelog: nil for a
// deletion.
func ChangelogValue(c Change) []byte {
	if c.Deleted {
		return nil
	}
	return append([]byte{changelogSet}, c.Value...)
}

// MarkerKey returns the key of a partition's batch marker.
func MarkerKey(partition int) []byte { return key(partition, kindMarker) }

// IsMarker reports whether a changelog key is a batch marker.
func IsMarker(k []byte) bool { return len(k) == 4 && k[0] == 'p' && k[3] == kindMarker }

// KeyPartition returns the partition a state key belongs to.
func KeyPartition(k []byte) (int, bool) {
	if len(k) < 4 || k[0] != 'p' {
		return 0, false
	}
	return int(k[1])<<8 | int(k[2]), true
}

// SetCheckpoint records the changelog offset just after this batch's
// marker. It is local bookkeeping and is not part of Changes.
func (b *Batch) SetCheckpoint(next int64) error {
	return b.b.Set(key(b.partition, kindCheckpoint), binary.BigEndian.AppendUint64(nil, uint64(next)), nil)
}

// Checkpoint returns the changelog offset after the last batch the local
// store holds for the partition, and whether it has one.
func (s *Store) Checkpoint(partition int) (int64, bool, error) {
	v, closer, err := s.db.Get(key(partition, kindCheckpoint))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// HasState reports whether the store holds any key of the partition.
func (s *Store) HasState(partition int) (bool, error) {
	lower, upper := partitionBounds(partition)
	found := false
	err := s.scanRange(lower, upper, func(k, v []byte) error {
		found = true
		return errStopScan
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return found, err
}

var errStopScan = errors.New("stop scan")

// DropPartition deletes every local key of the partition, before a
// restore rebuilds it from scratch.
func (s *Store) DropPartition(partition int) error {
	lower, upper := partitionBounds(partition)
	return s.db.DeleteRange(lower, upper, pebble.Sync)
}

// Restore rebuilds a partition from changelog records read in offset
// order. Records are held until their batch's marker arrives, then applied;
// writes reach Pebble in chunks, and Finish syncs them with the checkpoint.
type Restore struct {
	store     *Store
	partition int
	pending   []Change
	batch     *pebble.Batch
	applied   int64
	// Records counts the records applied so far, markers excluded.
	Records int64
}

// restoreChunk is how many records go into one Pebble batch during a
// restore.
const restoreChunk = 20000

// NewRestore starts a restore of the partition from changelog offset
// from: 0 after DropPartition, or the local checkpoint to replay only the
// tail.
func (s *Store) NewRestore(partition int, from int64) *Restore {
	return &Restore{store: s, partition: partition, batch: s.db.NewBatch(), applied: from}
}

// Add takes one changelog record at offset. A marker applies the records
// held since the previous one.
func (r *Restore) Add(offset int64, k, v []byte) error {
	p, ok := KeyPartition(k)
	if !ok || p != r.partition {
		return fmt.Errorf("restore partition %d: record at offset %d: %w", r.partition, offset, ErrForeignKey)
	}
	if IsMarker(k) {
		return r.applyPending(offset + 1)
	}
	c := Change{Key: append([]byte(nil), k...), Deleted: len(v) == 0}
	if !c.Deleted {
		if v[0] != changelogSet {
			return fmt.Errorf("restore partition %d: record at offset %d has an unknown value format %#x", r.partition, offset, v[0])
		}
		c.Value = append([]byte(nil), v[1:]...)
	}
	r.pending = append(r.pending, c)
	return nil
}

func (r *Restore) applyPending(next int64) error {
	for _, c := range r.pending {
		var err error
		if c.Deleted {
			err = r.batch.Delete(c.Key, nil)
		} else {
			err = r.batch.Set(c.Key, c.Value, nil)
		}
		if err != nil {
			return err
		}
	}
	r.Records += int64(len(r.pending))
	r.pending = r.pending[:0]
	if err := r.batch.Set(key(r.partition, kindCheckpoint), binary.BigEndian.AppendUint64(nil, uint64(next)), nil); err != nil {
		return err
	}
	r.applied = next
	if r.batch.Count() < restoreChunk {
		return nil
	}
	if err := r.batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("restore partition %d: %w", r.partition, err)
	}
	r.batch.Reset()
	return nil
}

// Finish writes what is applied with a sync. Records after the last
// marker, a batch cut short, are dropped and counted in discarded.
func (r *Restore) Finish() (checkpoint int64, discarded int, err error) {
	discarded = len(r.pending)
	r.pending = nil
	err = r.batch.Commit(pebble.Sync)
	_ = r.batch.Close()
	if err != nil {
		return 0, discarded, fmt.Errorf("restore partition %d: %w", r.partition, err)
	}
	return r.applied, discarded, nil
}

// Close discards an unfinished restore.
func (r *Restore) Close() { _ = r.batch.Close() }
