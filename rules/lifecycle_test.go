package rules_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/operators"
	"github.com/vytalwatch/vytalwatch/rules"
)

const (
	T = operators.True
	F = operators.False
	U = operators.Unknown
)

// step is one evaluation fed to Step and what it must emit. at is the
// event time after baseTime; the reading id is derived from it unless id
// is set.
type step struct {
	at      time.Duration
	timer   bool
	id      string
	cond    operators.Truth
	reset   operators.Truth
	want    string // comma-free list of event kinds, such as "fired"
	late    bool   // the emitted event is late
	seq     int    // the emitted event's sequence
	status  string // status after the step
	pending int    // pending readings after the step
}

func (s step) evaluation() rules.Evaluation {
	e := rules.Evaluation{At: baseTime.Add(s.at), Trigger: vytalwatch.TriggerReading, Condition: s.cond, Reset: s.reset}
	if s.timer {
		e.Trigger = vytalwatch.TriggerTimer
	}
	e.ReadingID = s.id
	if e.ReadingID == "" {
		e.ReadingID = fmt.Sprintf("r-%v", s.at)
	}
	return e
}

// lifecycleRule compiles a rule with the hold and renotify interval.
func lifecycleRule(t *testing.T, hold, renotify string) *rules.Compiled {
	t.Helper()
	r := testRule(`last("spo2") < 90`)
	r.For = hold
	r.Renotify = renotify
	return mustCompile(t, r)
}

// runSteps feeds the steps to a fresh state and checks each step's events
// and status. It returns every transition in order.
func runSteps(t *testing.T, c *rules.Compiled, steps []step) []rules.Transition {
	t.Helper()
	s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
	var all []rules.Transition
	for i, st := range steps {
		e := st.evaluation()
		got := c.Step(&s, "p1", e)
		all = append(all, got...)
		if st.want == "" {
			if len(got) != 0 {
				t.Errorf("step %d (%v): events %v, want none", i, st.at, kinds(got))
			}
		} else {
			if len(got) != 1 {
				t.Errorf("step %d (%v): events %v, want [%s]", i, st.at, kinds(got), st.want)
				continue
			}
			if got[0].Kind != st.want {
				t.Errorf("step %d (%v): event %s, want %s", i, st.at, got[0].Kind, st.want)
			}
			if !got[0].At.Equal(e.At) {
				t.Errorf("step %d (%v): event at %v, want %v", i, st.at, got[0].At, e.At)
			}
			if got[0].Late != st.late {
				t.Errorf("step %d (%v): Late = %v, want %v", i, st.at, got[0].Late, st.late)
			}
			if got[0].Sequence != st.seq {
				t.Errorf("step %d (%v): Sequence = %d, want %d", i, st.at, got[0].Sequence, st.seq)
			}
			if got[0].EventID == "" {
				t.Errorf("step %d (%v): empty EventID", i, st.at)
			}
		}
		if st.status != "" && s.Status != st.status {
			t.Errorf("step %d (%v): status %s, want %s", i, st.at, s.Status, st.status)
		}
		if st.status == rules.StatusPending && s.PendingReadings != st.pending {
			t.Errorf("step %d (%v): PendingReadings = %d, want %d", i, st.at, s.PendingReadings, st.pending)
		}
	}
	return all
}

func kinds(ts []rules.Transition) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Kind
	}
	return out
}

const (
	fired      = vytalwatch.AlertFired
	resolved   = vytalwatch.AlertResolved
	renotified = vytalwatch.AlertRenotified
	inactive   = rules.StatusInactive
	pending    = rules.StatusPending
	firing     = rules.StatusFiring
)

