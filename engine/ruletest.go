package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/rules"
)

// RuleTestResult is the outcome of one rule test.
type RuleTestResult struct {
	Name     string
	Passed   bool
	Expected []string
	Got      []string
	// Matches[i] reports whether the i-th expected and actual events match.
	Matches []bool
	// Err is set when the test could not run, such as an invalid rule
	// update.
	Err error
}

// ruleTestStep is the cadence of timer sweeps in rule tests.
const ruleTestStep = time.Minute

// RunRuleTests runs every test of a test file against the rule set.
func RunRuleTests(set *rules.Set, file *rules.TestFile) []RuleTestResult {
	results := make([]RuleTestResult, 0, len(file.Tests))
	for _, tc := range file.Tests {
		results = append(results, runRuleTest(set, tc))
	}
	return results
}

func runRuleTest(set *rules.Set, tc rules.TestCase) RuleTestResult {
	res := RuleTestResult{Name: tc.Name}
	for _, e := range tc.Expect {
		res.Expected = append(res.Expected, expectedLine(e))
	}
	events, rejected, err := replayTest(set, tc)
	if err != nil {
		res.Err = err
		return res
	}
	if err := checkRejections(tc.ExpectRejected, rejected); err != nil {
		res.Err = err
		return res
	}
	for _, ev := range events {
		res.Got = append(res.Got, eventLine(ev))
	}
	res.Passed = len(tc.Expect) == len(events)
	for i := 0; i < min(len(tc.Expect), len(events)); i++ {
		ok := matchEvent(tc.Expect[i], events[i])
		res.Matches = append(res.Matches, ok)
		res.Passed = res.Passed && ok
	}
	return res
}

// checkRejections compares the readings the engine refused with those
// the test expects refused.
func checkRejections(want []string, got []vytalwatch.DeadLetter) error {
	var reasons []string
	for _, d := range got {
		reasons = append(reasons, d.Reason)
	}
	if slices.Equal(reasons, want) || (len(reasons) == 0 && len(want) == 0) {
		return nil
	}
	var details []string
	for _, d := range got {
		details = append(details, d.Reason+" ("+d.Message+")")
	}
	return fmt.Errorf("readings rejected: %v, want %v: %s", reasons, want, strings.Join(details, "; "))
}

func replayTest(set *rules.Set, tc rules.TestCase) ([]vytalwatch.AlertEvent, []vytalwatch.DeadLetter, error) {
	start := time.Unix(0, 0).UTC()
	if len(tc.Readings) > 0 {
		start, _ = rules.ParseTime(tc.Readings[0].At)
	}
	cfg := Config{BatchSize: 1, TimerInterval: ruleTestStep}
	off, err := NewOffline(cfg, set, OfflineOptions{Start: start.Add(-time.Nanosecond)})
	if err != nil {
		return nil, nil, err
	}
	defer off.Close()
	off.TimerStep = ruleTestStep
	patient := tc.Patient.ID
	if patient == "" {
		patient = "p1"
	}
	prof := vytalwatch.PatientProfile{
		PatientID: patient, Timezone: tc.Patient.Timezone, Age: tc.Patient.Age,
		Conditions: tc.Patient.Conditions, Thresholds: tc.Patient.Thresholds, News2Scale2: tc.Patient.News2Scale2,
		EnrollmentDate: tc.Patient.EnrollmentDate,
	}
	if err := off.Profile(prof); err != nil {
		return nil, nil, err
	}
	current := set
	for i, step := range tc.Readings {
		at, _ := rules.ParseTime(step.At)
		if err := off.AdvanceTo(at.Add(-time.Nanosecond)); err != nil {
			return nil, nil, err
		}
		if current, err = applyStep(off, current, patient, step, at, i); err != nil {
			return nil, nil, err
		}
		if err := off.Flush(); err != nil {
			return nil, nil, err
		}
	}
	if tc.EvalAt != "" {
		evalAt, _ := rules.ParseTime(tc.EvalAt)
		if err := off.AdvanceTo(evalAt); err != nil {
			return nil, nil, err
		}
	}
	return off.RuleEvents(), off.DeadLetters(), nil
}

