package engine

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// Billing in the engine works in three steps. Every qualifying reading
// marks a day with data in the patient's zone, and care events store time
// entries and claims. At the end of each batch, the months whose decisions
// may have changed are computed again with the billing package. A month's
// snapshot goes to vitals.billing-events when its content differs from
// the last one sent, so a replay after a crash sends nothing new.

// Counter names of billing.
const (
	CounterCareEvents       = "care_events_applied"
	CounterBillingSnapshots = "billing_snapshots"
	ReasonInvalidCareEvent  = "invalid_care_event"
)

// patientZone returns the patient's home zone from the profile, or nil.
func patientZone(v *patientView) *time.Location {
	if v.profile == nil || v.profile.Timezone == "" {
		return nil
	}
	loc, err := vytalwatch.LoadLocation(v.profile.Timezone)
	if err != nil {
		return nil
	}
	return loc
}

// zoneOr returns the patient's zone, else fallback.
func zoneOr(v *patientView, fallback *time.Location) *time.Location {
	if loc := patientZone(v); loc != nil {
		return loc
	}
	if fallback != nil {
		return fallback
	}
	return time.UTC
}

// episodeStart returns the enrollment date, else the local date of the
// first qualifying reading to arrive, and whether the patient has either.
func episodeStart(v *patientView) (billing.Date, bool) {
	if v.profile != nil && v.profile.EnrollmentDate != "" {
		if d, err := billing.ParseDate(v.profile.EnrollmentDate); err == nil {
			return d, true
		}
	}
	if anchor, ok := v.record.anchor(); ok {
		return billing.DateOf(anchor, zoneOr(v, anchor.Location())), true
	}
	return 0, false
}

// anchor returns the measured time of the first qualifying reading to
// arrive, in its own offset.
func (r *patientRecord) anchor() (time.Time, bool) {
	if !r.HasAnchor {
		return time.Time{}, false
	}
	return time.Unix(r.AnchorAt, 0).In(time.FixedZone("", int(r.AnchorOffset))), true
}

// markMonths records that the months overlapping [from, to] need their
// snapshots computed again.
func (p *Processor) markMonths(patient string, from, to billing.Date) {
	if p.dirtyMonths == nil {
		p.dirtyMonths = map[string]map[billing.Month]bool{}
	}
	set := p.dirtyMonths[patient]
	if set == nil {
		set = map[billing.Month]bool{}
		p.dirtyMonths[patient] = set
	}
	for m := from.Month(); m.First() <= to; m = m.Next() {
		set[m] = true
	}
}

// recordBillingDay marks the reading's local date as a day with data,
// when the reading qualifies.
func (p *Processor) recordBillingDay(v *patientView, r *vytalwatch.Reading) error {
	obs := billing.ObservationOf(r)
	if !obs.Qualifies() {
		return nil
	}
	zone := zoneOr(v, obs.Location)
	date := billing.DateOf(r.MeasuredAt, zone)

	flags, ok, err := p.batch.BillingDay(v.id, int32(date))
	if err != nil {
		return err
	}
	next := flags
	if !ok {
		next = 0
		if r.EstimatedTime {
			next |= state.DayEstimated
		}
	} else if !r.EstimatedTime {
		next &^= state.DayEstimated
	}
	if !v.record.HasAnchor {
		own := obs.Location
		if own == nil {
			own = time.UTC
		}
		_, offset := r.MeasuredAt.In(own).Zone()
		v.record.AnchorAt, v.record.AnchorOffset, v.record.HasAnchor = r.MeasuredAt.Unix(), int32(offset), true
		v.dirty = true
	}
	if !v.record.HasFirstDay || int32(date) < v.record.FirstDay {
		v.record.FirstDay, v.record.HasFirstDay = int32(date), true
		v.dirty = true
	}
	if int32(date) > v.record.LastDay {
		v.record.LastDay = int32(date)
		v.dirty = true
	}

	start, _ := episodeStart(v)
	_, first, last := billing.PeriodOf(start, date)
	if !ok && billing.DateOf(r.ReceivedAt, zone) > last {
		next |= state.DayLate
	}
	if ok && next == flags {
		return nil
	}
	p.markMonths(v.id, first, last)
	if date < start {
		// The episode's first period flags readings before the start.
		p.markMonths(v.id, start, start+billing.PeriodDays-1)
	}
	return p.batch.SetBillingDay(v.id, int32(date), next)
}

