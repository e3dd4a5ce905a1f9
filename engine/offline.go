package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// Offline runs the engine's processor without Kafka: rule tests,
// backtests and the engine-only benchmark feed it readings in arrival
// order and move its clock by hand. All patients share partition 0.
type Offline struct {
	cfg     Config
	store   *state.Store
	ownsDB  bool
	proc    *Processor
	cache   *state.Cache
	clock   *ManualClock
	pending []Message
	offset  int64
	// TimerStep is the cadence of timer sweeps as the clock advances;
	// zero disables timers.
	TimerStep time.Duration
	// MaxIdle, when set, bounds the clock time swept tick by tick across a
	// gap in the input: past it the clock jumps to the end of the gap.
	// Backtests over histories with years between readings need it, and
	// lose only renotifications and silent-patient alerts deep in a gap.
	MaxIdle   time.Duration
	lastSweep time.Time
	// OnEvent, when set, receives each alert event as it is emitted.
	OnEvent func(vytalwatch.AlertEvent)
	events  []vytalwatch.AlertEvent
	dead    []vytalwatch.DeadLetter
	// snapshots keeps the latest billing snapshot per patient and month,
	// and snapshotsSent counts every snapshot.
	snapshots     map[string]billing.Snapshot
	snapshotsSent int
	// billingEvents keeps the events of billing rules.
	billingEvents []vytalwatch.AlertEvent
	// ruleEvents keeps the events of every rule, clinical and billing, in
	// the order the rules emitted them.
	ruleEvents []vytalwatch.AlertEvent
	// KeepEvents keeps emitted events for Events; on by default.
	KeepEvents bool
}

// OfflineOptions configures an Offline run.
type OfflineOptions struct {
	// Store is used when given; otherwise an in-memory store is opened.
	Store  *state.Store
	Logger *slog.Logger
	// Start is the initial clock time.
	Start time.Time
}

// NewOffline returns an offline runner for a rule set.
func NewOffline(cfg Config, set *rules.Set, opts OfflineOptions) (*Offline, error) {
	cfg = cfg.WithDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Offline{cfg: cfg, store: opts.Store, clock: &ManualClock{T: opts.Start}, KeepEvents: true,
		cache: state.NewCache(partitionCacheEntries)}
	if o.store == nil {
		s, err := state.Open(state.Options{InMemory: true, Logger: opts.Logger, CacheBytes: 8 << 20})
		if err != nil {
			return nil, err
		}
		o.store, o.ownsDB = s, true
	}
	proc, err := NewProcessor(cfg, 0, set, o.clock, opts.Logger, nil)
	if err != nil {
		o.Close()
		return nil, err
	}
	o.proc = proc
	return o, nil
}

// Close closes the store when the runner opened it.
func (o *Offline) Close() error {
	if o.ownsDB {
		return o.store.Close()
	}
	return nil
}

// Store returns the runner's store.
func (o *Offline) Store() *state.Store { return o.store }

// SetRules replaces the rule set, as a rule update between batches does.
func (o *Offline) SetRules(set *rules.Set) error {
	if err := o.Flush(); err != nil {
		return err
	}
	return o.proc.SetRules(set)
}

// Profile applies a patient profile.
func (o *Offline) Profile(p vytalwatch.PatientProfile) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return o.add(Message{Topic: o.cfg.Topics.Patients, Key: []byte(p.PatientID), Value: data, Time: o.clock.T})
}

// Reading queues one reading payload that arrived at arrival. Queued
// readings are applied in batches of the configured size.
func (o *Offline) Reading(key string, payload []byte, arrival time.Time) error {
	return o.add(Message{Topic: o.cfg.Topics.Readings, Key: []byte(key), Value: payload, Time: arrival})
}

func (o *Offline) add(m Message) error {
	m.Offset = o.offset
	o.offset++
	o.pending = append(o.pending, m)
	if len(o.pending) >= o.cfg.BatchSize {
		return o.Flush()
	}
	return nil
}

