package vytalwatch_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
)

// arrival is the broker time of every test message. The base reading's
// received_at is one minute earlier.
var arrival = time.Date(2026, 3, 10, 15, 2, 0, 0, time.UTC)

// baseReading returns a valid heart-rate reading as a JSON object, which
// each case edits.
func baseReading() map[string]any {
	return map[string]any{
		"patient_id":     "p1",
		"device_id":      "d1",
		"measurement_id": "m1",
		"metric":         "heart_rate",
		"value":          72,
		"unit":           "bpm",
		"measured_at":    "2026-03-10T10:00:00-05:00",
		"received_at":    "2026-03-10T15:01:00Z",
		"source":         "device",
	}
}

// bloodPressure returns a valid blood-pressure reading with the given
// components.
func bloodPressure(components ...map[string]any) map[string]any {
	r := baseReading()
	r["metric"] = "blood_pressure"
	delete(r, "value")
	delete(r, "unit")
	if components != nil {
		r["components"] = components
	}
	return r
}

func component(metric string, value any, unit string) map[string]any {
	return map[string]any{"metric": metric, "value": value, "unit": unit}
}

// edit returns the base reading with fields set, or deleted where the new
// value is the deleteField marker.
func edit(fields map[string]any) map[string]any {
	r := baseReading()
	for k, v := range fields {
		if v == deleteField {
			delete(r, k)
			continue
		}
		r[k] = v
	}
	return r
}

type deleteMarker struct{}

var deleteField = deleteMarker{}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal test payload: %v", err)
	}
	return b
}

// withRaw returns the base reading as JSON with field's string value
// replaced by raw bytes, which json.Marshal would not write as they are.
func withRaw(t testing.TB, field, raw string) []byte {
	t.Helper()
	base := baseReading()
	old, err := json.Marshal(base[field])
	if err != nil {
		t.Fatal(err)
	}
	payload := encode(t, base)
	key := `"` + field + `":`
	out := bytes.Replace(payload, []byte(key+string(old)), []byte(key+`"`+raw+`"`), 1)
	if bytes.Equal(out, payload) {
		t.Fatalf("field %s not found in %s", field, payload)
	}
	return out
}

