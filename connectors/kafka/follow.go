package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Follow reads partition 0 of a topic from its start and calls fn for
// each message, in order, until ctx is done. caughtUp is closed once fn
// has seen every message that was in the topic when Follow started, so a
// caller can wait for the whole table before acting on it. Read errors
// are retried; Follow returns only when ctx is done.
func Follow(ctx context.Context, brokers []string, topic string, caughtUp chan<- struct{}, fn func(key, value []byte)) error {
	ends, err := waitEndOffsets(ctx, brokers, topic)
	if err != nil {
		return err
	}
	end := ends[0]
	if end == 0 {
		close(caughtUp)
		caughtUp = nil
	}
	next := int64(0)
	for ctx.Err() == nil {
		r, err := OpenPartitionReader(brokers, topic, 0, next)
		if err != nil {
			if !sleep(ctx, time.Second) {
				break
			}
			continue
		}
		for {
			m, err := r.Fetch(ctx)
			if err != nil {
				break
			}
			fn(m.Key, m.Value)
			next = m.Offset + 1
			if caughtUp != nil && next >= end {
				close(caughtUp)
				caughtUp = nil
			}
		}
		_ = r.Close()
	}
	return nil
}

func waitEndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	for {
		ends, err := EndOffsets(ctx, brokers, topic)
		if err == nil {
			return ends, nil
		}
		if !sleep(ctx, time.Second) {
			return nil, errors.Join(ctx.Err(), fmt.Errorf("read end offsets of %s: %w", topic, err))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
