package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// Counter names kept per partition in the store. They are written in the
// same batch as the state they count, so they are exact across crashes.
const (
	CounterReadingsIn       = "readings_in"
	CounterAccepted         = "readings_accepted"
	CounterRejected         = "readings_rejected"
	CounterDuplicates       = "duplicates"
	CounterAlertsFired      = "alerts_fired"
	CounterAlertsResolved   = "alerts_resolved"
	CounterAlertsRenotified = "alerts_renotified"
	CounterProfiles         = "profiles_applied"
	CounterProfileRejected  = "profiles_rejected"
	PrefixRejected          = "rejected:"
	PrefixFired             = "fired:"
	PrefixResolved          = "resolved:"
	PrefixRuleErrors        = "rule_errors:"
)

// ReasonKeyMismatch rejects a reading whose message key is not its
// patient id: it may sit on a partition that does not own the patient's
// state.
const ReasonKeyMismatch = "key_mismatch"

// patientRecord is the engine's per-patient bookkeeping in the store.
type patientRecord struct {
	NewestAt int64  `json:"newest_at"`
	NewestID string `json:"newest_id"`
	Readings int64  `json:"readings"`
	// SweptDay is the UTC day number of the last dedupe expiry, and
	// SeenBefore its cutoff: dedupe entries before it are gone.
	SweptDay   int64 `json:"swept_day"`
	SeenBefore int64 `json:"seen_before,omitempty"`
	// FirstDay and LastDay bound the patient's billing days with data,
	// in days since 1970-01-01 in the patient's zone.
	FirstDay    int32 `json:"first_day,omitempty"`
	LastDay     int32 `json:"last_day,omitempty"`
	HasFirstDay bool  `json:"has_first_day,omitempty"`
	// AnchorAt (Unix seconds) and AnchorOffset (seconds east of UTC) are
	// when and in which offset the first qualifying reading to arrive was
	// measured. Without an enrollment date it starts the episode, and it
	// is set once.
	AnchorAt     int64 `json:"anchor_at,omitempty"`
	AnchorOffset int32 `json:"anchor_offset,omitempty"`
	HasAnchor    bool  `json:"has_anchor,omitempty"`
}

// patientView is a patient's record and profile, loaded once per batch.
type patientView struct {
	id      string
	record  patientRecord
	dirty   bool
	profile *vytalwatch.PatientProfile
}

// Processor applies one partition's input to its state and evaluates the
// rules. It does no I/O besides the store, so the engine, backtests, rule
// tests and benchmarks all run the same code. A Processor is used by one
// goroutine.
type Processor struct {
	cfg       Config
	partition int
	clock     Clock
	logger    *slog.Logger
	metrics   *Metrics
	ctx       *rules.EvalContext
	bound     *rules.Bound
	data      patientData
	errors    *ruleErrorLog

	// poisoned holds messages that failed on their own: the next Apply
	// dead-letters them instead of applying them, so one bad message never
	// stops its partition.
	poisoned map[messageRef]error

	// Per-batch state.
	batch    *state.Batch
	patients map[string]*patientView
	out      []Record
	// dirtyMonths lists, per patient, the billing months to compute again
	// at the end of the batch.
	dirtyMonths map[string]map[billing.Month]bool
}

// NewProcessor returns a processor for one partition with the rule set.
func NewProcessor(cfg Config, partition int, set *rules.Set, clock Clock, logger *slog.Logger, metrics *Metrics) (*Processor, error) {
	p := &Processor{
		cfg: cfg.WithDefaults(), partition: partition, clock: clock,
		logger: logger.With("partition", partition), metrics: metrics,
		ctx: rules.NewEvalContext(), errors: newRuleErrorLog(time.Minute),
	}
	if err := p.SetRules(set); err != nil {
		return nil, err
	}
	return p, nil
}

// SetRules binds a new rule set. Rules whose definition did not change
// keep their compiled programs.
func (p *Processor) SetRules(set *rules.Set) error {
	bound, err := set.Bind(p.ctx, p.bound)
	if err != nil {
		return err
	}
	p.bound = bound
	return nil
}

// Rules returns the current rule set.
func (p *Processor) Rules() *rules.Set { return p.bound.Set }

// ReasonProcessingFailed dead-letters a message that the engine could not
// apply, such as one that hit a bug; the partition moves on without it.
const ReasonProcessingFailed = "processing_failed"

// messageRef identifies an input message.
type messageRef struct {
	topic  string
	offset int64
}

// MessageError is a failure that one message caused, as opposed to a
// failure of the store. The caller discards the batch, marks the message
// with Poison and applies the batch again.
type MessageError struct {
	Topic  string
	Offset int64
	Err    error
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("message %s offset %d: %v", e.Topic, e.Offset, e.Err)
}

func (e *MessageError) Unwrap() error { return e.Err }

// Poison makes later Applies dead-letter the message that err came from.
func (p *Processor) Poison(err *MessageError) {
	if p.poisoned == nil {
		p.poisoned = map[messageRef]error{}
	}
	p.poisoned[messageRef{err.Topic, err.Offset}] = err.Err
}

