package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// evaluateReading evaluates every rule that the reading's metrics trigger,
// in rule id order, as of the reading's measured_at.
func (p *Processor) evaluateReading(v *patientView, r *vytalwatch.Reading, id vytalwatch.Identity) error {
	instances := p.triggered(r)
	if len(instances) == 0 {
		return nil
	}
	refs := readingRefs(r, id)
	age := ageOf(v, r.MeasuredAt)
	for _, inst := range instances {
		if !inst.InScope(v.id, v.profile, age) {
			continue
		}
		env := rules.Env{
			Reading: readingEnv(r, inst),
			Patient: patientEnv(v, age),
		}
		e := rules.Evaluation{At: r.MeasuredAt, Trigger: vytalwatch.TriggerReading, ReadingID: id.String()}
		if err := p.evaluate(inst, v, env, e, refs); err != nil {
			return err
		}
	}
	return nil
}

// triggered returns the rules that readings of r's metrics trigger,
// without repeats, in rule id order.
func (p *Processor) triggered(r *vytalwatch.Reading) []*rules.Instance {
	if len(r.Components) == 0 {
		return p.bound.ForMetric(r.Metric)
	}
	seen := map[*rules.Instance]bool{}
	var out []*rules.Instance
	for _, c := range r.Components {
		for _, inst := range p.bound.ForMetric(c.Metric) {
			if !seen[inst] {
				seen[inst] = true
				out = append(out, inst)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule.ID < out[j].Rule.ID })
	return out
}

// readingEnv exposes the component of r that the rule watches. A rule on
// heart_rate that a blood-pressure reading triggers gets the pulse.
func readingEnv(r *vytalwatch.Reading, inst *rules.Instance) rules.ReadingEnv {
	env := rules.ReadingEnv{Metric: r.Metric, Value: r.Value, At: r.MeasuredAt}
	if len(r.Components) == 0 {
		return env
	}
	env.Value = math.NaN()
	for _, m := range inst.Rule.Metrics {
		for _, c := range r.Components {
			if c.Metric == m {
				env.Metric, env.Value = c.Metric, c.Value
				return env
			}
		}
	}
	return env
}

func patientEnv(v *patientView, age float64) rules.PatientEnv {
	env := rules.PatientEnv{ID: v.id, Age: age}
	if v.profile != nil {
		env.Conditions = v.profile.Conditions
		env.Timezone = v.profile.Timezone
	}
	return env
}

func readingRefs(r *vytalwatch.Reading, id vytalwatch.Identity) []vytalwatch.ReadingRef {
	refs := make([]vytalwatch.ReadingRef, 0, 3)
	for _, s := range r.Samples() {
		refs = append(refs, vytalwatch.ReadingRef{
			ID: id.String(), Metric: s.Metric, Value: s.Value, MeasuredAt: r.MeasuredAt, SourceRef: r.SourceRef,
		})
	}
	return refs
}

// evaluate runs one rule for one patient at e.At, advances its alert
// state and emits the resulting events. A rule error is counted and
// logged, and the other rules go on; a storage error fails the batch.
func (p *Processor) evaluate(inst *rules.Instance, v *patientView, env rules.Env, e rules.Evaluation, refs []vytalwatch.ReadingRef) error {
	key := inst.StateKey()
	stored, _, err := p.batch.AlertState(v.id, key)
	if err != nil {
		return err
	}
	st, err := rules.DecodeAlertState(stored, inst.Fingerprint)
	if err != nil {
		return err
	}
	if e.Trigger != vytalwatch.TriggerReading && e.At.Before(st.LastReadingAt) {
		return nil
	}

	if inst.Rule.Kind == rules.KindBilling {
		if env.Billing, err = p.billingEnv(v, e.At); err != nil {
			return err
		}
	}
	p.data.reset(p.batch, v.id, e.At, v.profile)
	p.ctx.Set(&p.data, env)
	started := time.Now()
	e.Condition, err = inst.Condition()
	if err == nil && st.NeedsReset() {
		e.Reset, err = inst.Reset()
	}
	p.metrics.ruleEval(time.Since(started))
	if p.data.err != nil {
		return p.data.err
	}
	if err != nil {
		p.ruleError(inst, v.id, err)
		return nil
	}

	before := st
	transitions := inst.Step(&st, v.id, e)
	if err := p.saveState(v.id, key, stored, before, st); err != nil {
		return err
	}
	for _, t := range transitions {
		p.emit(inst, v, e, t, refs)
	}
	return p.data.err
}

// saveState writes the alert state when it changed in a way that matters:
// an inactive rule that never fired needs no record, and an inactive
// state whose only change is the evaluation time is not rewritten.
func (p *Processor) saveState(patient, key string, stored []byte, before, after rules.AlertState) error {
	if after.Status == rules.StatusInactive && after.Fired == 0 {
		if len(stored) > 0 {
			return p.batch.DeleteAlertState(patient, key)
		}
		return nil
	}
	if after.Status == rules.StatusInactive && len(stored) > 0 && before.Status == rules.StatusInactive && before.Fired == after.Fired {
		return nil
	}
	data := after.Encode()
	if bytes.Equal(data, stored) {
		return nil
	}
	return p.batch.SetAlertState(patient, key, data)
}

func (p *Processor) ruleError(inst *rules.Instance, patient string, err error) {
	p.batch.AddCounter(PrefixRuleErrors+inst.Rule.ID, 1)
	p.metrics.ruleError(inst.Rule.ID)
	if p.errors.allow(inst.Rule.ID) {
		p.logger.Warn("rule evaluation failed", "rule_id", inst.Rule.ID, "rule_version", inst.Version(),
			"error", err, "suppressed", p.errors.suppressed(inst.Rule.ID))
	}
}

func (p *Processor) emit(inst *rules.Instance, v *patientView, e rules.Evaluation, t rules.Transition, refs []vytalwatch.ReadingRef) {
	ev := vytalwatch.AlertEvent{
		EventID: t.EventID, Kind: t.Kind, RuleID: inst.Rule.ID, RuleVersion: inst.Version(),
		RuleName: inst.Rule.Name, Severity: inst.Rule.Severity, PatientID: v.id,
		At: t.At.UTC(), EmittedAt: p.clock.Now().UTC(), Trigger: e.Trigger, Late: t.Late,
		Values: p.values(inst), Readings: refs, Message: inst.Message(), Actions: inst.Rule.Actions,
		FiredEventID: t.FiredEventID, Sequence: t.Sequence,
	}
	switch t.Kind {
	case vytalwatch.AlertFired:
		p.batch.AddCounter(CounterAlertsFired, 1)
		p.batch.AddCounter(PrefixFired+inst.Rule.ID, 1)
	case vytalwatch.AlertResolved:
		p.batch.AddCounter(CounterAlertsResolved, 1)
		p.batch.AddCounter(PrefixResolved+inst.Rule.ID, 1)
	case vytalwatch.AlertRenotified:
		p.batch.AddCounter(CounterAlertsRenotified, 1)
	}
	data, _ := json.Marshal(ev)
	if inst.Rule.Kind == rules.KindBilling {
		// Billing rules tell staff where a patient stands, not clinicians
		// about a patient's health: their events go to billing.
		p.out = append(p.out, Record{Topic: p.cfg.Topics.BillingEvents, Key: []byte(v.id), Value: data})
		return
	}
	p.metrics.alert(ev)
	p.out = append(p.out, Record{Topic: p.cfg.Topics.Alerts, Key: []byte(v.id), Value: data})
}

// values returns the latest value of each metric the rule reads, as of
// the evaluation; nil marks a metric with no reading.
func (p *Processor) values(inst *rules.Instance) map[string]*float64 {
	out := make(map[string]*float64, len(inst.Rule.Metrics)+len(inst.Windows))
	add := func(m string) {
		if _, done := out[m]; done {
			return
		}
		x := p.data.Last(m)
		if math.IsNaN(x) {
			out[m] = nil
			return
		}
		out[m] = &x
	}
	for _, m := range inst.Rule.Metrics {
		add(m)
	}
	for m := range inst.Windows {
		if m == vytalwatch.Consciousness || m == vytalwatch.SupplementalO2 {
			continue
		}
		add(m)
	}
	return out
}

// Sweep evaluates the clock-driven rules for every patient of the
// partition as of now: holds that have lasted long enough fire, silent
// patients alert, windows that emptied resolve, and firing alerts are
// renotified. A rule is evaluated for a patient only once the patient has
// a reading of one of the rule's metrics.
func (p *Processor) Sweep(b *state.Batch, now time.Time) ([]Record, error) {
	p.begin(b)
	clockRules := p.bound.ClockDriven()
	if len(clockRules) == 0 {
		return p.finish()
	}
	var ids []string
	err := b.ScanPatients(func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := p.sweepPatient(id, now, clockRules); err != nil {
			return nil, err
		}
	}
	p.metrics.sweep()
	return p.finish()
}

func (p *Processor) sweepPatient(id string, now time.Time, clockRules []*rules.Instance) error {
	v, err := p.patient(id)
	if err != nil {
		return err
	}
	age := ageOf(v, now)
	for _, inst := range clockRules {
		if !inst.InScope(id, v.profile, age) {
			continue
		}
		seen, err := p.hasAny(id, inst.Rule.Metrics)
		if err != nil {
			return err
		}
		if !seen {
			continue
		}
		env := rules.Env{
			Reading: rules.ReadingEnv{Value: math.NaN(), At: now},
			Patient: patientEnv(v, age),
		}
		e := rules.Evaluation{At: now, Trigger: vytalwatch.TriggerTimer, ReadingID: v.record.NewestID}
		if err := p.evaluate(inst, v, env, e, nil); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) hasAny(patient string, metrics []string) (bool, error) {
	for _, m := range metrics {
		_, ok, err := p.batch.Meta(patient, m)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// NextDue returns the earliest time at which a stored alert state needs
// the clock: a pending duration hold that completes, or a firing alert due
// for renotification. It reports false when no state waits on the clock.
// Rules whose conditions read windows or since() change with every tick
// and are not covered; see HasClockConditions.
func (p *Processor) NextDue(b *state.Batch) (time.Time, bool, error) {
	byKey := map[string]*rules.Instance{}
	for _, inst := range p.bound.ClockDriven() {
		byKey[inst.StateKey()] = inst
	}
	var next time.Time
	found := false
	err := b.ScanAlertStates(func(_, key string, data []byte) error {
		inst := byKey[key]
		if inst == nil {
			return nil
		}
		st, err := rules.DecodeAlertState(data, inst.Fingerprint)
		if err != nil {
			return err
		}
		var due time.Time
		switch {
		case st.Status == rules.StatusPending && inst.Hold.Duration > 0:
			due = st.PendingSince.Add(inst.Hold.Duration)
		case st.Status == rules.StatusFiring && inst.Renotify > 0:
			due = st.LastNotifiedAt.Add(inst.Renotify)
		default:
			return nil
		}
		if !found || due.Before(next) {
			next, found = due, true
		}
		return nil
	})
	return next, found, err
}

// HasClockConditions reports whether a rule whose condition reads windows
// or since(), values that change with the clock alone, applies to some
// patient of the partition: one in its scope with a reading of its
// metrics. Otherwise sweeps only need to run at the times NextDue returns.
func (p *Processor) HasClockConditions(b *state.Batch) (bool, error) {
	var clockRules []*rules.Instance
	for _, inst := range p.bound.ClockDriven() {
		if inst.ClockCondition {
			clockRules = append(clockRules, inst)
		}
	}
	if len(clockRules) == 0 {
		return false, nil
	}
	p.begin(b)
	defer p.finish()
	var ids []string
	if err := b.ScanPatients(func(id string, _ []byte) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return false, err
	}
	for _, id := range ids {
		v, err := p.patient(id)
		if err != nil {
			return false, err
		}
		for _, inst := range clockRules {
			if !inst.InScope(id, v.profile, ageOf(v, p.clock.Now())) {
				continue
			}
			if seen, err := p.hasAny(id, inst.Rule.Metrics); err != nil || seen {
				return seen, err
			}
		}
	}
	return false, nil
}

// evaluateBilling evaluates the billing rules for a patient after a care
// event, at the event's arrival time: a logged call can take a month over
// a threshold without any reading.
func (p *Processor) evaluateBilling(v *patientView, at time.Time, eventID string) error {
	age := ageOf(v, at)
	for _, inst := range p.bound.Billing() {
		if !inst.InScope(v.id, v.profile, age) {
			continue
		}
		env := rules.Env{Reading: rules.ReadingEnv{Value: math.NaN(), At: at}, Patient: patientEnv(v, age)}
		e := rules.Evaluation{At: at, Trigger: vytalwatch.TriggerCareEvent, ReadingID: eventID}
		if err := p.evaluate(inst, v, env, e, nil); err != nil {
			return err
		}
	}
	return nil
}
