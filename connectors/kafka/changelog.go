package kafka

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/vytalwatch/vytalwatch/engine"
)

// changelogChunkBytes keeps each produce request under the broker's
// default message.max.bytes of about 1 MiB.
const changelogChunkBytes = 768 << 10

// Changelog writes and reads the state changelog topic, one changelog
// partition per engine partition. It produces with the low-level client,
// which returns the offsets the broker assigned, so the engine can record
// how far the changelog holds its state.
type Changelog struct {
	client  *kafkago.Client
	brokers []string
	topic   string
}

// NewChangelog returns a changelog on topic.
func NewChangelog(brokers []string, topic string) *Changelog {
	return &Changelog{
		client:  &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 30 * time.Second},
		brokers: brokers, topic: topic,
	}
}

// Append writes the records in order and returns the offset after the
// last. Records go in requests of at most changelogChunkBytes each.
func (c *Changelog) Append(ctx context.Context, partition int, records []engine.ChangelogRecord) (int64, error) {
	var end int64
	for start := 0; start < len(records); {
		stop, size := start, 0
		for stop < len(records) && (stop == start || size+len(records[stop].Key)+len(records[stop].Value)+32 <= changelogChunkBytes) {
			size += len(records[stop].Key) + len(records[stop].Value) + 32
			stop++
		}
		chunk := make([]kafkago.Record, 0, stop-start)
		for _, r := range records[start:stop] {
			rec := kafkago.Record{Key: kafkago.NewBytes(r.Key)}
			if r.Value != nil {
				rec.Value = kafkago.NewBytes(r.Value)
			}
			chunk = append(chunk, rec)
		}
		resp, err := c.client.Produce(ctx, &kafkago.ProduceRequest{
			Topic: c.topic, Partition: partition, RequiredAcks: kafkago.RequireAll,
			Records: kafkago.NewRecordReader(chunk...),
		})
		if err != nil {
			return 0, fmt.Errorf("append to %s partition %d: %w", c.topic, partition, err)
		}
		if resp.Error != nil {
			return 0, fmt.Errorf("append to %s partition %d: %w", c.topic, partition, resp.Error)
		}
		end = resp.BaseOffset + int64(stop-start)
		start = stop
	}
	return end, nil
}

// EndOffset returns the partition's high-water mark.
func (c *Changelog) EndOffset(ctx context.Context, partition int) (int64, error) {
	ends, err := EndOffsets(ctx, c.brokers, c.topic)
	if err != nil {
		return 0, err
	}
	end, ok := ends[partition]
	if !ok {
		return 0, fmt.Errorf("%s has no partition %d; create it with as many partitions as the input topics", c.topic, partition)
	}
	return end, nil
}

// Read calls fn for each record in [from, to). Offsets that compaction
// removed are skipped.
func (c *Changelog) Read(ctx context.Context, partition int, from, to int64, fn func(offset int64, key, value []byte) error) error {
	if from >= to {
		return nil
	}
	r, err := OpenPartitionReader(c.brokers, c.topic, partition, from)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("read %s partition %d: %w", c.topic, partition, err)
		}
		if m.Offset >= to {
			return nil
		}
		if err := fn(m.Offset, m.Key, m.Value); err != nil {
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}
