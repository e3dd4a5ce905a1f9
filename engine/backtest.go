package engine

import (
	"sort"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/rules"
)

// BacktestRule is the alert activity one rule would have had over the
// history.
type BacktestRule struct {
	RuleID     string `json:"rule_id"`
	Version    int    `json:"version"`
	Name       string `json:"name"`
	Severity   string `json:"severity"`
	Fired      int    `json:"fired"`
	Resolved   int    `json:"resolved"`
	Renotified int    `json:"renotified"`
	// Patients lists the patients the rule fired for.
	Patients []string `json:"patients"`
	// ClockDependent rules read windows or since(), or hold for a
	// duration, so when they fire or resolve depends on the timer cadence.
	// Renotifications always do.
	ClockDependent bool `json:"clock_dependent"`
}

// BacktestReport is the outcome of a backtest.
type BacktestReport struct {
	Readings   int64            `json:"readings"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	Duplicates int64            `json:"duplicates"`
	Rules      []BacktestRule   `json:"rules"`
	Rejections map[string]int64 `json:"rejections"`
}

// BacktestReading is one reading of the history, in arrival order.
type BacktestReading struct {
	PatientID  string
	Payload    []byte
	MeasuredAt time.Time // zero when unparseable; such rows still go through validation
}

// backtestMaxIdle bounds the clock time swept across a gap in the history.
const backtestMaxIdle = 7 * 24 * time.Hour

// plausibleCeilings returns each patient's newest plausible time: the
// time that keeps the most of the patient's readings within the age
// limit of validation before it.
func plausibleCeilings(history []BacktestReading) map[string]time.Time {
	times := map[string][]time.Time{}
	for _, h := range history {
		if !h.MeasuredAt.IsZero() {
			times[h.PatientID] = append(times[h.PatientID], h.MeasuredAt)
		}
	}
	ceilings := make(map[string]time.Time, len(times))
	for patient, ts := range times {
		ceilings[patient] = vytalwatch.NewestPlausible(ts, vytalwatch.DefaultMaxAge)
	}
	return ceilings
}

// Backtest replays readings through the rules with the engine's own
// processor and no broker. The clock follows the history: it is the
// newest measured_at seen so far, and clock-driven rules are evaluated
// every timerStep of it (zero disables timers), for at most a week into a
// gap between readings. Every rule of the set is reported, including
// those that never fired.
func Backtest(set *rules.Set, history []BacktestReading, timerStep time.Duration) (*BacktestReport, error) {
	off, err := NewOffline(Config{}, set, OfflineOptions{})
	if err != nil {
		return nil, err
	}
	defer off.Close()
	tally := newBacktestTally(set)
	off.KeepEvents = false
	off.OnEvent = tally.add
	off.TimerStep = timerStep

	// Readings arrive at the history's clock, the newest of the patients'
	// clocks, and each patient's clock is the newest time of that
	// patient's history so far, up to the patient's newest plausible
	// time. A time past that, such as a mistyped year, moves neither, so
	// the reading is rejected as in the future instead of making every
	// later reading too old. Timers run at batch boundaries, up to the
	// history's clock, so a sweep includes every reading measured before
	// it, and the history is applied in batches, not one reading at a
	// time.
	off.MaxIdle = backtestMaxIdle
	ceilings := plausibleCeilings(history)
	clocks := map[string]time.Time{}
	var watermark time.Time
	for _, h := range history {
		clock := clocks[h.PatientID]
		if h.MeasuredAt.After(clock) && !h.MeasuredAt.After(ceilings[h.PatientID]) {
			clock = h.MeasuredAt
		}
		clocks[h.PatientID] = clock
		if clock.After(watermark) {
			watermark = clock
		}
		arrival := watermark
		if arrival.IsZero() {
			arrival = time.Unix(0, 0)
		}
		if err := off.Reading(h.PatientID, h.Payload, arrival); err != nil {
			return nil, err
		}
		if timerStep > 0 && off.Pending() == 0 && !watermark.IsZero() {
			if err := off.AdvanceTo(watermark); err != nil {
				return nil, err
			}
		}
	}
	if timerStep > 0 && !watermark.IsZero() {
		if err := off.AdvanceTo(watermark); err != nil {
			return nil, err
		}
	}

	counters, err := off.Counters()
	if err != nil {
		return nil, err
	}
	return tally.report(counters), nil
}

// backtestTally counts alert events per rule.
type backtestTally struct {
	byRule   map[string]*BacktestRule
	patients map[string]map[string]bool
}

func newBacktestTally(set *rules.Set) *backtestTally {
	t := &backtestTally{byRule: map[string]*BacktestRule{}, patients: map[string]map[string]bool{}}
	for _, r := range set.Rules() {
		t.byRule[r.Rule.ID] = &BacktestRule{
			RuleID: r.Rule.ID, Version: r.Version(), Name: r.Rule.Name, Severity: r.Rule.Severity,
			ClockDependent: r.ClockCondition || r.Hold.Duration > 0, Patients: []string{},
		}
		t.patients[r.Rule.ID] = map[string]bool{}
	}
	return t
}

func (t *backtestTally) add(ev vytalwatch.AlertEvent) {
	br := t.byRule[ev.RuleID]
	if br == nil {
		return
	}
	switch ev.Kind {
	case vytalwatch.AlertFired:
		br.Fired++
		t.patients[ev.RuleID][ev.PatientID] = true
	case vytalwatch.AlertResolved:
		br.Resolved++
	case vytalwatch.AlertRenotified:
		br.Renotified++
	}
}

func (t *backtestTally) report(counters map[string]int64) *BacktestReport {
	rep := &BacktestReport{
		Readings: counters[CounterReadingsIn], Accepted: counters[CounterAccepted],
		Rejected: counters[CounterRejected], Duplicates: counters[CounterDuplicates],
		Rejections: map[string]int64{},
	}
	for name, v := range counters {
		if reason, ok := strings.CutPrefix(name, PrefixRejected); ok {
			rep.Rejections[reason] = v
		}
	}
	for id, br := range t.byRule {
		for p := range t.patients[id] {
			br.Patients = append(br.Patients, p)
		}
		sort.Strings(br.Patients)
		rep.Rules = append(rep.Rules, *br)
	}
	sort.Slice(rep.Rules, func(i, j int) bool { return rep.Rules[i].RuleID < rep.Rules[j].RuleID })
	return rep
}