// Flush applies the queued messages in one batch.
func (o *Offline) Flush() error {
	if len(o.pending) == 0 {
		return nil
	}
	b := o.store.NewCachedBatch(0, false, o.cache)
	out, err := o.proc.Apply(b, o.pending)
	var me *MessageError
	for attempt := 0; errors.As(err, &me) && attempt < len(o.pending); attempt++ {
		b.Close()
		o.proc.Poison(me)
		b = o.store.NewCachedBatch(0, false, o.cache)
		out, err = o.proc.Apply(b, o.pending)
	}
	o.proc.ClearPoisoned()
	if err != nil {
		b.Close()
		return err
	}
	o.pending = o.pending[:0]
	if err := b.Commit(); err != nil {
		return err
	}
	return o.collect(out)
}

// AdvanceTo moves the clock to t, sweeping timers on the way at multiples
// of TimerStep, the last one at t itself if it is one. Queued readings are
// applied first. When no rule that applies reads windows or since(), only
// holds and renotifications wait on the clock. It then sweeps just at the
// ticks where one of them falls due, with the same outcome as sweeping at
// every tick.
func (o *Offline) AdvanceTo(t time.Time) error {
	if err := o.Flush(); err != nil {
		return err
	}
	if o.TimerStep > 0 && t.After(o.clock.T) {
		if err := o.skipIdle(t); err != nil {
			return err
		}
		b := o.store.NewCachedBatch(0, false, o.cache)
		everyTick, err := o.proc.HasClockConditions(b)
		b.Close()
		if err != nil {
			return err
		}
		if everyTick {
			err = o.sweepEveryTick(t)
		} else {
			err = o.sweepWhenDue(t)
		}
		if err != nil {
			return err
		}
	}
	if t.After(o.clock.T) {
		o.clock.T = t
	}
	return nil
}

// skipIdle sweeps through the first MaxIdle of a longer gap before t and
// then moves the clock to the last tick before t.
func (o *Offline) skipIdle(t time.Time) error {
	if o.MaxIdle <= 0 || t.Sub(o.clock.T) <= o.MaxIdle {
		return nil
	}
	if err := o.AdvanceTo(o.clock.T.Add(o.MaxIdle)); err != nil {
		return err
	}
	jump := o.firstTick(t).Add(-o.TimerStep)
	if jump.After(o.clock.T) {
		o.clock.T = jump
		o.lastSweep = jump
	}
	return nil
}

// Pending returns how many queued messages wait for the next batch.
func (o *Offline) Pending() int { return len(o.pending) }

// firstTick returns the first multiple of TimerStep at or after t.
func (o *Offline) firstTick(t time.Time) time.Time {
	tick := t.Truncate(o.TimerStep)
	if tick.Before(t) {
		tick = tick.Add(o.TimerStep)
	}
	return tick
}

func (o *Offline) sweepEveryTick(t time.Time) error {
	next := o.firstTick(o.clock.T.Add(time.Nanosecond))
	if !o.lastSweep.IsZero() && !next.After(o.lastSweep) {
		next = o.lastSweep.Add(o.TimerStep)
	}
	for ; !next.After(t); next = next.Add(o.TimerStep) {
		if err := o.sweep(next); err != nil {
			return err
		}
	}
	return nil
}

func (o *Offline) sweepWhenDue(t time.Time) error {
	for {
		b := o.store.NewCachedBatch(0, false, o.cache)
		due, ok, err := o.proc.NextDue(b)
		b.Close()
		if err != nil || !ok {
			return err
		}
		tick := o.firstTick(due)
		if !tick.After(o.clock.T) {
			tick = o.firstTick(o.clock.T.Add(time.Nanosecond))
		}
		// A state that stays due (a hold whose condition is unknown, say)
		// must not stop the clock: each round moves at least one tick.
		if !o.lastSweep.IsZero() && !tick.After(o.lastSweep) {
			tick = o.lastSweep.Add(o.TimerStep)
		}
		if tick.After(t) {
			return nil
		}
		if err := o.sweep(tick); err != nil {
			return err
		}
	}
}