// applyCareEvent stores a time entry or a claim, or withdraws an entry.
func (p *Processor) applyCareEvent(m *Message) error {
	ev, err := billing.DecodeCareEvent(m.Value)
	if err == nil && ev.PatientID != string(m.Key) {
		err = fmt.Errorf("message key %q is not the care event's patient_id %q", m.Key, ev.PatientID)
	}
	if err != nil {
		p.deadLetter(&vytalwatch.Rejection{Reason: ReasonInvalidCareEvent, Message: err.Error()}, m)
		return nil
	}
	p.batch.AddCounter(CounterCareEvents, 1)
	v, err := p.patient(ev.PatientID)
	if err != nil {
		return err
	}
	id := ev.StorageID()
	if old, ok, err := p.storedCareEvent(v.id, id); err != nil {
		return err
	} else if ok {
		p.markCareEvent(v, old)
	}
	if ev.Kind == billing.CareTimeEntryDeleted {
		err = p.batch.DeleteCareEvent(v.id, id)
	} else {
		p.markCareEvent(v, ev)
		err = p.batch.SetCareEvent(v.id, id, m.Value)
	}
	if err != nil {
		return err
	}
	return p.evaluateBilling(v, m.Time, id)
}

func (p *Processor) storedCareEvent(patient, id string) (billing.CareEvent, bool, error) {
	var found billing.CareEvent
	data, ok, err := p.batch.CareEvent(patient, id)
	if err != nil || !ok {
		return found, false, err
	}
	found, err = billing.DecodeCareEvent(data)
	return found, err == nil, nil
}

// markCareEvent marks the months an entry's minutes or a claim's period
// fall in.
func (p *Processor) markCareEvent(v *patientView, ev billing.CareEvent) {
	zone := zoneOr(v, nil)
	switch {
	case ev.Entry != nil:
		p.markMonths(v.id, billing.DateOf(ev.Entry.StartedAt, zone), billing.DateOf(ev.Entry.End(), zone))
	case ev.Claim != nil:
		d := ev.Claim.ServiceDate
		p.markMonths(v.id, d-billing.PeriodDays, d+billing.PeriodDays)
	}
}

// markAllMonths marks every month with data or care events, after a
// profile change moved the zone or the episode start.
func (p *Processor) markAllMonths(v *patientView) error {
	if v.record.HasFirstDay {
		p.markMonths(v.id, billing.Date(v.record.FirstDay), billing.Date(v.record.LastDay))
	}
	if start, ok := episodeStart(v); ok {
		p.markMonths(v.id, start, start)
	}
	return p.batch.CareEvents(v.id, func(_ string, data []byte) error {
		if ev, err := billing.DecodeCareEvent(data); err == nil {
			p.markCareEvent(v, ev)
		}
		return nil
	})
}

// billingInputs loads a patient's billing inputs from the store.
func (p *Processor) billingInputs(v *patientView) (billing.Inputs, error) {
	in := billing.Inputs{PatientID: v.id, Location: patientZone(v)}
	in.FirstReading, in.HasFirstReading = v.record.anchor()
	if v.profile != nil && v.profile.EnrollmentDate != "" {
		if d, err := billing.ParseDate(v.profile.EnrollmentDate); err == nil {
			in.EpisodeStart, in.HasEpisodeStart = d, true
		}
	}
	err := p.batch.BillingDays(v.id, math.MinInt32, math.MaxInt32, func(date int32, flags byte) {
		in.Days = append(in.Days, billing.DayRecord{
			Date: billing.Date(date), Estimated: flags&state.DayEstimated != 0, Late: flags&state.DayLate != 0,
		})
	})
	if err != nil {
		return in, err
	}
	err = p.batch.CareEvents(v.id, func(_ string, data []byte) error {
		ev, err := billing.DecodeCareEvent(data)
		if err != nil {
			return nil
		}
		if ev.Entry != nil {
			in.Entries = append(in.Entries, *ev.Entry)
		}
		if ev.Claim != nil {
			in.Claims = append(in.Claims, *ev.Claim)
		}
		return nil
	})
	return in, err
}