func TestLifecycleSequences(t *testing.T) {
	m := time.Minute
	cases := []struct {
		name     string
		hold     string
		renotify string
		steps    []step
	}{
		{"zero hold fires at once", "", "", []step{
			{at: 0, cond: F, status: inactive},
			{at: 1 * m, cond: T, want: fired, status: firing},
			{at: 2 * m, cond: T, reset: F, status: firing},
			{at: 3 * m, cond: F, reset: T, want: resolved, status: inactive},
		}},
		{"unknown neither fires nor resolves", "", "", []step{
			{at: 0, cond: U, status: inactive},
			{at: 1 * m, cond: T, want: fired, status: firing},
			{at: 2 * m, cond: U, reset: U, status: firing},
			{at: 3 * m, cond: U, reset: U, status: firing},
		}},
		{"three readings", "3 readings", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 1 * m, cond: T, status: pending, pending: 2},
			{at: 2 * m, cond: T, want: fired, status: firing},
		}},
		{"false resets the reading count", "3 readings", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 1 * m, cond: T, status: pending, pending: 2},
			{at: 2 * m, cond: F, status: inactive},
			{at: 3 * m, cond: T, status: pending, pending: 1},
			{at: 4 * m, cond: T, status: pending, pending: 2},
			{at: 5 * m, cond: T, want: fired, status: firing},
		}},
		{"unknown keeps the reading count", "3 readings", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 1 * m, cond: U, status: pending, pending: 1},
			{at: 2 * m, cond: T, status: pending, pending: 2},
			{at: 3 * m, cond: U, status: pending, pending: 2},
			{at: 4 * m, cond: T, want: fired, status: firing},
		}},
		{"timers do not count as readings", "3 readings", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 1 * m, timer: true, cond: T, status: pending, pending: 1},
			{at: 2 * m, cond: T, status: pending, pending: 2},
			{at: 3 * m, timer: true, cond: T, status: pending, pending: 2},
			{at: 4 * m, cond: T, want: fired, status: firing},
		}},
		{"ten minutes by readings", "10m", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 5 * m, cond: T, status: pending, pending: 2},
			{at: 10*m - time.Second, cond: T, status: pending, pending: 3},
			{at: 10 * m, cond: T, want: fired, status: firing},
		}},
		{"ten minutes by a timer", "10m", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 10*m - time.Nanosecond, timer: true, cond: T, status: pending, pending: 1},
			{at: 10 * m, timer: true, cond: T, want: fired, status: firing},
		}},
		{"ten minutes restart after false", "10m", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 5 * m, cond: F, status: inactive},
			{at: 6 * m, cond: T, status: pending, pending: 1},
			{at: 10 * m, timer: true, cond: T, status: pending, pending: 1},
			{at: 16 * m, timer: true, cond: T, want: fired, status: firing},
		}},
		{"unknown while pending keeps pending", "10m", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 4 * m, cond: U, status: pending, pending: 1},
			{at: 8 * m, timer: true, cond: U, status: pending, pending: 1},
			{at: 10 * m, cond: T, want: fired, status: firing},
		}},
		{"unknown at the deadline does not fire", "10m", "", []step{
			{at: 0, cond: T, status: pending, pending: 1},
			{at: 10 * m, timer: true, cond: U, status: pending, pending: 1},
			{at: 11 * m, timer: true, cond: T, want: fired, status: firing},
		}},
		{"renotify at exact intervals", "", "1h", []step{
			{at: 0, cond: T, want: fired, status: firing},
			{at: 30 * m, cond: T, reset: F, status: firing},
			{at: 60*m - time.Nanosecond, timer: true, reset: F, status: firing},
			{at: 60 * m, timer: true, reset: F, want: renotified, seq: 1, status: firing},
			{at: 90 * m, cond: T, reset: F, status: firing},
			{at: 120 * m, cond: T, reset: F, want: renotified, seq: 2, status: firing},
			{at: 170 * m, timer: true, reset: U, status: firing},
			{at: 180 * m, timer: true, reset: U, want: renotified, seq: 3, status: firing},
			{at: 190 * m, cond: F, reset: T, want: resolved, status: inactive},
		}},
		{"renotify counts from the last notification", "", "1h", []step{
			{at: 0, cond: T, want: fired, status: firing},
			{at: 95 * m, timer: true, reset: F, want: renotified, seq: 1, status: firing},
			{at: 150 * m, timer: true, reset: F, status: firing},
			{at: 155 * m, timer: true, reset: F, want: renotified, seq: 2, status: firing},
		}},
		{"renotify sequence restarts after resolve", "", "1h", []step{
			{at: 0, cond: T, want: fired, status: firing},
			{at: 60 * m, reset: F, want: renotified, seq: 1, status: firing},
			{at: 70 * m, reset: T, want: resolved, status: inactive},
			{at: 80 * m, cond: T, want: fired, status: firing},
			{at: 140 * m, reset: F, want: renotified, seq: 1, status: firing},
		}},
		{"late reading fires an inactive alert", "", "", []step{
			{at: 10 * m, cond: F, status: inactive},
			{at: 5 * m, cond: T, want: fired, late: true, status: firing},
		}},
		{"late reading never resolves", "", "", []step{
			{at: 10 * m, cond: T, want: fired, status: firing},
			{at: 5 * m, cond: F, reset: T, status: firing},
			{at: 11 * m, cond: F, reset: T, want: resolved, status: inactive},
		}},
		{"late reading ignored with a hold", "10m", "", []step{
			{at: 30 * m, cond: F, status: inactive},
			{at: 5 * m, cond: T, status: inactive},
		}},
		{"late reading ignored with readings hold", "2 readings", "", []step{
			{at: 30 * m, cond: F, status: inactive},
			{at: 5 * m, cond: T, status: inactive},
			{at: 6 * m, cond: T, status: inactive},
		}},
		{"late reading does not advance pending", "2 readings", "", []step{
			{at: 30 * m, cond: T, status: pending, pending: 1},
			{at: 5 * m, cond: T, status: pending, pending: 1},
			{at: 6 * m, cond: F, status: pending, pending: 1},
			{at: 31 * m, cond: T, want: fired, status: firing},
		}},
		{"late reading never renotifies", "", "1h", []step{
			{at: 0, cond: T, want: fired, status: firing},
			{at: 61 * m, timer: true, reset: F, want: renotified, seq: 1, status: firing},
			{at: 59 * m, cond: T, reset: F, status: firing},
			{at: 121 * m, cond: T, reset: F, want: renotified, seq: 2, status: firing},
		}},
		{"late firing renotifies from the newest time", "", "1h", []step{
			{at: 30 * m, cond: F, status: inactive},
			{at: 0, cond: T, want: fired, late: true, status: firing},
			{at: 60 * m, timer: true, reset: F, status: firing},
			{at: 90 * m, timer: true, reset: F, want: renotified, seq: 1, status: firing},
		}},
		{"a reading at the same time is not late", "", "", []step{
			{at: 10 * m, cond: F, status: inactive},
			{at: 10 * m, cond: T, want: fired, status: firing},
		}},
		{"timer fires a zero hold", "", "", []step{
			{at: 0, timer: true, cond: T, want: fired, status: firing},
			{at: 1 * m, timer: true, cond: F, reset: T, want: resolved, status: inactive},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, lifecycleRule(t, tc.hold, tc.renotify), tc.steps)
		})
	}
}

