package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vytalwatch/vytalwatch/state"
)

// partitionCacheEntries bounds each partition's cache of point values; at
// a few hundred bytes an entry, about 50 MiB per partition at most.
const partitionCacheEntries = 200_000

// task processes one partition for one generation. It is the only writer
// of the partition's state.
type task struct {
	engine    *Engine
	gen       Generation
	partition int
	logger    *slog.Logger
	proc      *Processor
	readers   map[string]PartitionReader
	next      map[string]int64
	lastSweep time.Time
	// cache serves the partition's hot point values across batches.
	cache *state.Cache
	// epoch is the offset of this task's fence in the changelog.
	epoch int64
}

// run processes the partition until the generation ends (the partition
// may move: in-flight work is discarded uncommitted) or stopCtx is done
// (shutdown: the current batch is finished and committed).
func (t *task) run(stopCtx, genCtx context.Context) error {
	e := t.engine
	e.setOwned(t.partition, true)
	defer e.setOwned(t.partition, false)

	// work ends on revocation or on abort, never on a plain stop.
	work, cancelWork := context.WithCancel(genCtx)
	defer cancelWork()
	stopAbort := context.AfterFunc(e.hard, cancelWork)
	defer stopAbort()

	if err := t.open(work); err != nil {
		return err
	}
	msgs := make(chan Message, e.cfg.BatchSize)
	fetchErrs := make(chan error, len(t.readers))
	fetchCtx, cancelFetch := context.WithCancel(work)
	var fetchers sync.WaitGroup
	for _, r := range t.readers {
		fetchers.Add(1)
		go fetchLoop(fetchCtx, r, msgs, fetchErrs, &fetchers)
	}
	defer func() {
		cancelFetch()
		fetchers.Wait()
		for _, r := range t.readers {
			_ = r.Close()
		}
	}()
	t.logger.Info("partition task started", "offsets", t.next)

	ticker := time.NewTicker(e.cfg.TimerInterval)
	defer ticker.Stop()
	batch := make([]Message, 0, e.cfg.BatchSize)
	for {
		select {
		case <-stopCtx.Done():
			return t.drain(work, msgs)
		case <-work.Done():
			return nil
		case err := <-fetchErrs:
			return err
		case m := <-msgs:
			batch = append(batch[:0], m)
			batch = takeAvailable(msgs, batch, e.cfg.BatchSize)
			if err := t.process(work, batch, false); err != nil {
				return err
			}
		case <-ticker.C:
			if err := t.maybeSweep(work, len(msgs) == 0); err != nil {
				return err
			}
		}
	}
}

func (t *task) open(work context.Context) error {
	e := t.engine
	proc, err := NewProcessor(e.cfg, t.partition, e.rules.Load(), e.clock, t.logger, e.metrics)
	if err != nil {
		return err
	}
	t.proc = proc
	t.cache = state.NewCache(partitionCacheEntries)
	if e.changelog != nil {
		if err := t.restore(work); err != nil {
			return err
		}
	}
	stored, err := e.store.Offsets(t.partition)
	if err != nil {
		return fmt.Errorf("read stored offsets of partition %d: %w", t.partition, err)
	}
	t.next = map[string]int64{}
	t.readers = map[string]PartitionReader{}
	for _, topic := range e.cfg.Topics.Inputs() {
		t.next[topic] = stored[topic]
		r, err := t.gen.OpenReader(topic, t.partition, stored[topic])
		if err != nil {
			for _, open := range t.readers {
				_ = open.Close()
			}
			return fmt.Errorf("open %s partition %d: %w", topic, t.partition, err)
		}
		t.readers[topic] = r
	}
	e.setProgress(t.partition, t.next)
	return nil
}

// fetchLoop moves messages from a reader into the task's channel. A full
// channel blocks it: back-pressure, never a drop.
func fetchLoop(ctx context.Context, r PartitionReader, out chan<- Message, errs chan<- error, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				errs <- fmt.Errorf("fetch: %w", err)
			}
			return
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

