// Package engine is the partitioned stream processor. One task per input
// partition applies batches of readings and profiles to the partition's
// state in the local store and evaluates the rules. It produces alert
// events and dead letters, and only then commits state and input offsets
// together. Timers evaluate clock-driven rules between readings.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// Engine runs partition tasks for the generations of a consumer group.
type Engine struct {
	cfg      Config
	store    *state.Store
	consumer Consumer
	producer Producer
	// changelog, when set, mirrors state for restore on other instances.
	changelog Changelog
	clock     Clock
	logger    *slog.Logger
	metrics   *Metrics
	rules     atomic.Pointer[rules.Set]

	// hard is cancelled when the drain after a stop must end: on a second
	// signal or after the shutdown timeout.
	hard       context.Context
	hardCancel context.CancelFunc

	mu        sync.Mutex
	progress  map[int]map[string]int64 // partition -> topic -> next offset
	owned     map[int]bool
	restoring map[int]*RestoreStatus
	changed   chan struct{}
	// tasks counts running partition tasks, so Run returns only after
	// they have drained.
	tasks sync.WaitGroup
}

// Deps are the engine's collaborators.
type Deps struct {
	Store    *state.Store
	Consumer Consumer
	Producer Producer
	// Changelog, when set, mirrors every state change so that another
	// instance can restore a partition it takes over.
	Changelog Changelog
	Clock     Clock
	Logger    *slog.Logger
	Metrics   *Metrics
}

// New returns an engine. Call Run to start it.
func New(cfg Config, set *rules.Set, deps Deps) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	e := &Engine{
		cfg: cfg, store: deps.Store, consumer: deps.Consumer, producer: deps.Producer, changelog: deps.Changelog,
		clock: deps.Clock, logger: deps.Logger.With("component", "engine"), metrics: deps.Metrics,
		progress: map[int]map[string]int64{}, owned: map[int]bool{}, restoring: map[int]*RestoreStatus{},
		changed: make(chan struct{}),
	}
	e.hard, e.hardCancel = context.WithCancel(context.Background())
	e.rules.Store(set)
	return e, nil
}

// SetRules replaces the rule set; tasks apply it between batches.
func (e *Engine) SetRules(set *rules.Set) { e.rules.Store(set) }

// Rules returns the rule set that the next batch will use.
func (e *Engine) Rules() *rules.Set { return e.rules.Load() }

// Abort ends the drain of a stopping engine at once: in-flight batches are
// discarded uncommitted and will be reprocessed on restart.
func (e *Engine) Abort() { e.hardCancel() }

// Run joins generations until ctx is done, then drains: tasks stop
// reading, finish their batch, commit it and return, within the shutdown
// timeout.
func (e *Engine) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(e.cfg.ShutdownTimeout, e.hardCancel)
	})
	defer stop()
	defer e.tasks.Wait()
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		gen, err := e.consumer.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			wait := backoff.next()
			e.logger.Warn("join consumer group failed; retrying", "error", err, "attempt", backoff.attempt, "retry_in", wait)
			if !sleepCtx(ctx, wait) {
				return nil
			}
			continue
		}
		backoff.reset()
		e.runGeneration(ctx, gen)
	}
}

// runGeneration runs one task per assigned partition under a single
// generation function, because kafka-go ends a generation as soon as any
// function started on it returns. On shutdown every task finishes its
// drain before the generation ends. A failing task stops its siblings, so
// the instance rejoins the group.
func (e *Engine) runGeneration(ctx context.Context, gen Generation) {
	parts := gen.Partitions()
	e.logger.Info("generation started", "partitions", parts)
	if e.metrics != nil {
		e.metrics.partitions.Set(float64(len(parts)))
		e.metrics.rebalancesTotal.Inc()
	}
	e.tasks.Add(1)
	gen.Start(func(genCtx context.Context) {
		defer e.tasks.Done()
		tasksCtx, cancelTasks := context.WithCancel(genCtx)
		defer cancelTasks()
		var wg sync.WaitGroup
		for _, p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := &task{engine: e, gen: gen, partition: p, logger: e.logger.With("partition", p)}
				err := t.run(ctx, tasksCtx)
				switch {
				case err == nil:
				case genCtx.Err() != nil:
					t.logger.Info("partition revoked", "reason", err)
				case tasksCtx.Err() != nil:
				default:
					t.logger.Error("partition task failed; rejoining the group", "error", err)
					cancelTasks()
				}
			}()
		}
		wg.Wait()
		if ctx.Err() == nil && tasksCtx.Err() != nil && genCtx.Err() == nil {
			// A task failed: pause before the group reassigns, so a
			// persistent fault does not spin.
			sleepCtx(ctx, time.Second)
		}
	})
}

func (e *Engine) setProgress(partition int, offsets map[string]int64) {
	e.mu.Lock()
	if e.progress[partition] == nil {
		e.progress[partition] = map[string]int64{}
	}
	for t, o := range offsets {
		e.progress[partition][t] = o
	}
	ch := e.changed
	e.changed = make(chan struct{})
	e.mu.Unlock()
	close(ch)
}

func (e *Engine) setOwned(partition int, owned bool) {
	e.mu.Lock()
	if owned {
		e.owned[partition] = true
	} else {
		delete(e.owned, partition)
	}
	e.mu.Unlock()
}

// RestoreStatus is the progress of one partition's restore.
type RestoreStatus struct {
	Partition int       `json:"partition"`
	From      int64     `json:"from"`
	To        int64     `json:"to"`
	Done      int64     `json:"done"`
	Started   time.Time `json:"started"`
}

// Readiness is what /readyz reports.
type Readiness struct {
	// Ready is true when the instance owns partitions and none is
	// restoring.
	Ready      bool            `json:"ready"`
	Partitions []int           `json:"partitions"`
	Restoring  []RestoreStatus `json:"restoring"`
}

// Readiness returns the partitions this instance owns and those it is
// still restoring from the changelog.
func (e *Engine) Readiness() Readiness {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := Readiness{Partitions: []int{}, Restoring: []RestoreStatus{}}
	for p := range e.owned {
		r.Partitions = append(r.Partitions, p)
	}
	sort.Ints(r.Partitions)
	for _, st := range e.restoring {
		r.Restoring = append(r.Restoring, *st)
	}
	sort.Slice(r.Restoring, func(i, j int) bool { return r.Restoring[i].Partition < r.Restoring[j].Partition })
	r.Ready = len(r.Partitions) > 0 && len(r.Restoring) == 0
	return r
}

func (e *Engine) setRestoring(st *RestoreStatus) {
	e.mu.Lock()
	if st.To > st.From {
		e.restoring[st.Partition] = st
	} else {
		delete(e.restoring, st.Partition)
	}
	e.mu.Unlock()
}

func (e *Engine) restoreProgress(partition int, done int64) {
	e.mu.Lock()
	if st := e.restoring[partition]; st != nil {
		st.Done = done
	}
	e.mu.Unlock()
}

// Progress returns the next offset this instance will process, per
// partition, of topic.
func (e *Engine) Progress(topic string) map[int]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[int]int64{}
	for p, byTopic := range e.progress {
		if o, ok := byTopic[topic]; ok {
			out[p] = o
		}
	}
	return out
}

// WaitForOffsets blocks until every partition of topic has been processed
// up to the given end offsets, or ctx is done.
func (e *Engine) WaitForOffsets(ctx context.Context, topic string, ends map[int]int64) error {
	for {
		e.mu.Lock()
		done := true
		for p, end := range ends {
			if end > 0 && e.progress[p][topic] < end {
				done = false
				break
			}
		}
		ch := e.changed
		e.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