func TestDecodeReadingRejects(t *testing.T) {
	cases := []struct {
		name    string
		payload any // []byte is sent as is, anything else is marshaled
		reason  string
		field   string
		// mention must appear in the message: the offending value, or the
		// part of the fix the case is about.
		mention string
	}{
		{"not JSON", []byte(`{"patient_id":`), vytalwatch.ReasonMalformed, "", ""},
		{"JSON array", []byte(`[1,2,3]`), vytalwatch.ReasonMalformed, "", ""},
		{"empty object", []byte(`{}`), vytalwatch.ReasonMissingField, "patient_id", ""},
		{"missing patient_id", edit(map[string]any{"patient_id": deleteField}), vytalwatch.ReasonMissingField, "patient_id", ""},
		{"blank patient_id", edit(map[string]any{"patient_id": "  \t"}), vytalwatch.ReasonMissingField, "patient_id", ""},
		{"missing metric", edit(map[string]any{"metric": deleteField}), vytalwatch.ReasonMissingField, "metric", ""},
		{"unknown metric typo", edit(map[string]any{"metric": "heart_rte"}), vytalwatch.ReasonUnknownMetric, "metric", `did you mean "heart_rate"?`},
		{"unknown metric", edit(map[string]any{"metric": "flux_density"}), vytalwatch.ReasonUnknownMetric, "metric", "flux_density"},
		{"missing value", edit(map[string]any{"value": deleteField}), vytalwatch.ReasonMissingField, "value", ""},
		{"null value", edit(map[string]any{"value": nil}), vytalwatch.ReasonMissingField, "value", ""},
		{"value string", edit(map[string]any{"value": "98"}), vytalwatch.ReasonNotNumeric, "value", `"98"`},
		{"value true", edit(map[string]any{"value": true}), vytalwatch.ReasonNotNumeric, "value", "true"},
		{"value object", edit(map[string]any{"value": map[string]any{"v": 1}}), vytalwatch.ReasonNotNumeric, "value", `{"v":1}`},
		{"missing unit", edit(map[string]any{"unit": deleteField}), vytalwatch.ReasonMissingUnit, "unit", "bpm"},
		{"unknown unit", edit(map[string]any{"unit": "furlongs"}), vytalwatch.ReasonUnknownUnit, "unit", "furlongs"},
		{"sentinel 2047", edit(map[string]any{"value": 2047}), vytalwatch.ReasonSentinel, "value", "2047"},
		{"heart rate 0", edit(map[string]any{"value": 0}), vytalwatch.ReasonOutOfRange, "value", "value 0 bpm"},
		{"systolic 11647", edit(map[string]any{"metric": "systolic_bp", "value": 11647, "unit": "mmHg"}), vytalwatch.ReasonOutOfRange, "value", "11647"},
		{"spo2 45", edit(map[string]any{"metric": "spo2", "value": 45, "unit": "%"}), vytalwatch.ReasonOutOfRange, "value", "45"},
		{"spo2 101", edit(map[string]any{"metric": "spo2", "value": 101, "unit": "%"}), vytalwatch.ReasonOutOfRange, "value", "101"},
		{"glucose 1350", edit(map[string]any{"metric": "glucose_mg_dl", "value": 1350, "unit": "mg/dL"}), vytalwatch.ReasonOutOfRange, "value", "1350"},
		{"consciousness 0.5", edit(map[string]any{"metric": "consciousness", "value": 0.5, "unit": deleteField}), vytalwatch.ReasonNotInteger, "value", "0.5"},
		{"measured_at missing", edit(map[string]any{"measured_at": deleteField}), vytalwatch.ReasonMissingField, "measured_at", "RFC 3339"},
		{"measured_at no offset", edit(map[string]any{"measured_at": "2026-03-10T10:00:00"}), vytalwatch.ReasonInvalidTimestamp, "measured_at", "2026-03-10T10:00:00"},
		{"measured_at garbage", edit(map[string]any{"measured_at": "yesterday noon"}), vytalwatch.ReasonInvalidTimestamp, "measured_at", "yesterday noon"},
		{"measured_at future", edit(map[string]any{"measured_at": "2026-03-10T16:01:00Z"}), vytalwatch.ReasonTimestampInFuture, "measured_at", "2026-03-10T16:01:00Z"},
		{"measured_at too old", edit(map[string]any{"measured_at": "2015-03-10T15:01:00Z"}), vytalwatch.ReasonTimestampTooOld, "measured_at", "2015-03-10T15:01:00Z"},
		{"received_at garbage", edit(map[string]any{"received_at": "10/03/2026"}), vytalwatch.ReasonInvalidTimestamp, "received_at", "10/03/2026"},
		{"timezone Mars", edit(map[string]any{"timezone": "Mars/Olympus"}), vytalwatch.ReasonInvalidTimezone, "timezone", "Mars/Olympus"},
		{"timezone Local", edit(map[string]any{"timezone": "Local"}), vytalwatch.ReasonInvalidTimezone, "timezone", "Local"},
		{"source fax", edit(map[string]any{"source": "fax"}), vytalwatch.ReasonInvalidSource, "source", "fax"},
		{"patient_id too long", edit(map[string]any{"patient_id": strings.Repeat("x", 201)}), vytalwatch.ReasonFieldTooLong, "patient_id", "201 bytes"},
		{"device_id too long", edit(map[string]any{"device_id": strings.Repeat("x", 300)}), vytalwatch.ReasonFieldTooLong, "device_id", "300 bytes"},
		{"measurement_id too long", edit(map[string]any{"measurement_id": strings.Repeat("m", 201)}), vytalwatch.ReasonFieldTooLong, "measurement_id", "201 bytes"},
		{"patient_id NUL", edit(map[string]any{"patient_id": "p\x00x"}), vytalwatch.ReasonInvalidID, "patient_id", `"p\x00x" contains the NUL character (U+0000) at byte 1`},
		{"device_id NUL", edit(map[string]any{"device_id": "d\x00"}), vytalwatch.ReasonInvalidID, "device_id", "without NUL or other control characters"},
		{"measurement_id escape", edit(map[string]any{"measurement_id": "m\x1b[31m"}), vytalwatch.ReasonInvalidID, "measurement_id", "control character U+001B at byte 1"},
		{"device_id tab", edit(map[string]any{"device_id": "d\t1"}), vytalwatch.ReasonInvalidID, "device_id", "U+0009"},
		{"source_ref DEL", edit(map[string]any{"source_ref": "row\x7f"}), vytalwatch.ReasonInvalidID, "source_ref", "U+007F"},
		{"patient_id slash", edit(map[string]any{"patient_id": "a/b"}), vytalwatch.ReasonInvalidID, "patient_id", `"a/b" is not a valid patient id; use 1 to 200 letters, digits`},
		{"patient_id space", edit(map[string]any{"patient_id": "p 1"}), vytalwatch.ReasonInvalidID, "patient_id", "POST /v1/patients"},
		{"patient_id leading dash", edit(map[string]any{"patient_id": "-p1"}), vytalwatch.ReasonInvalidID, "patient_id", "starting with a letter or digit"},
		{"patient_id replacement char", edit(map[string]any{"patient_id": "p\ufffdx"}), vytalwatch.ReasonInvalidID, "patient_id", `"p\ufffdx"`},
		{"patient_id invalid UTF-8", withRaw(t, "patient_id", "p\xffx"), vytalwatch.ReasonInvalidID, "patient_id", "patient_id contains invalid UTF-8"},
		{"device_id invalid UTF-8", withRaw(t, "device_id", "d\xc3"), vytalwatch.ReasonInvalidID, "device_id", "device_id contains invalid UTF-8"},
		{"unit invalid UTF-8", withRaw(t, "unit", "bp\xfem"), vytalwatch.ReasonMalformed, "unit", "unit contains invalid UTF-8"},
		{"bp no components", bloodPressure(), vytalwatch.ReasonInvalidComponents, "components", "systolic_bp"},
		{"bp diastolic above", bloodPressure(component("systolic_bp", 120, "mmHg"), component("diastolic_bp", 130, "mmHg")), vytalwatch.ReasonDiastolicNotBelow, "components", "diastolic 130 is not below systolic 120"},
		{"bp diastolic equal", bloodPressure(component("systolic_bp", 120, "mmHg"), component("diastolic_bp", 120, "mmHg")), vytalwatch.ReasonDiastolicNotBelow, "components", "diastolic 120"},
		{"bp zero", bloodPressure(component("systolic_bp", 0, "mmHg"), component("diastolic_bp", 0, "mmHg")), vytalwatch.ReasonOutOfRange, "components[0].value", "value 0 mmHg"},
		{"bp unknown component", bloodPressure(component("systolic_bp", 120, "mmHg"), component("pulse", 70, "bpm")), vytalwatch.ReasonInvalidComponents, "components[1].metric", "pulse"},
		{"bp component twice", bloodPressure(component("systolic_bp", 120, "mmHg"), component("systolic_bp", 121, "mmHg"), component("diastolic_bp", 80, "mmHg")), vytalwatch.ReasonInvalidComponents, "components[1].metric", "systolic_bp"},
		{"bp missing diastolic", bloodPressure(component("systolic_bp", 120, "mmHg"), component("heart_rate", 70, "bpm")), vytalwatch.ReasonInvalidComponents, "components", "diastolic_bp"},
		{"bp component string", bloodPressure(component("systolic_bp", "120", "mmHg"), component("diastolic_bp", 80, "mmHg")), vytalwatch.ReasonNotNumeric, "components[0].value", `"120"`},
		{"bp component unit", bloodPressure(component("systolic_bp", 120, "kPa"), component("diastolic_bp", 80, "mmHg")), vytalwatch.ReasonUnknownUnit, "components[0].unit", "kPa"},
		{"components on heart_rate", edit(map[string]any{"components": []map[string]any{component("heart_rate", 70, "bpm")}}), vytalwatch.ReasonInvalidComponents, "components", "heart_rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload, ok := tc.payload.([]byte)
			if !ok {
				payload = encode(t, tc.payload)
			}
			r, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
			if rej == nil {
				t.Fatalf("accepted %s as %+v", payload, r)
			}
			if rej.Reason != tc.reason {
				t.Errorf("Reason = %q, want %q (message %q)", rej.Reason, tc.reason, rej.Message)
			}
			if rej.Field != tc.field {
				t.Errorf("Field = %q, want %q", rej.Field, tc.field)
			}
			if rej.Message == "" {
				t.Error("Message is empty")
			}
			if !strings.Contains(rej.Message, tc.mention) {
				t.Errorf("Message %q does not mention %q", rej.Message, tc.mention)
			}
			if rej.Error() != rej.Reason+": "+rej.Message {
				t.Errorf("Error() = %q", rej.Error())
			}
		})
	}
}