func takeAvailable(ch <-chan Message, batch []Message, limit int) []Message {
	for len(batch) < limit {
		select {
		case m := <-ch:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// drain ends the task on shutdown: messages not yet taken are left for
// the next run, and the partition's timers are evaluated one last time
// when it is caught up.
func (t *task) drain(work context.Context, msgs chan Message) error {
	err := t.maybeSweep(work, len(msgs) == 0)
	t.logger.Info("partition task stopped", "offsets", t.next)
	return err
}

// process applies a batch, produces its outputs, commits state with the
// offsets, and then records the offsets with the group. A failure before
// the commit discards the batch; the input is read again. A message that
// fails on its own is dead-lettered and the batch applied again without
// it.
func (t *task) process(work context.Context, msgs []Message, sweep bool) error {
	for attempt := 0; ; attempt++ {
		err := t.processOnce(work, msgs, sweep)
		var me *MessageError
		if !errors.As(err, &me) || attempt >= len(msgs) {
			t.proc.ClearPoisoned()
			return err
		}
		t.logger.Error("message could not be applied; dead-lettering it", "topic", me.Topic, "offset", me.Offset, "error", me.Err)
		t.proc.Poison(me)
	}
}

func (t *task) processOnce(work context.Context, msgs []Message, sweep bool) error {
	e := t.engine
	started := time.Now()
	if set := e.rules.Load(); set != t.proc.Rules() {
		if err := t.proc.SetRules(set); err != nil {
			return fmt.Errorf("apply rule set: %w", err)
		}
	}
	b := e.store.NewCachedBatch(t.partition, e.changelog != nil, t.cache)
	defer b.Close()
	out, err := t.proc.Apply(b, msgs)
	if err != nil {
		return err
	}
	if sweep {
		now := e.clock.Now()
		swept, err := t.proc.Sweep(b, now)
		if err != nil {
			return fmt.Errorf("sweep timers: %w", err)
		}
		out = append(out, swept...)
		t.lastSweep = now
	}
	if err := b.Prepare(); err != nil {
		return err
	}
	if err := t.produce(work, out); err != nil {
		return err
	}
	if e.changelog != nil && !b.Empty() {
		end, err := t.appendChangelog(work, b.Changes())
		if err != nil {
			return err
		}
		if err := b.SetCheckpoint(state.Checkpoint{Next: end, Epoch: t.epoch}); err != nil {
			return err
		}
	}
	commitStarted := time.Now()
	if err := b.Commit(); err != nil {
		return err
	}
	hwm := map[string]int64{}
	for _, m := range msgs {
		t.next[m.Topic] = m.Offset + 1
		hwm[m.Topic] = max(hwm[m.Topic], m.HighWaterMark)
	}
	for topic, end := range hwm {
		if end > 0 {
			e.metrics.lag(topic, t.partition, max(end-t.next[topic], 0))
		}
	}
	if e.metrics != nil {
		e.metrics.commitSeconds.Observe(time.Since(commitStarted).Seconds())
		e.metrics.batchSeconds.Observe(time.Since(started).Seconds())
		e.metrics.batchSize.Observe(float64(len(msgs)))
	}
	e.setProgress(t.partition, t.next)
	if len(msgs) > 0 {
		if err := t.gen.Commit(t.partition, t.next); err != nil {
			t.logger.Debug("commit offsets to the group failed; the store keeps them", "error", err)
		}
	}
	return nil
}

// produce writes the outputs, retrying while the broker is unavailable.
// The partition does not commit until they are written.
func (t *task) produce(work context.Context, out []Record) error {
	if len(out) == 0 {
		return nil
	}
	return t.retry(work, "write outputs", func() error {
		return t.engine.producer.Produce(work, out)
	})
}

// retry runs fn until it succeeds or work ends, with capped exponential
// backoff, holding the batch meanwhile.
func (t *task) retry(work context.Context, what string, fn func() error) error {
	bo := newBackoff(100*time.Millisecond, t.engine.cfg.ProduceRetryMax)
	for {
		err := fn()
		if err == nil {
			if bo.attempt > 0 {
				t.logger.Info(what+" succeeded after retries", "attempts", bo.attempt+1)
			}
			return nil
		}
		if work.Err() != nil {
			return work.Err()
		}
		wait := bo.next()
		if t.engine.metrics != nil {
			t.engine.metrics.produceRetries.Inc()
		}
		if bo.attempt == 1 || bo.attempt%10 == 0 {
			t.logger.Warn(what+" failed; holding the batch and retrying", "error", err, "attempt", bo.attempt)
		}
		if !sleepCtx(work, wait) {
			return work.Err()
		}
	}
}

// maybeSweep evaluates timers when the partition is caught up with its
// inputs. Sweeping behind a backlog would alert on patients whose
// readings are still queued, for example after a restart.
func (t *task) maybeSweep(work context.Context, channelEmpty bool) error {
	if t.engine.cfg.DisableTimers {
		return nil
	}
	if !channelEmpty || work.Err() != nil {
		t.logger.Debug("timers wait", "channel_empty", channelEmpty, "work_err", work.Err())
		return nil
	}
	caughtUp, err := t.caughtUp(work)
	if err != nil {
		if work.Err() != nil {
			return nil
		}
		t.logger.Warn("check lag failed; timers wait", "error", err)
		return nil
	}
	if !caughtUp {
		t.logger.Debug("timers wait for the partition to catch up")
		return nil
	}
	err = t.process(work, nil, true)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (t *task) caughtUp(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	caught := true
	for topic, r := range t.readers {
		end, err := r.EndOffset(ctx)
		if err != nil {
			return false, err
		}
		lag := end - t.next[topic]
		t.engine.metrics.lag(topic, t.partition, max(lag, 0))
		if lag > 0 {
			caught = false
		}
	}
	return caught, nil
}