func TestLifecycleHysteresis(t *testing.T) {
	r := testRule(`last("systolic_bp") >= 180`)
	r.Metrics = []string{"systolic_bp"}
	r.Reset = `last("systolic_bp") < 170`
	c := mustCompile(t, r)
	ctx := rules.NewEvalContext()
	inst, err := c.Bind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
	readings := []struct {
		value  float64
		want   string
		status string
	}{
		{150, "", inactive},
		{180, fired, firing},
		{175, "", firing},
		{170, "", firing},
		{169, resolved, inactive},
		{175, "", inactive},
		{181, fired, firing},
	}
	for i, rd := range readings {
		at := baseTime.Add(time.Duration(i) * time.Minute)
		data := newFakeData()
		data.end = at
		data.set("systolic_bp", rd.value)
		ctx.Set(data, testEnv())
		e := rules.Evaluation{At: at, Trigger: vytalwatch.TriggerReading, ReadingID: fmt.Sprint("r", i)}
		if e.Condition, err = inst.Condition(); err != nil {
			t.Fatal(err)
		}
		if s.NeedsReset() {
			if e.Reset, err = inst.Reset(); err != nil {
				t.Fatal(err)
			}
		}
		got := c.Step(&s, "p1", e)
		if rd.want == "" && len(got) != 0 {
			t.Errorf("systolic %v: events %v, want none", rd.value, kinds(got))
		}
		if rd.want != "" && (len(got) != 1 || got[0].Kind != rd.want) {
			t.Errorf("systolic %v: events %v, want [%s]", rd.value, kinds(got), rd.want)
		}
		if s.Status != rd.status {
			t.Errorf("systolic %v: status %s, want %s", rd.value, s.Status, rd.status)
		}
	}
}

func TestLifecycleMissingDataNeverResolves(t *testing.T) {
	// With the default reset, a firing alert stays firing while the data is
	// missing.
	c := lifecycleRule(t, "", "")
	ctx := rules.NewEvalContext()
	inst, err := c.Bind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusFiring, FiredEventID: "x"}
	ctx.Set(newFakeData(), testEnv())
	reset, err := inst.Reset()
	if err != nil {
		t.Fatal(err)
	}
	got := c.Step(&s, "p1", rules.Evaluation{At: baseTime, Trigger: vytalwatch.TriggerTimer, Condition: U, Reset: reset})
	if len(got) != 0 {
		t.Errorf("missing data: events %v, want none", kinds(got))
	}
	if s.Status != firing {
		t.Errorf("missing data: status %s, want firing", s.Status)
	}
}