func TestDecodeReadingUnknownMetricNoHint(t *testing.T) {
	payload := encode(t, edit(map[string]any{"metric": "flux_density"}))
	_, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej == nil {
		t.Fatal("accepted an unknown metric")
	}
	if strings.Contains(rej.Message, "did you mean") {
		t.Errorf("Message %q suggests a metric for a word that is no typo", rej.Message)
	}
}

func TestDecodeReadingSkewConfig(t *testing.T) {
	payload := encode(t, edit(map[string]any{"measured_at": "2026-03-10T15:21:00Z"}))
	cfg := vytalwatch.ValidationConfig{MaxFutureSkew: 30 * time.Minute}
	if _, rej := vytalwatch.DecodeReading(payload, arrival, cfg); rej != nil {
		t.Errorf("20 minutes ahead rejected with a 30 minute skew: %v", rej)
	}
	_, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej == nil {
		t.Fatal("20 minutes ahead accepted with the 10 minute default")
	}
	if rej.Reason != vytalwatch.ReasonTimestampInFuture {
		t.Errorf("Reason = %q, want %q", rej.Reason, vytalwatch.ReasonTimestampInFuture)
	}
}

func TestDecodeReadingSkewBoundary(t *testing.T) {
	// measured_at exactly MaxFutureSkew ahead of received_at is accepted.
	payload := encode(t, edit(map[string]any{"measured_at": "2026-03-10T15:11:00Z"}))
	if _, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{}); rej != nil {
		t.Errorf("10 minutes ahead rejected: %v", rej)
	}
	payload = encode(t, edit(map[string]any{"measured_at": "2026-03-10T15:11:00.000000001Z"}))
	if _, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{}); rej == nil {
		t.Error("10 minutes and 1ns ahead accepted")
	}
}