// SweepAt evaluates clock-driven rules at t and moves the clock there.
func (o *Offline) SweepAt(t time.Time) error {
	if err := o.Flush(); err != nil {
		return err
	}
	return o.sweep(t)
}

func (o *Offline) sweep(t time.Time) error {
	o.clock.T = t
	o.lastSweep = t
	b := o.store.NewCachedBatch(0, false, o.cache)
	out, err := o.proc.Sweep(b, t)
	if err != nil {
		b.Close()
		return err
	}
	if b.Empty() {
		b.Close()
		return o.collect(out)
	}
	if err := b.Commit(); err != nil {
		return err
	}
	return o.collect(out)
}

func (o *Offline) collect(out []Record) error {
	for _, r := range out {
		switch r.Topic {
		case o.cfg.Topics.Alerts:
			var ev vytalwatch.AlertEvent
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return fmt.Errorf("decode alert event: %w", err)
			}
			if o.OnEvent != nil {
				o.OnEvent(ev)
			}
			if o.KeepEvents {
				o.events = append(o.events, ev)
				o.ruleEvents = append(o.ruleEvents, ev)
			}
		case o.cfg.Topics.DeadLetter:
			var d vytalwatch.DeadLetter
			if err := json.Unmarshal(r.Value, &d); err != nil {
				return fmt.Errorf("decode dead letter: %w", err)
			}
			o.dead = append(o.dead, d)
		case o.cfg.Topics.BillingEvents:
			if err := o.collectBilling(r.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (o *Offline) collectBilling(value []byte) error {
	var kind struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(value, &kind); err != nil {
		return fmt.Errorf("decode billing event: %w", err)
	}
	if kind.Kind != billing.SnapshotKind {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(value, &ev); err != nil {
			return fmt.Errorf("decode billing rule event: %w", err)
		}
		o.billingEvents = append(o.billingEvents, ev)
		o.ruleEvents = append(o.ruleEvents, ev)
		return nil
	}
	var snap billing.Snapshot
	if err := json.Unmarshal(value, &snap); err != nil {
		return fmt.Errorf("decode billing snapshot: %w", err)
	}
	if o.snapshots == nil {
		o.snapshots = map[string]billing.Snapshot{}
	}
	o.snapshotsSent++
	o.snapshots[snap.PatientID+" "+snap.Month.String()] = snap
	return nil
}

// Snapshot returns the latest billing snapshot of a patient's month.
func (o *Offline) Snapshot(patient string, m billing.Month) (billing.Snapshot, bool) {
	s, ok := o.snapshots[patient+" "+m.String()]
	return s, ok
}

// RuleEvents returns the events of every rule, clinical and billing, in
// order.
func (o *Offline) RuleEvents() []vytalwatch.AlertEvent { return o.ruleEvents }

// SnapshotsSent returns how many billing snapshots were sent.
func (o *Offline) SnapshotsSent() int { return o.snapshotsSent }

// BillingEvents returns the events of billing rules emitted so far.
func (o *Offline) BillingEvents() []vytalwatch.AlertEvent { return o.billingEvents }

// CareEvent queues a care event.
func (o *Offline) CareEvent(ev billing.CareEvent, arrival time.Time) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return o.add(Message{Topic: o.cfg.Topics.CareEvents, Key: []byte(ev.PatientID), Value: data, Time: arrival})
}

// Events returns the alert events emitted so far, in order.
func (o *Offline) Events() []vytalwatch.AlertEvent { return o.events }

// DeadLetters returns the rejected readings so far.
func (o *Offline) DeadLetters() []vytalwatch.DeadLetter { return o.dead }

// Counters returns the store's counters.
func (o *Offline) Counters() (map[string]int64, error) {
	if err := o.Flush(); err != nil {
		return nil, err
	}
	return o.store.Counters(0)
}