func TestLifecycleLinksEvents(t *testing.T) {
	all := runSteps(t, lifecycleRule(t, "", "1h"), []step{
		{at: 0, cond: T, want: fired},
		{at: time.Hour, reset: F, want: renotified, seq: 1},
		{at: 2 * time.Hour, reset: F, want: renotified, seq: 2},
		{at: 3 * time.Hour, reset: T, want: resolved},
	})
	if len(all) != 4 {
		t.Fatalf("events %v, want 4", kinds(all))
	}
	firedID := all[0].EventID
	for _, tr := range all[1:] {
		if tr.FiredEventID != firedID {
			t.Errorf("%s: FiredEventID %q, want %q", tr.Kind, tr.FiredEventID, firedID)
		}
	}
	if all[0].FiredEventID != "" {
		t.Errorf("fired: FiredEventID %q, want empty", all[0].FiredEventID)
	}
	seen := map[string]bool{}
	for _, tr := range all {
		if seen[tr.EventID] {
			t.Errorf("%s: event id %s repeats", tr.Kind, tr.EventID)
		}
		seen[tr.EventID] = true
	}
}

func TestLifecycleRefireNewID(t *testing.T) {
	all := runSteps(t, lifecycleRule(t, "", ""), []step{
		{at: 0, cond: T, want: fired},
		{at: time.Minute, reset: T, want: resolved},
		{at: 2 * time.Minute, cond: T, want: fired},
	})
	if len(all) != 3 {
		t.Fatalf("events %v, want 3", kinds(all))
	}
	if all[0].EventID == all[2].EventID {
		t.Errorf("second firing reuses event id %s", all[0].EventID)
	}
}

func TestLifecycleTimerRefireNewID(t *testing.T) {
	// Firings by the clock with the same newest reading differ by the
	// firing count.
	all := runSteps(t, lifecycleRule(t, "", ""), []step{
		{at: 0, timer: true, id: "r1", cond: T, want: fired},
		{at: time.Minute, timer: true, id: "r1", reset: T, want: resolved},
		{at: 2 * time.Minute, timer: true, id: "r1", cond: T, want: fired},
	})
	if len(all) != 3 {
		t.Fatalf("events %v, want 3", kinds(all))
	}
	if all[0].EventID == all[2].EventID {
		t.Errorf("second firing by the clock reuses event id %s", all[0].EventID)
	}
}

func TestLifecycleTimerFireUsesPendingTrigger(t *testing.T) {
	// A duration hold that fires by the clock takes its id from the
	// reading that started it, not from the newest reading.
	c := lifecycleRule(t, "10m", "")
	first := runSteps(t, c, []step{
		{at: 0, id: "start", cond: T},
		{at: 5 * time.Minute, id: "middle", cond: T},
		{at: 10 * time.Minute, timer: true, id: "newest-a", cond: T, want: fired},
	})
	second := runSteps(t, c, []step{
		{at: 0, id: "start", cond: T},
		{at: 5 * time.Minute, id: "middle", cond: T},
		{at: 12 * time.Minute, timer: true, id: "newest-b", cond: T, want: fired},
	})
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("events %v and %v, want one firing each", kinds(first), kinds(second))
	}
	if first[0].EventID != second[0].EventID {
		t.Errorf("timer firings of one pending period: ids %s and %s, want equal", first[0].EventID, second[0].EventID)
	}
}

