package engine

import (
	"context"
	"time"
)

// Message is one input message of a partition.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	// Time is the broker's timestamp, used as a reading's received_at when
	// the reading has none.
	Time time.Time
	// HighWaterMark is the partition's end offset when the message was
	// fetched, for the lag metric; 0 when unknown.
	HighWaterMark int64
}

// Record is one output message. Outputs are keyed by patient id, so they
// land on the partition of the patient's input.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
	// Time, when set, is the record's timestamp; the broker's append time
	// otherwise.
	Time time.Time
}

// Consumer is group membership: each generation assigns this instance a
// set of partition numbers, the same numbers for every input topic.
type Consumer interface {
	// Next blocks until the next generation starts.
	Next(ctx context.Context) (Generation, error)
	Close() error
}

// Generation is one assignment of partitions to this instance.
type Generation interface {
	// Partitions returns the assigned partition numbers.
	Partitions() []int
	// Start runs fn for the lifetime of the generation; the generation
	// ends when ctx is done, and waits for every fn to return before the
	// next one starts.
	Start(fn func(ctx context.Context))
	// OpenReader reads one topic's partition from offset (the next offset
	// to read; 0 is the start of the partition).
	OpenReader(topic string, partition int, offset int64) (PartitionReader, error)
	// Commit records the next offsets of a partition with the group, for
	// lag monitoring; the engine's own store holds the offsets it
	// resumes from.
	Commit(partition int, offsets map[string]int64) error
}

// PartitionReader reads one partition of one topic in order.
type PartitionReader interface {
	// Fetch blocks until the next message or until ctx is done.
	Fetch(ctx context.Context) (Message, error)
	// EndOffset returns the partition's high-water mark: the offset the
	// next produced message will get.
	EndOffset(ctx context.Context) (int64, error)
	Close() error
}

// Producer writes output records durably: Produce returns nil only when
// every record is acknowledged by the broker.
type Producer interface {
	Produce(ctx context.Context, records []Record) error
}

// Changelog is a compacted topic that mirrors each partition's state, one
// changelog partition per input partition.
type Changelog interface {
	// Append writes records to the partition's changelog, in order, and
	// returns the offset after the last one once all are acknowledged.
	Append(ctx context.Context, partition int, records []ChangelogRecord) (int64, error)
	// EndOffset returns the offset the next record will get.
	EndOffset(ctx context.Context, partition int) (int64, error)
	// Read calls fn for the records in [from, to), in order.
	Read(ctx context.Context, partition int, from, to int64, fn func(offset int64, key, value []byte) error) error
}

// ChangelogRecord is one changelog message; a nil Value is a tombstone.
type ChangelogRecord struct {
	Key   []byte
	Value []byte
}

// Clock is the engine's notion of now: the wall clock in production, a
// shifted or fixed clock in demos and tests.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// OffsetClock is the wall clock shifted so that it read Start at the
// moment it was created: a demo replaying history runs in the present of
// that history.
type OffsetClock struct {
	offset time.Duration
}

// NewOffsetClock returns a clock that reads start now and runs on.
func NewOffsetClock(start time.Time) *OffsetClock {
	return &OffsetClock{offset: time.Until(start)}
}

// Now returns the shifted time.
func (c *OffsetClock) Now() time.Time { return time.Now().Add(c.offset) }

// ManualClock is a clock that moves only when told, for tests and rule
// tests.
type ManualClock struct {
	T time.Time
}

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time { return c.T }
