package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/vytalwatch/vytalwatch/state"
)

// restore brings the partition's local state up to the changelog before
// the task reads input. It first appends a fence, whose offset becomes
// this task's epoch, so that batches a former owner writes after it are
// skipped by every later restore. Then, with no local checkpoint, the
// partition is rebuilt from the start of its changelog; with an older
// checkpoint only the tail past it is replayed; with a current one nothing
// is read.
func (t *task) restore(work context.Context) error {
	e := t.engine
	var end int64
	err := t.retry(work, "write changelog fence", func() error {
		var err error
		end, err = e.changelog.Append(work, t.partition, []ChangelogRecord{{Key: state.FenceKey(t.partition), Value: []byte{1}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("fence changelog of partition %d: %w", t.partition, err)
	}
	fence := end - 1
	t.epoch = fence
	cp, ok, err := e.store.Checkpoint(t.partition)
	if err != nil {
		return err
	}
	switch {
	case ok && cp.Next == fence:
		return e.store.SetCheckpoint(t.partition, state.Checkpoint{Next: end, Epoch: fence})
	case ok && cp.Next > fence:
		// NOTE: the changelog holds less than this store wrote to it, so it
		// was recreated or truncated. The local state is kept; instances
		// without it cannot rebuild this partition until it is written again.
		t.logger.Error("changelog is behind the local state; keeping the local state", "checkpoint", cp.Next, "changelog_end", end)
		return e.store.SetCheckpoint(t.partition, state.Checkpoint{Next: end, Epoch: fence})
	case !ok:
		if err := e.store.DropPartition(t.partition); err != nil {
			return fmt.Errorf("drop stale state of partition %d: %w", t.partition, err)
		}
		cp = state.Checkpoint{}
	}
	return t.replayChangelog(work, cp, end)
}

func (t *task) replayChangelog(work context.Context, from state.Checkpoint, end int64) error {
	e := t.engine
	started := time.Now()
	status := &RestoreStatus{Partition: t.partition, From: from.Next, To: end, Started: started}
	e.setRestoring(status)
	defer e.setRestoring(&RestoreStatus{Partition: t.partition})
	if e.metrics != nil {
		e.metrics.restoring.Inc()
		defer e.metrics.restoring.Dec()
	}
	t.logger.Info("restoring partition from the changelog", "from", from.Next, "to", end)

	r := e.store.NewRestore(t.partition, from)
	read := int64(0)
	err := e.changelog.Read(work, t.partition, from.Next, end, func(offset int64, key, value []byte) error {
		read++
		if read%10000 == 0 {
			e.restoreProgress(t.partition, offset-from.Next)
			e.metrics.restoreRemaining(t.partition, end-offset)
		}
		return r.Add(offset, key, value)
	})
	if err != nil {
		r.Close()
		return fmt.Errorf("restore partition %d: %w", t.partition, err)
	}
	cp, discarded, err := r.Finish(end)
	if err != nil {
		return err
	}
	e.metrics.restoreRemaining(t.partition, 0)
	if e.metrics != nil {
		e.metrics.restoreSeconds.Observe(time.Since(started).Seconds())
		e.metrics.restoreRecords.Add(float64(r.Records))
	}
	t.logger.Info("partition restored", "records", r.Records, "checkpoint", cp.Next, "epoch", cp.Epoch,
		"discarded_partial_batch", discarded, "fenced_batches", r.Fenced, "seconds", time.Since(started).Seconds())
	return nil
}

// appendChangelog mirrors a committed batch's changes, followed by the
// batch marker, and returns the changelog offset after the marker.
func (t *task) appendChangelog(work context.Context, changes []state.Change) (int64, error) {
	records := make([]ChangelogRecord, 0, len(changes)+1)
	for _, c := range changes {
		records = append(records, ChangelogRecord{Key: c.Key, Value: state.ChangelogValue(c)})
	}
	records = append(records, ChangelogRecord{Key: state.MarkerKey(t.partition), Value: state.MarkerValue(t.epoch)})
	var end int64
	err := t.retry(work, "write changelog", func() error {
		var err error
		end, err = t.engine.changelog.Append(work, t.partition, records)
		return err
	})
	return end, err
}
