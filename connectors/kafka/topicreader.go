package kafka

import (
	"context"

	"github.com/vytalwatch/vytalwatch/engine"
)

// TopicReader reads one topic partition by partition, outside any
// consumer group, so every instance that uses it receives every message.
// It implements api.AlertFeed for the live alert stream.
type TopicReader struct {
	brokers []string
	topic   string
}

// NewTopicReader returns a reader of topic on brokers.
func NewTopicReader(brokers []string, topic string) *TopicReader {
	return &TopicReader{brokers: brokers, topic: topic}
}

// Topic returns the name of the topic.
func (t *TopicReader) Topic() string { return t.topic }

// EndOffsets returns the high-water mark of each partition of the topic.
func (t *TopicReader) EndOffsets(ctx context.Context) (map[int]int64, error) {
	return EndOffsets(ctx, t.brokers, t.topic)
}

// OpenPartition opens a reader of one partition at offset, the next
// offset to read.
func (t *TopicReader) OpenPartition(partition int, offset int64) (engine.PartitionReader, error) {
	r, err := OpenPartitionReader(t.brokers, t.topic, partition, offset)
	if err != nil {
		// A nil *PartitionReader in the interface would not compare
		// equal to nil.
		return nil, err
	}
	return r, nil
}
