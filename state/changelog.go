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
// Writers are fenced by epochs. An instance that takes a partition over
// first appends a fence record; the fence's offset is its epoch, which
// every batch marker it writes carries. A restore skips batches whose
// epoch is older than the latest fence before them: those come from an
// instance that lost the partition and wrote on before noticing.
//
// Three key kinds exist only for this:
//
//	p <u16 partition> k    checkpoint: changelog offset after the last batch applied and the epoch then (local only)
//	p <u16 partition> x    batch marker, value the writer's epoch (changelog only)
//	p <u16 partition> y    fence (changelog only)
const (
	kindCheckpoint = 'k'
	kindMarker     = 'x'
	kindFence      = 'y'
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

// MarkerValue encodes the epoch a batch marker carries.
func MarkerValue(epoch int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(epoch)) }

// FenceKey returns the key of a partition's fence record.
func FenceKey(partition int) []byte { return key(partition, kindFence) }

// IsMarker reports whether a changelog key is a batch marker.
func IsMarker(k []byte) bool { return len(k) == 4 && k[0] == 'p' && k[3] == kindMarker }

func isFence(k []byte) bool { return len(k) == 4 && k[0] == 'p' && k[3] == kindFence }

func encodeCheckpoint(next, epoch int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(next))
	return binary.BigEndian.AppendUint64(b, uint64(epoch))
}

// KeyPartition returns the partition a state key belongs to.
func KeyPartition(k []byte) (int, bool) {
	if len(k) < 4 || k[0] != 'p' {
		return 0, false
	}
	return int(k[1])<<8 | int(k[2]), true
}

// Checkpoint is where the local store stands against the changelog.
type Checkpoint struct {
	// Next is the changelog offset after the last batch applied.
	Next int64
	// Epoch is the offset of the latest fence seen before Next.
	Epoch int64
}

// SetCheckpoint records the changelog offset just after this batch's
// marker. It is local bookkeeping and is not part of Changes.
func (b *Batch) SetCheckpoint(cp Checkpoint) error {
	return b.b.Set(key(b.partition, kindCheckpoint), encodeCheckpoint(cp.Next, cp.Epoch), nil)
}

// Checkpoint returns where the partition's local state stands against the
// changelog, and whether it has a checkpoint.
func (s *Store) Checkpoint(partition int) (Checkpoint, bool, error) {
	v, closer, err := s.db.Get(key(partition, kindCheckpoint))
	if errors.Is(err, pebble.ErrNotFound) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	defer closer.Close()
	cp := Checkpoint{Next: int64(binary.BigEndian.Uint64(v))}
	if len(v) >= 16 {
		cp.Epoch = int64(binary.BigEndian.Uint64(v[8:]))
	}
	return cp, true, nil
}

// SetCheckpoint records the partition's checkpoint outside a batch, after
// a restore that applied nothing.
func (s *Store) SetCheckpoint(partition int, cp Checkpoint) error {
	return s.db.Set(key(partition, kindCheckpoint), encodeCheckpoint(cp.Next, cp.Epoch), pebble.Sync)
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
	epoch     int64
	// Records counts the records applied so far, markers excluded.
	Records int64
	// Fenced counts the batches skipped because an instance that had lost
	// the partition wrote them.
	Fenced int
}

// restoreChunk is how many records go into one Pebble batch during a
// restore.
const restoreChunk = 20000

// NewRestore starts a restore of the partition from a checkpoint: the
// zero Checkpoint after DropPartition, or the local one to replay only the
// tail.
func (s *Store) NewRestore(partition int, from Checkpoint) *Restore {
	return &Restore{store: s, partition: partition, batch: s.db.NewBatch(), applied: from.Next, epoch: from.Epoch}
}

// Add takes one changelog record at offset. A marker applies the records
// held since the previous one.
func (r *Restore) Add(offset int64, k, v []byte) error {
	p, ok := KeyPartition(k)
	if !ok || p != r.partition {
		return fmt.Errorf("restore partition %d: record at offset %d: %w", r.partition, offset, ErrForeignKey)
	}
	if isFence(k) {
		r.epoch = max(r.epoch, offset)
		return nil
	}
	if IsMarker(k) {
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) < r.epoch {
			r.pending = r.pending[:0]
			r.Fenced++
			return nil
		}
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
	if err := r.batch.Set(key(r.partition, kindCheckpoint), encodeCheckpoint(next, r.epoch), nil); err != nil {
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

// Finish writes what is applied with a sync and returns the checkpoint
// reached at end: the changelog offset the restore read up to, with the
// epoch of the latest fence. Records after the last marker, a batch cut
// short, are dropped and counted in discarded.
func (r *Restore) Finish(end int64) (cp Checkpoint, discarded int, err error) {
	discarded = len(r.pending)
	r.pending = nil
	cp = Checkpoint{Next: end, Epoch: r.epoch}
	if err := r.batch.Set(key(r.partition, kindCheckpoint), encodeCheckpoint(cp.Next, cp.Epoch), nil); err != nil {
		return cp, discarded, err
	}
	err = r.batch.Commit(pebble.Sync)
	_ = r.batch.Close()
	if err != nil {
		return cp, discarded, fmt.Errorf("restore partition %d: %w", r.partition, err)
	}
	return cp, discarded, nil
}

// Close discards an unfinished restore.
func (r *Restore) Close() { _ = r.batch.Close() }