func TestDecodeReadingAccepted(t *testing.T) {
	payload := encode(t, edit(map[string]any{"timezone": "America/Chicago", "manual_entry": true, "source_ref": "row-7"}))
	r, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatalf("rejected: %v", rej)
	}

	if r.PatientID != "p1" {
		t.Errorf("PatientID = %q", r.PatientID)
	}
	if r.DeviceID != "d1" {
		t.Errorf("DeviceID = %q", r.DeviceID)
	}
	if r.MeasurementID != "m1" {
		t.Errorf("MeasurementID = %q", r.MeasurementID)
	}
	if r.Metric != vytalwatch.HeartRate {
		t.Errorf("Metric = %q", r.Metric)
	}
	if r.Value != 72 {
		t.Errorf("Value = %v", r.Value)
	}
	if r.Unit != "bpm" {
		t.Errorf("Unit = %q", r.Unit)
	}

	wantMeasured := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	if r.MeasuredAt != wantMeasured {
		t.Errorf("MeasuredAt = %v, want %v", r.MeasuredAt, wantMeasured)
	}
	wantReceived := time.Date(2026, 3, 10, 15, 1, 0, 0, time.UTC)
	if r.ReceivedAt != wantReceived {
		t.Errorf("ReceivedAt = %v, want %v", r.ReceivedAt, wantReceived)
	}

	if r.Timezone != "America/Chicago" {
		t.Errorf("Timezone = %q", r.Timezone)
	}
	if !r.ManualEntry {
		t.Error("ManualEntry = false")
	}
	if r.SourceRef != "row-7" {
		t.Errorf("SourceRef = %q", r.SourceRef)
	}
}