// Apply applies messages to the batch and returns the output records.
// The caller produces the records, then commits the batch. A failure of
// one message is returned as a *MessageError.
func (p *Processor) Apply(b *state.Batch, msgs []Message) ([]Record, error) {
	p.begin(b)
	for i := range msgs {
		m := &msgs[i]
		if cause, ok := p.poisoned[messageRef{m.Topic, m.Offset}]; ok {
			p.deadLetter(&vytalwatch.Rejection{Reason: ReasonProcessingFailed,
				Message: fmt.Sprintf("the engine could not apply this message (%v); it was skipped", cause)}, m)
		} else if err := p.applyMessage(m); err != nil {
			return nil, err
		}
		if err := b.SetOffset(m.Topic, m.Offset+1); err != nil {
			return nil, err
		}
	}
	return p.finish()
}

// applyMessage applies one message. Panics and ids too long for a key are
// the message's fault and come back as a *MessageError; other errors are
// the store's.
func (p *Processor) applyMessage(m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &MessageError{Topic: m.Topic, Offset: m.Offset, Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	switch m.Topic {
	case p.cfg.Topics.Readings:
		err = p.applyReading(m)
	case p.cfg.Topics.Patients:
		err = p.applyProfile(m)
	case p.cfg.Topics.CareEvents:
		err = p.applyCareEvent(m)
	default:
		err = fmt.Errorf("message from unexpected topic %q", m.Topic)
	}
	if errors.Is(err, state.ErrKeyTooLong) {
		return &MessageError{Topic: m.Topic, Offset: m.Offset, Err: err}
	}
	if err != nil {
		return fmt.Errorf("apply %s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	return nil
}

// ClearPoisoned forgets poisoned messages once their batch is committed.
func (p *Processor) ClearPoisoned() { clear(p.poisoned) }

func (p *Processor) begin(b *state.Batch) {
	p.batch = b
	p.patients = map[string]*patientView{}
	p.out = nil
	p.dirtyMonths = nil
}

func (p *Processor) finish() ([]Record, error) {
	if err := p.emitSnapshots(); err != nil {
		return nil, fmt.Errorf("billing snapshots: %w", err)
	}
	for _, v := range p.patients {
		if !v.dirty {
			continue
		}
		data, _ := json.Marshal(v.record)
		if err := p.batch.SetPatient(v.id, data); err != nil {
			return nil, err
		}
	}
	out := p.out
	p.batch, p.patients, p.out = nil, nil, nil
	return out, nil
}

// patient loads a patient's record and profile, once per batch.
func (p *Processor) patient(id string) (*patientView, error) {
	if v, ok := p.patients[id]; ok {
		return v, nil
	}
	v := &patientView{id: id}
	data, ok, err := p.batch.Patient(id)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := json.Unmarshal(data, &v.record); err != nil {
			return nil, fmt.Errorf("decode record of patient %s: %w", id, err)
		}
	}
	if err := p.loadProfile(v); err != nil {
		return nil, err
	}
	p.patients[id] = v
	return v, nil
}

func (p *Processor) loadProfile(v *patientView) error {
	data, ok, err := p.batch.Profile(v.id)
	if err != nil || !ok || len(data) == 0 {
		v.profile = nil
		return err
	}
	prof, err := vytalwatch.DecodeProfile(data)
	if err != nil {
		return fmt.Errorf("decode stored profile of patient %s: %w", v.id, err)
	}
	v.profile = &prof
	return nil
}

func (p *Processor) applyReading(m *Message) error {
	p.batch.AddCounter(CounterReadingsIn, 1)
	r, rej := vytalwatch.DecodeReading(m.Value, m.Time, p.cfg.Validation)
	if rej == nil && string(m.Key) != r.PatientID {
		rej = &vytalwatch.Rejection{Reason: ReasonKeyMismatch, Field: "key", Value: string(m.Key),
			Message: fmt.Sprintf("message key %q is not the reading's patient_id %q; key every reading by its patient_id", m.Key, r.PatientID)}
	}
	if rej == nil {
		var err error
		if rej, err = p.checkPressurePair(&r); err != nil {
			return err
		}
	}
	if rej != nil {
		p.deadLetter(rej, m)
		return nil
	}

	id := r.Identity()
	at := r.MeasuredAt.UnixNano()
	seen, err := p.batch.MarkSeen(r.PatientID, at, id)
	if err != nil {
		return err
	}
	if seen {
		p.batch.AddCounter(CounterDuplicates, 1)
		p.metrics.readings(resultDuplicate)
		return nil
	}

	p.batch.AddCounter(CounterAccepted, 1)
	p.metrics.readings(resultAccepted)
	v, err := p.patient(r.PatientID)
	if err != nil {
		return err
	}
	samples := r.Samples()
	for _, s := range samples {
		if err := p.batch.AddSample(r.PatientID, s.Metric, at, uint64(m.Offset), s.Value); err != nil {
			return err
		}
	}
	v.record.Readings++
	if at >= v.record.NewestAt {
		v.record.NewestAt, v.record.NewestID = at, id.String()
	}
	v.dirty = true
	if err := p.recordBillingDay(v, &r); err != nil {
		return err
	}

	if err := p.evaluateReading(v, &r, id); err != nil {
		return err
	}
	return p.expire(v, samples)
}

// checkPressurePair rejects a systolic or diastolic reading sent on its
// own when the patient's other component at the same instant makes the
// pair impossible (diastolic not below systolic). A composite reading is
// checked on decode; this covers sources that send the two as separate
// rows. When the instant has several counterparts (an arterial line and a
// cuff, say), the reading is rejected only if it conflicts with all.
func (p *Processor) checkPressurePair(r *vytalwatch.Reading) (*vytalwatch.Rejection, error) {
	var other string
	switch r.Metric {
	case vytalwatch.SystolicBP:
		other = vytalwatch.DiastolicBP
	case vytalwatch.DiastolicBP:
		other = vytalwatch.SystolicBP
	default:
		return nil, nil
	}
	at := r.MeasuredAt.UnixNano()
	meta, ok, err := p.batch.Meta(r.PatientID, other)
	if err != nil || !ok || at > meta.LatestAt {
		// No sample of the other component at or after this instant.
		return nil, err
	}
	conflicts, fits := 0, 0
	err = p.batch.Range(r.PatientID, other, at, at, func(_ int64, v float64) {
		sys, dia := r.Value, v
		if r.Metric == vytalwatch.DiastolicBP {
			sys, dia = v, r.Value
		}
		if dia >= sys {
			conflicts++
		} else {
			fits++
		}
	})
	if err != nil || conflicts == 0 || fits > 0 {
		return nil, err
	}
	return &vytalwatch.Rejection{
		Reason: vytalwatch.ReasonDiastolicNotBelow, Field: "value", Value: fmt.Sprint(r.Value),
		Message: fmt.Sprintf("%s %g conflicts with the %s recorded at the same time: diastolic must be below systolic; take the reading again", r.Metric, r.Value, other),
	}, nil
}

// expire trims the windows of the metrics just written and, once per
// day of patient time, the patient's old dedupe entries.
func (p *Processor) expire(v *patientView, samples []vytalwatch.Sample) error {
	for _, s := range samples {
		retention := max(p.bound.Set.Retention(s.Metric), p.cfg.MinRetention)
		if _, err := p.batch.ExpireSamples(v.id, s.Metric, retention); err != nil {
			return err
		}
	}
	day := v.record.NewestAt / int64(24*time.Hour)
	if day > v.record.SweptDay {
		before := v.record.NewestAt - int64(p.cfg.DedupeRetention)
		if _, err := p.batch.ExpireSeen(v.id, v.record.SeenBefore, before); err != nil {
			return err
		}
		v.record.SweptDay, v.record.SeenBefore = day, before
	}
	return nil
}

func (p *Processor) deadLetter(rej *vytalwatch.Rejection, m *Message) {
	p.batch.AddCounter(CounterRejected, 1)
	p.batch.AddCounter(PrefixRejected+rej.Reason, 1)
	p.metrics.rejected(rej.Reason)
	dl := vytalwatch.NewDeadLetter(rej, m.Topic, m.Partition, m.Offset, m.Key, m.Value, m.Time)
	data, _ := json.Marshal(dl)
	p.out = append(p.out, Record{Topic: p.cfg.Topics.DeadLetter, Key: m.Key, Value: data})
}

func (p *Processor) applyProfile(m *Message) error {
	patient := string(m.Key)
	if len(m.Value) == 0 {
		// A tombstone deletes the profile.
		v, err := p.patient(patient)
		if err != nil {
			return err
		}
		v.profile = nil
		return p.batch.SetProfile(patient, nil)
	}
	prof, err := vytalwatch.DecodeProfile(m.Value)
	if err == nil && prof.PatientID != patient {
		err = fmt.Errorf("message key %q is not the profile's patient_id %q", patient, prof.PatientID)
	}
	if err != nil {
		p.batch.AddCounter(CounterProfileRejected, 1)
		p.deadLetter(&vytalwatch.Rejection{Reason: "invalid_profile", Message: err.Error()}, m)
		return nil
	}
	p.batch.AddCounter(CounterProfiles, 1)
	// Load the patient before storing the new profile, to compare with the
	// old one.
	v, err := p.patient(patient)
	if err != nil {
		return err
	}
	if err := p.batch.SetProfile(patient, m.Value); err != nil {
		return err
	}
	old := v.profile
	v.profile = &prof
	if old == nil || old.Timezone != prof.Timezone || old.EnrollmentDate != prof.EnrollmentDate {
		// The zone decides the dates and the enrollment the periods, so
		// every billing month of the patient may change.
		return p.markAllMonths(v)
	}
	return nil
}

// ageOf returns a patient's age at t, NaN when unknown.
func ageOf(v *patientView, t time.Time) float64 {
	if v.profile == nil {
		return math.NaN()
	}
	return v.profile.AgeAt(t)
}
