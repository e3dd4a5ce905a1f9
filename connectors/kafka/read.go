package kafka

import (
	"context"
	"fmt"
	"sort"

	"github.com/vytalwatch/vytalwatch/engine"
)

// ReadAll reads every message of a topic up to its current end, partition
// by partition, for tools that collect a run's output.
func ReadAll(ctx context.Context, brokers []string, topic string) ([]engine.Message, error) {
	ends, err := EndOffsets(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(ends))
	for p := range ends {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	var out []engine.Message
	for _, p := range parts {
		if ends[p] == 0 {
			continue
		}
		msgs, err := readPartition(ctx, brokers, topic, p, ends[p])
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

func readPartition(ctx context.Context, brokers []string, topic string, partition int, end int64) ([]engine.Message, error) {
	r, err := OpenPartitionReader(brokers, topic, partition, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []engine.Message
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s partition %d: %w", topic, partition, err)
		}
		out = append(out, m)
		if m.Offset+1 >= end {
			return out, nil
		}
	}
}