func TestEventIDDeterminism(t *testing.T) {
	steps := []step{
		{at: 0, cond: T, want: fired},
		{at: time.Hour, reset: F, want: renotified, seq: 1},
		{at: 2 * time.Hour, reset: T, want: resolved},
	}
	run := func(version int, patient string) []string {
		r := testRule(`last("spo2") < 90`)
		r.Version = version
		r.Renotify = "1h"
		c := mustCompile(t, r)
		s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
		var ids []string
		for _, st := range steps {
			for _, tr := range c.Step(&s, patient, st.evaluation()) {
				ids = append(ids, tr.EventID)
			}
		}
		if len(ids) != 3 {
			t.Fatalf("version %d patient %s: %d events, want 3", version, patient, len(ids))
		}
		return ids
	}
	base := run(1, "p1")
	again := run(1, "p1")
	otherPatient := run(1, "p2")
	otherVersion := run(2, "p1")
	for i := range base {
		if base[i] != again[i] {
			t.Errorf("event %d: ids %s and %s for the same inputs", i, base[i], again[i])
		}
		if base[i] == otherPatient[i] {
			t.Errorf("event %d: id %s for two patients", i, base[i])
		}
		if base[i] == otherVersion[i] {
			t.Errorf("event %d: id %s for two versions", i, base[i])
		}
	}
	// A definition changed without a new version number gets new ids.
	changed := func() string {
		r := testRule(`last("spo2") < 91`)
		r.Version = 1
		r.Renotify = "1h"
		c := mustCompile(t, r)
		s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
		return c.Step(&s, "p1", steps[0].evaluation())[0].EventID
	}()
	if changed == base[0] {
		t.Errorf("fired id %s for two definitions of one version", changed)
	}
	// Version 0 means 1, so both give the same ids.
	if implicit := run(0, "p1"); implicit[0] != base[0] {
		t.Errorf("version 0: fired id %s, want the version 1 id %s", implicit[0], base[0])
	}
	r := testRule(`last("spo2") < 90`)
	r.Version = 1
	r.Renotify = "1h"
	fp := mustCompile(t, r).Fingerprint
	want := vytalwatch.EventID(vytalwatch.AlertFired, "test-rule", "1", fp, "p1", "reading:"+steps[0].evaluation().ReadingID)
	if base[0] != want {
		t.Errorf("fired id %s, want %s", base[0], want)
	}
}

func TestAlertStateRoundTrip(t *testing.T) {
	c := lifecycleRule(t, "3 readings", "")
	s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
	c.Step(&s, "p1", step{at: 0, cond: T}.evaluation())
	got, err := rules.DecodeAlertState(s.Encode(), c.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if got != s {
		t.Errorf("decoded %+v, want %+v", got, s)
	}
}

func TestAlertStateOtherFingerprint(t *testing.T) {
	c := lifecycleRule(t, "", "")
	s := rules.AlertState{Fingerprint: c.Fingerprint, Status: rules.StatusInactive}
	c.Step(&s, "p1", step{at: 0, cond: T}.evaluation())
	if s.Status != firing {
		t.Fatalf("status %s, want firing", s.Status)
	}

	changed := testRule(`last("spo2") < 88`)
	c2 := mustCompile(t, changed)
	if c2.Fingerprint == c.Fingerprint {
		t.Fatalf("changed condition keeps fingerprint %s", c.Fingerprint)
	}
	got, err := rules.DecodeAlertState(s.Encode(), c2.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	want := rules.AlertState{Fingerprint: c2.Fingerprint, Status: rules.StatusInactive}
	if got != want {
		t.Errorf("decoded %+v, want fresh %+v", got, want)
	}
}

func TestAlertStateEmpty(t *testing.T) {
	got, err := rules.DecodeAlertState(nil, "fp")
	if err != nil {
		t.Fatal(err)
	}
	if want := (rules.AlertState{Fingerprint: "fp", Status: rules.StatusInactive}); got != want {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestAlertStateInvalid(t *testing.T) {
	if _, err := rules.DecodeAlertState([]byte("{"), "fp"); err == nil {
		t.Errorf("DecodeAlertState of invalid JSON: want an error")
	}
}

func TestFingerprint(t *testing.T) {
	base := mustCompile(t, testRule(`last("spo2") < 90`))
	same := mustCompile(t, testRule(`last("spo2") < 90`))
	if base.Fingerprint != same.Fingerprint {
		t.Errorf("equal rules: fingerprints %s and %s", base.Fingerprint, same.Fingerprint)
	}
	changes := map[string]func(r *rules.Rule){
		"condition": func(r *rules.Rule) { r.Condition = `last("spo2") < 91` },
		"reset":     func(r *rules.Rule) { r.Reset = `last("spo2") > 94` },
		"for":       func(r *rules.Rule) { r.For = "10m" },
		"renotify":  func(r *rules.Rule) { r.Renotify = "1h" },
		"severity":  func(r *rules.Rule) { r.Severity = "low" },
		"metrics":   func(r *rules.Rule) { r.Metrics = []string{"spo2", "heart_rate"} },
		"scope":     func(r *rules.Rule) { r.Scope.Conditions = []string{"copd"} },
		"message":   func(r *rules.Rule) { r.Message = "x" },
	}
	for name, change := range changes {
		r := testRule(`last("spo2") < 90`)
		change(&r)
		if got := mustCompile(t, r).Fingerprint; got == base.Fingerprint {
			t.Errorf("changed %s keeps fingerprint %s", name, got)
		}
	}
}