func TestDecodeReadingReceivedAtDefault(t *testing.T) {
	local := arrival.In(time.FixedZone("EST", -5*3600))
	payload := encode(t, edit(map[string]any{"received_at": deleteField}))
	r, rej := vytalwatch.DecodeReading(payload, local, vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatalf("rejected: %v", rej)
	}
	if r.ReceivedAt != arrival {
		t.Errorf("ReceivedAt = %v, want the arrival %v in UTC", r.ReceivedAt, arrival)
	}
}

func TestDecodeReadingSourceDefault(t *testing.T) {
	payload := encode(t, edit(map[string]any{"source": deleteField}))
	r, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatalf("rejected: %v", rej)
	}
	if r.Source != vytalwatch.SourceDevice {
		t.Errorf("Source = %q, want %q", r.Source, vytalwatch.SourceDevice)
	}
}

func TestDecodeReadingTooLongFieldOrder(t *testing.T) {
	// With several ids too long, the rejection names the first in field
	// order every time.
	payload := encode(t, edit(map[string]any{
		"patient_id":     strings.Repeat("p", 201),
		"device_id":      strings.Repeat("d", 201),
		"measurement_id": strings.Repeat("m", 201),
		"source_ref":     strings.Repeat("s", 201),
	}))
	for range 20 {
		_, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
		if rej == nil {
			t.Fatal("accepted ids of 201 bytes")
		}
		if rej.Field != "patient_id" {
			t.Fatalf("Field = %q, want patient_id", rej.Field)
		}
	}
}

func TestDecodeReadingBloodPressure(t *testing.T) {
	payload := encode(t, bloodPressure(
		component("heart_rate", 64, "/min"),
		component("systolic_bp", 128, "mm[Hg]"),
		component("diastolic_bp", 82, "mmHg"),
	))
	r, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatalf("rejected: %v", rej)
	}

	want := []vytalwatch.Component{
		{Metric: "diastolic_bp", Value: 82, Unit: "mmHg"},
		{Metric: "heart_rate", Value: 64, Unit: "bpm"},
		{Metric: "systolic_bp", Value: 128, Unit: "mmHg"},
	}
	if len(r.Components) != len(want) {
		t.Fatalf("Components = %+v, want %+v", r.Components, want)
	}
	for i := range want {
		if r.Components[i] != want[i] {
			t.Errorf("Components[%d] = %+v, want %+v", i, r.Components[i], want[i])
		}
	}
	if r.Unit != "mmHg" {
		t.Errorf("Unit = %q, want mmHg", r.Unit)
	}

	if !r.HasMetric("systolic_bp") {
		t.Error("HasMetric(systolic_bp) = false")
	}
	if r.HasMetric("blood_pressure") {
		t.Error("HasMetric(blood_pressure) = true for a composite reading")
	}

	samples := r.Samples()
	if len(samples) != 3 {
		t.Fatalf("Samples = %+v, want 3", samples)
	}
	if samples[2] != (vytalwatch.Sample{Metric: "systolic_bp", Value: 128}) {
		t.Errorf("Samples[2] = %+v", samples[2])
	}
}