// emitSnapshots computes the marked months again and sends the snapshots
// that changed.
func (p *Processor) emitSnapshots() error {
	for patient, months := range p.dirtyMonths {
		v, err := p.patient(patient)
		if err != nil {
			return err
		}
		in, err := p.billingInputs(v)
		if err != nil {
			return err
		}
		for _, m := range sortedMonths(months) {
			if err := p.emitSnapshot(v, in, m); err != nil {
				return err
			}
		}
	}
	p.dirtyMonths = nil
	return nil
}

// snapshotToday is before any date, so no period is reported closed:
// whether a period is closed depends on the clock, and a snapshot must be
// the same whenever a replay computes it.
const snapshotToday = billing.Date(math.MinInt32)

func (p *Processor) emitSnapshot(v *patientView, in billing.Inputs, m billing.Month) error {
	rep := billing.Compute(in, m, p.cfg.Billing, snapshotToday)
	body, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	hash := sum[:16]
	sent, _, err := p.batch.SentHash(v.id, m.String())
	if err != nil {
		return err
	}
	if string(sent) == string(hash) {
		return nil
	}
	snap := billing.Snapshot{
		EventID: vytalwatch.EventID(billing.SnapshotKind, v.id, m.String(), fmt.Sprintf("%x", hash)),
		Kind:    billing.SnapshotKind, PatientID: v.id, Month: m, Report: rep, ComputedAt: p.clock.Now().UTC(),
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	// How many snapshots a month goes through depends on where batch
	// boundaries fall, so this is a metric, not a stored counter: state
	// must come out the same however the input was batched.
	p.out = append(p.out, Record{Topic: p.cfg.Topics.BillingEvents, Key: []byte(v.id), Value: data})
	p.metrics.snapshot()
	return p.batch.SetSentHash(v.id, m.String(), hash)
}

func sortedMonths(set map[billing.Month]bool) []billing.Month {
	out := make([]billing.Month, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].First() < out[j-1].First(); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// billingEnv computes the patient's position against the CPT thresholds
// as of at, for billing rules.
func (p *Processor) billingEnv(v *patientView, at time.Time) (rules.BillingEnv, error) {
	var env rules.BillingEnv
	zone := zoneOr(v, nil)
	today := billing.DateOf(at, zone)
	in, err := p.billingInputs(v)
	if err != nil {
		return env, err
	}
	m := today.Month()
	env.MonthDaysLeft = float64(m.Last() - today)
	rep := billing.Compute(in, m, p.cfg.Billing, today)
	env.Minutes = float64(rep.Month.Minutes)
	env.Interactive = rep.Month.Interactive
	// Before the episode starts there is no device period, so its days are
	// unknown, not zero.
	env.Days, env.DaysLeft = math.NaN(), math.NaN()
	start, ok := episodeStart(v)
	if !ok {
		return env, nil
	}
	idx, first, last := billing.PeriodOf(start, today)
	if idx < 0 {
		return env, nil
	}
	env.Days = 0
	hasToday := false
	for _, d := range in.Days {
		if d.Date >= first && d.Date <= today {
			env.Days++
			hasToday = hasToday || d.Date == today
		}
	}
	env.DaysLeft = float64(last - today)
	if !hasToday {
		env.DaysLeft++
	}
	return env, nil
}