func applyStep(off *Offline, current *rules.Set, patient string, step rules.TestStep, at time.Time, i int) (*rules.Set, error) {
	switch {
	case step.UpdateRule != nil:
		c, problems := rules.Compile(*step.UpdateRule)
		if len(problems) > 0 {
			return nil, fmt.Errorf("readings[%d].update_rule: %w", i, &rules.ValidationError{Problems: problems})
		}
		next, err := current.With(c)
		if err != nil {
			return nil, err
		}
		return next, off.SetRules(next)
	case step.DeleteRule != "":
		next := current.Without(step.DeleteRule)
		return next, off.SetRules(next)
	case step.TimeEntry != nil:
		te := step.TimeEntry
		id := te.ID
		if id == "" {
			id = fmt.Sprintf("entry-%d", i)
		}
		program := te.Program
		if program == "" {
			program = billing.ProgramRPM
		}
		entry := billing.TimeEntry{ID: id, PatientID: patient, StaffID: te.StaffID, Program: program,
			StartedAt: at, Minutes: te.Minutes, Interactive: te.Interactive}
		return current, off.CareEvent(billing.CareEvent{Kind: billing.CareTimeEntry, PatientID: patient, Entry: &entry}, at)
	}
	arrival := at
	if step.ArrivedAt != "" {
		arrival, _ = rules.ParseTime(step.ArrivedAt)
	}
	return current, off.Reading(patient, testPayload(patient, step, at, arrival), arrival)
}

// testPayload renders a test step as a canonical reading.
func testPayload(patient string, s rules.TestStep, at, arrival time.Time) []byte {
	m := map[string]any{
		"patient_id": patient, "metric": s.Metric, "measured_at": at.Format(time.RFC3339Nano),
		"received_at": arrival.Format(time.RFC3339Nano), "source": vytalwatch.SourceDevice,
	}
	if s.DeviceID != "" {
		m["device_id"] = s.DeviceID
	}
	if s.MeasurementID != "" {
		m["measurement_id"] = s.MeasurementID
	}
	if len(s.Components) > 0 {
		var comps []map[string]any
		for metric, v := range s.Components {
			comps = append(comps, map[string]any{"metric": metric, "value": v, "unit": canonicalUnit(metric)})
		}
		m["components"] = comps
	} else {
		if s.Value != nil {
			m["value"] = *s.Value
		}
		unit := s.Unit
		if unit == "" {
			unit = canonicalUnit(s.Metric)
		}
		m["unit"] = unit
	}
	data, _ := json.Marshal(m)
	return data
}

func canonicalUnit(metric string) string {
	if spec, ok := vytalwatch.LookupMetric(metric); ok {
		return spec.Unit
	}
	return ""
}

func matchEvent(e rules.ExpectedEvent, g vytalwatch.AlertEvent) bool {
	if e.Rule != g.RuleID || e.Event != g.Kind {
		return false
	}
	if e.Version != 0 && e.Version != g.RuleVersion {
		return false
	}
	if e.At != "" {
		at, _ := rules.ParseTime(e.At)
		if !at.Equal(g.At) {
			return false
		}
	}
	return true
}

func expectedLine(e rules.ExpectedEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Rule, e.Event)
	if e.Version != 0 {
		fmt.Fprintf(&b, " v%d", e.Version)
	}
	if e.At != "" {
		at, _ := rules.ParseTime(e.At)
		fmt.Fprintf(&b, " at %s", at.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func eventLine(ev vytalwatch.AlertEvent) string {
	return fmt.Sprintf("%s %s v%d at %s (%s)", ev.RuleID, ev.Kind, ev.RuleVersion, ev.At.UTC().Format(time.RFC3339), ev.Trigger)
}

// WriteRuleTestReport prints each failure as a diff of expected and
// actual events, and ends with "N passed, M failed".
func WriteRuleTestReport(w io.Writer, results []RuleTestResult) (passed, failed int) {
	for _, r := range results {
		if r.Passed {
			passed++
			fmt.Fprintf(w, "ok   %s\n", r.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s\n", r.Name)
		if r.Err != nil {
			fmt.Fprintf(w, "     error: %v\n", r.Err)
			continue
		}
		fmt.Fprintln(w, "     --- expected")
		fmt.Fprintln(w, "     +++ got")
		for i := 0; i < max(len(r.Expected), len(r.Got)); i++ {
			var e, g string
			if i < len(r.Expected) {
				e = r.Expected[i]
			}
			if i < len(r.Got) {
				g = r.Got[i]
			}
			switch {
			case i < len(r.Matches) && r.Matches[i]:
				fmt.Fprintf(w, "       %s\n", g)
			default:
				if e != "" {
					fmt.Fprintf(w, "     - %s\n", e)
				}
				if g != "" {
					fmt.Fprintf(w, "     + %s\n", g)
				}
			}
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed
}