// FuzzDecodeReading checks that no payload panics the decoder and that an
// accepted reading contains a known metric in its canonical unit, within
// bounds, with UTC times.
func FuzzDecodeReading(f *testing.F) {
	seeds := []any{
		baseReading(),
		edit(map[string]any{"metric": "weight_kg", "value": 180, "unit": "lb"}),
		edit(map[string]any{"metric": "temperature_c", "value": 100.4, "unit": "[degF]"}),
		edit(map[string]any{"metric": "consciousness", "value": 1, "unit": deleteField, "received_at": deleteField}),
		edit(map[string]any{"value": "98", "timezone": "Mars/Olympus"}),
		bloodPressure(component("systolic_bp", 128, "mmHg"), component("diastolic_bp", 82, "mmHg"), component("heart_rate", 64, "bpm")),
		bloodPressure(component("systolic_bp", 120, "mmHg"), component("diastolic_bp", 130, "mmHg")),
	}
	for _, s := range seeds {
		f.Add(encode(f, s))
	}
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"patient_id":"p","metric":"spo2","value":1e400,"unit":"%","measured_at":"2026-03-10T15:00:00Z"}`))
	f.Add([]byte(`{"patient_id":"p","metric":"steps","value":-0,"measured_at":"0001-01-01T00:00:00Z","received_at":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
		if rej != nil {
			if rej.Reason == "" {
				t.Fatalf("rejection without a reason: %+v", rej)
			}
			if rej.Message == "" {
				t.Fatalf("rejection without a message: %+v", rej)
			}
			return
		}
		if r.PatientID == "" {
			t.Fatal("accepted a reading without patient_id")
		}
		if r.MeasuredAt.Location() != time.UTC {
			t.Fatalf("MeasuredAt %v is not UTC", r.MeasuredAt)
		}
		if r.ReceivedAt.Location() != time.UTC {
			t.Fatalf("ReceivedAt %v is not UTC", r.ReceivedAt)
		}
		if r.Metric == vytalwatch.BloodPressure {
			if len(r.Components) < 2 {
				t.Fatalf("blood pressure with components %+v", r.Components)
			}
			for _, c := range r.Components {
				checkCanonical(t, c.Metric, c.Value, c.Unit)
			}
			return
		}
		checkCanonical(t, r.Metric, r.Value, r.Unit)
		_ = r.Identity()
	})
}

func checkCanonical(t *testing.T, metric string, value float64, unit string) {
	t.Helper()
	spec, ok := vytalwatch.LookupMetric(metric)
	if !ok {
		t.Fatalf("accepted unknown metric %q", metric)
	}
	if unit != spec.Unit {
		t.Fatalf("%s unit %q, want canonical %q", metric, unit, spec.Unit)
	}
	if math.IsNaN(value) {
		t.Fatalf("%s value is NaN", metric)
	}
	if value < spec.Min || value > spec.Max {
		t.Fatalf("%s value %v outside %v-%v", metric, value, spec.Min, spec.Max)
	}
	if spec.Integer && value != math.Trunc(value) {
		t.Fatalf("%s value %v is not a whole number", metric, value)
	}
}

// TestReceivedAtAheadOfArrival checks that a sender cannot pass a future
// measured_at by dating received_at with it: the broker's arrival time
// bounds both.
func TestReceivedAtAheadOfArrival(t *testing.T) {
	payload := []byte(`{"patient_id":"g26","metric":"heart_rate","value":35,"unit":"bpm",` +
		`"measured_at":"2099-01-01T00:00:00Z","received_at":"2099-01-01T00:00:00Z"}`)
	arrival := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	_, rej := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rej == nil {
		t.Fatal("a reading dated 2099 was accepted")
	}
	if rej.Reason != vytalwatch.ReasonTimestampInFuture {
		t.Errorf("reason %q, want %q", rej.Reason, vytalwatch.ReasonTimestampInFuture)
	}
	if rej.Field != "received_at" {
		t.Errorf("field %q, want received_at", rej.Field)
	}
}
