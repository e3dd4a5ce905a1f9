package vytalwatch_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
)

// identityOf decodes the base reading with fields edited and returns its
// identity.
func identityOf(t *testing.T, reading map[string]any) vytalwatch.Identity {
	t.Helper()
	r, rej := vytalwatch.DecodeReading(encode(t, reading), arrival, vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatalf("rejected: %v", rej)
	}
	return r.Identity()
}

func TestIdentity(t *testing.T) {
	noID := map[string]any{"measurement_id": deleteField}
	with := func(extra map[string]any) map[string]any {
		fields := map[string]any{}
		for k, v := range noID {
			fields[k] = v
		}
		for k, v := range extra {
			fields[k] = v
		}
		return edit(fields)
	}
	cases := []struct {
		name  string
		a, b  map[string]any
		equal bool
	}{
		{"measurement id two routes",
			edit(nil),
			edit(map[string]any{"received_at": "2026-03-10T15:01:40Z", "source": "tenovi", "source_ref": "webhook-9"}),
			true},
		{"measurement id other value",
			edit(nil),
			edit(map[string]any{"value": 73}),
			true},
		{"measurement id other device",
			edit(nil),
			edit(map[string]any{"device_id": "d2"}),
			false},
		{"measurement id differs",
			edit(nil),
			edit(map[string]any{"measurement_id": "m2"}),
			false},
		{"no id same measurement",
			with(nil),
			with(map[string]any{"received_at": "2026-03-10T15:01:59Z", "source": "fhir"}),
			true},
		{"no id same instant other offset",
			with(nil),
			with(map[string]any{"measured_at": "2026-03-10T15:00:00Z"}),
			true},
		{"no id retake a minute later",
			with(nil),
			with(map[string]any{"measured_at": "2026-03-10T10:01:00-05:00"}),
			false},
		{"no id retake a nanosecond later",
			with(nil),
			with(map[string]any{"measured_at": "2026-03-10T10:00:00.000000001-05:00"}),
			false},
		{"no id other value",
			with(nil),
			with(map[string]any{"value": 73}),
			false},
		{"no id other metric",
			with(map[string]any{"metric": "resp_rate", "value": 20, "unit": "/min"}),
			with(map[string]any{"value": 20, "unit": "/min"}),
			false},
		{"no id other device",
			with(nil),
			with(map[string]any{"device_id": "d2"}),
			false},
		{"no id pounds and kilograms",
			with(map[string]any{"metric": "weight_kg", "value": 180, "unit": "lb"}),
			with(map[string]any{"metric": "weight_kg", "value": 81.6466266, "unit": "kg"}),
			true},
		{"id versus no id",
			edit(nil),
			with(nil),
			false},
		{"device and id split",
			edit(map[string]any{"device_id": "ab", "measurement_id": "c"}),
			edit(map[string]any{"device_id": "a", "measurement_id": "bc"}),
			false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := identityOf(t, tc.a), identityOf(t, tc.b)
			if (a == b) != tc.equal {
				t.Errorf("identities %s and %s: equal = %v, want %v", a, b, a == b, tc.equal)
			}
		})
	}
}

func TestIdentityComponentOrder(t *testing.T) {
	sys := component("systolic_bp", 128, "mmHg")
	dia := component("diastolic_bp", 82, "mmHg")
	hr := component("heart_rate", 64, "bpm")
	for _, withID := range []bool{true, false} {
		first := bloodPressure(sys, dia, hr)
		second := bloodPressure(hr, dia, sys)
		if !withID {
			delete(first, "measurement_id")
			delete(second, "measurement_id")
		}
		a, b := identityOf(t, first), identityOf(t, second)
		if a != b {
			t.Errorf("measurement id %v: identities %s and %s differ", withID, a, b)
		}
	}
}

func TestIdentityComponentValue(t *testing.T) {
	first := bloodPressure(component("systolic_bp", 128, "mmHg"), component("diastolic_bp", 82, "mmHg"))
	second := bloodPressure(component("systolic_bp", 128, "mmHg"), component("diastolic_bp", 83, "mmHg"))
	delete(first, "measurement_id")
	delete(second, "measurement_id")
	if identityOf(t, first) == identityOf(t, second) {
		t.Error("blood pressure 128/82 and 128/83 have the same identity")
	}
}

func TestIdentityNegativeZero(t *testing.T) {
	at := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	a := vytalwatch.Reading{DeviceID: "d1", Metric: "steps", Value: 0, MeasuredAt: at}
	b := a
	b.Value = negativeZero()
	if a.Identity() != b.Identity() {
		t.Error("values 0 and -0 have different identities")
	}
}

func negativeZero() float64 {
	zero := 0.0
	return -zero
}

func TestIdentityString(t *testing.T) {
	id := identityOf(t, edit(nil))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id.String()) {
		t.Errorf("String() = %q, want 32 hex digits", id.String())
	}
}

func TestEventID(t *testing.T) {
	a := vytalwatch.EventID("fired", "rule-1", "3", "p1", "k")
	if b := vytalwatch.EventID("fired", "rule-1", "3", "p1", "k"); a != b {
		t.Errorf("same parts gave %s and %s", a, b)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("EventID = %q, want 32 hex digits", a)
	}
	distinct := [][]string{
		{"a", "bc"},
		{"ab", "c"},
		{"abc"},
		{"abc", ""},
		{"", "abc"},
		{"a\x00", "b"},
		{"a", "\x00b"},
		{},
	}
	seen := map[string][]string{}
	for _, parts := range distinct {
		id := vytalwatch.EventID(parts...)
		if other, ok := seen[id]; ok {
			t.Errorf("EventID(%q) = EventID(%q) = %s", parts, other, id)
		}
		seen[id] = parts
	}
}
