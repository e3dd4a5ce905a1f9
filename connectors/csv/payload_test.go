package csv_test

import (
	"encoding/json"
	"testing"
	"time"
	// The zone database is embedded so that America/New_York loads on
	// machines without one.
	_ "time/tzdata"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

func readRows(t *testing.T, path string) []csv.Row {
	t.Helper()
	rows, _, err := csv.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	return rows
}

func mustParseTime(t *testing.T, text string) time.Time {
	t.Helper()
	parsed, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// decodeFields decodes a payload into its top-level fields as raw JSON.
func decodeFields(t *testing.T, payload []byte) map[string]json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		t.Fatalf("payload is not a JSON object: %v\n%s", err, payload)
	}
	return fields
}

func TestPayloadRoundTripAllFields(t *testing.T) {
	row := readRows(t, "testdata/reordered-columns.csv")[0]
	receivedAt := mustParseTime(t, "2026-03-10T13:15:05.123456789Z")

	payload := csv.Payload(row, receivedAt)
	reading, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection != nil {
		t.Fatalf("DecodeReading rejected %s: %v", payload, rejection)
	}

	if reading.PatientID != "p-1" {
		t.Errorf("PatientID = %q, want p-1", reading.PatientID)
	}
	if reading.DeviceID != "omron-7" {
		t.Errorf("DeviceID = %q, want omron-7", reading.DeviceID)
	}
	if reading.MeasurementID != "m-100" {
		t.Errorf("MeasurementID = %q, want m-100", reading.MeasurementID)
	}
	if reading.Metric != vytalwatch.HeartRate {
		t.Errorf("Metric = %q, want heart_rate", reading.Metric)
	}
	if reading.Value != 72 {
		t.Errorf("Value = %v, want 72", reading.Value)
	}
	if reading.Unit != "bpm" {
		t.Errorf("Unit = %q, want bpm", reading.Unit)
	}
	wantMeasured := mustParseTime(t, "2026-03-10T13:15:00Z")
	if !reading.MeasuredAt.Equal(wantMeasured) {
		t.Errorf("MeasuredAt = %v, want %v", reading.MeasuredAt, wantMeasured)
	}
	if !reading.ReceivedAt.Equal(receivedAt) {
		t.Errorf("ReceivedAt = %v, want %v", reading.ReceivedAt, receivedAt)
	}
	if reading.Source != vytalwatch.SourceCSV {
		t.Errorf("Source = %q, want csv", reading.Source)
	}
	if reading.SourceRef != "r-1" {
		t.Errorf("SourceRef = %q, want r-1", reading.SourceRef)
	}
	if reading.Timezone != "America/New_York" {
		t.Errorf("Timezone = %q, want America/New_York", reading.Timezone)
	}
}

func TestPayloadWithoutOptionalColumns(t *testing.T) {
	row := readRows(t, "testdata/reordered-columns.csv")[1]
	receivedAt := mustParseTime(t, "2026-03-10T13:21:00Z")

	payload := csv.Payload(row, receivedAt)
	want := `{"patient_id":"p-2","metric":"spo2","value":97,"unit":"%",` +
		`"measured_at":"2026-03-10T13:20:30.25Z","received_at":"2026-03-10T13:21:00Z",` +
		`"source":"csv","source_ref":"r-2"}`
	if string(payload) != want {
		t.Errorf("payload:\n got %s\nwant %s", payload, want)
	}

	reading, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection != nil {
		t.Fatalf("DecodeReading rejected %s: %v", payload, rejection)
	}
	if reading.DeviceID != "" {
		t.Errorf("DeviceID = %q, want empty", reading.DeviceID)
	}
	if reading.MeasurementID != "" {
		t.Errorf("MeasurementID = %q, want empty", reading.MeasurementID)
	}
	if reading.Timezone != "" {
		t.Errorf("Timezone = %q, want empty", reading.Timezone)
	}
	wantMeasured := mustParseTime(t, "2026-03-10T13:20:30.25Z")
	if !reading.MeasuredAt.Equal(wantMeasured) {
		t.Errorf("MeasuredAt = %v, want %v", reading.MeasuredAt, wantMeasured)
	}
}

func TestPayloadNonNumericValue(t *testing.T) {
	row := readRows(t, "testdata/bad-values.csv")[0]
	payload := csv.Payload(row, mustParseTime(t, "2026-03-10T08:15:10Z"))

	if got := string(decodeFields(t, payload)["value"]); got != `"abc"` {
		t.Errorf("value = %s, want the JSON string \"abc\"", got)
	}
	_, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection == nil {
		t.Fatalf("DecodeReading accepted %s", payload)
	}
	if rejection.Reason != vytalwatch.ReasonNotNumeric {
		t.Errorf("Reason = %q, want %q (%v)", rejection.Reason, vytalwatch.ReasonNotNumeric, rejection)
	}
}

func TestPayloadUnparseableTime(t *testing.T) {
	row := readRows(t, "testdata/bad-values.csv")[1]
	payload := csv.Payload(row, mustParseTime(t, "2026-03-10T08:16:10Z"))

	if got := string(decodeFields(t, payload)["measured_at"]); got != `"2026-03-10 08:16"` {
		t.Errorf("measured_at = %s, want the raw text", got)
	}
	_, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection == nil {
		t.Fatalf("DecodeReading accepted %s", payload)
	}
	if rejection.Reason != vytalwatch.ReasonInvalidTimestamp {
		t.Errorf("Reason = %q, want %q (%v)", rejection.Reason, vytalwatch.ReasonInvalidTimestamp, rejection)
	}
}

// A patient id with a quote and a backslash must come out as valid JSON
// that decodes to the same id. The engine then rejects the id, since ids
// are letters, digits and . _ : -, which names the field.
func TestPayloadEscapedPatientID(t *testing.T) {
	row := readRows(t, "testdata/bad-values.csv")[2]
	if row.PatientID != `pa"ti\ent` {
		t.Fatalf("PatientID = %q, want pa\"ti\\ent", row.PatientID)
	}
	payload := csv.Payload(row, mustParseTime(t, "2026-03-10T08:17:10Z"))

	var decoded struct {
		PatientID string `json:"patient_id"`
	}
	if err := json.Unmarshal(payload, &decoded); err != nil {
		t.Fatalf("payload %s is not JSON: %v", payload, err)
	}
	if decoded.PatientID != row.PatientID {
		t.Errorf("patient_id = %q, want %q", decoded.PatientID, row.PatientID)
	}
	_, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection == nil || rejection.Reason != vytalwatch.ReasonInvalidID || rejection.Field != "patient_id" {
		t.Errorf("DecodeReading = %v, want an invalid_id rejection of patient_id", rejection)
	}
	if string(csv.Key(row)) != row.PatientID {
		t.Errorf("Key = %q, want %q", csv.Key(row), row.PatientID)
	}
}

func TestPayloadEmptyValue(t *testing.T) {
	row := readRows(t, "testdata/bad-values.csv")[3]
	payload := csv.Payload(row, mustParseTime(t, "2026-03-10T08:18:10Z"))

	if got := string(decodeFields(t, payload)["value"]); got != "null" {
		t.Errorf("value = %s, want null", got)
	}
	_, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
	if rejection == nil {
		t.Fatalf("DecodeReading accepted %s", payload)
	}
	if rejection.Reason != vytalwatch.ReasonMissingField {
		t.Errorf("Reason = %q, want %q (%v)", rejection.Reason, vytalwatch.ReasonMissingField, rejection)
	}
	if rejection.Field != "value" {
		t.Errorf("Field = %q, want value", rejection.Field)
	}
}

func TestPayloadValueForms(t *testing.T) {
	tests := []struct {
		text string
		want string // the value as raw JSON
	}{
		{"72", "72"},
		{"98.60", "98.60"},
		{"-0.5", "-0.5"},
		{"1e3", "1e3"},
		{"2.5E-1", "2.5E-1"},
		{" 72 ", "72"},
		{"+5", "5"},
		{".5", "0.5"},
		{"5.", "5"},
		{"007", "7"},
		{"1e21", "1e21"},
		{"+1e21", "1e+21"},
		{"abc", `"abc"`},
		{"72 bpm", `"72 bpm"`},
		{`7"2\`, `"7\"2\\"`},
		{"7\t2", `"7\t2"`},
		{"NaN", `"NaN"`},
		{"Inf", `"Inf"`},
		{"-Infinity", `"-Infinity"`},
		{"0x10", `"0x10"`},
		{"0x1p4", `"0x1p4"`},
		{"1_000", `"1_000"`},
		{"1,5", `"1,5"`},
		{"1e999", `"1e999"`},
		{"1e", `"1e"`},
		{".", `"."`},
		{"-", `"-"`},
		{"", "null"},
		{"   ", "null"},
	}
	for _, test := range tests {
		row := csv.Row{PatientID: "p-1", Time: "2026-03-10T08:15:00Z", Metric: "heart_rate", Value: test.text}
		payload := csv.Payload(row, time.Time{})
		got := string(decodeFields(t, payload)["value"])
		if got != test.want {
			t.Errorf("value %q rendered as %s, want %s", test.text, got, test.want)
		}
	}
}

func TestPayloadStringEscaping(t *testing.T) {
	tests := []string{
		`quote " inside`,
		`back\slash`,
		"tab\tnew\nline\rreturn",
		"control \x00\x01\x1f\x7f",
		"\b\f",
		"Zoë Müller",
		"患者-7",
		"emoji 🩺",
		"separators \u2028\u2029",
		"invalid \xff\xfe utf-8",
		"<html>&amp;",
	}
	for _, text := range tests {
		row := csv.Row{
			PatientID: text, Time: "2026-03-10T08:15:00Z", Metric: text, Value: "72",
			Unit: text, SourceRowID: text, DeviceID: text, MeasurementID: text, Timezone: text,
		}
		payload := csv.Payload(row, time.Time{})
		if !json.Valid(payload) {
			t.Errorf("payload for %q is not valid JSON: %s", text, payload)
			continue
		}
		// encoding/json is the reference: a valid string decodes to
		// itself, and each invalid UTF-8 byte becomes U+FFFD.
		reference, err := json.Marshal(text)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(reference, &want); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Errorf("payload for %q does not decode into strings: %v\n%s", text, err, payload)
			continue
		}
		for _, field := range []string{"patient_id", "device_id", "measurement_id", "metric", "unit", "timezone", "source_ref"} {
			if got[field] != want {
				t.Errorf("%s of %q decoded as %q, want %q", field, text, got[field], want)
			}
		}
	}
}

func TestPayloadZeroReceivedAtOmitted(t *testing.T) {
	row := csv.Row{PatientID: "p-1", Time: "2026-03-10T08:15:00Z", Metric: "heart_rate", Value: "72", Unit: "bpm"}
	payload := csv.Payload(row, time.Time{})
	if _, ok := decodeFields(t, payload)["received_at"]; ok {
		t.Errorf("payload has received_at for a zero receivedAt: %s", payload)
	}

	arrival := mustParseTime(t, "2026-03-10T08:15:30Z")
	reading, rejection := vytalwatch.DecodeReading(payload, arrival, vytalwatch.ValidationConfig{})
	if rejection != nil {
		t.Fatalf("DecodeReading rejected %s: %v", payload, rejection)
	}
	if !reading.ReceivedAt.Equal(arrival) {
		t.Errorf("ReceivedAt = %v, want the arrival time %v", reading.ReceivedAt, arrival)
	}
}

// TestPayloadMeasuredAtKeepsOffset checks that measured_at keeps the
// offset it was written with, which billing uses for the local date when
// a patient has no time zone.
func TestPayloadMeasuredAtKeepsOffset(t *testing.T) {
	row := csv.Row{PatientID: "p-1", Time: " 2026-03-10T08:15:00.000000001-05:00 ", Metric: "heart_rate", Value: "72"}
	got := string(decodeFields(t, csv.Payload(row, time.Time{}))["measured_at"])
	if want := `"2026-03-10T08:15:00.000000001-05:00"`; got != want {
		t.Errorf("measured_at = %s, want %s", got, want)
	}
}

func TestPayloadManualAndEstimated(t *testing.T) {
	row := csv.Row{PatientID: "p-1", Time: "2026-03-10T08:15:00Z", Metric: "weight_kg", Value: "80", Unit: "kg",
		ManualEntry: "TRUE", EstimatedTime: "1"}
	r, rej := vytalwatch.DecodeReading(csv.Payload(row, time.Time{}), mustParseTime(t, "2026-03-10T08:16:00Z"), vytalwatch.ValidationConfig{})
	if rej != nil {
		t.Fatal(rej)
	}
	if !r.ManualEntry {
		t.Error("manual_entry is not set")
	}
	if !r.EstimatedTime {
		t.Error("estimated_time is not set")
	}
}

func TestAppendPayloadMatchesPayload(t *testing.T) {
	rows := readRows(t, "testdata/reordered-columns.csv")
	receivedAt := mustParseTime(t, "2026-03-10T13:21:00Z")
	buffer := []byte("prefix")
	for _, row := range rows {
		buffer = csv.AppendPayload(buffer[:len("prefix")], row, receivedAt)
		if got, want := string(buffer[len("prefix"):]), string(csv.Payload(row, receivedAt)); got != want {
			t.Errorf("AppendPayload = %s, want %s", got, want)
		}
	}
}

// Every row of the MIMIC excerpt, rebased to the present, must reach the
// engine as a reading. The one rejection is a charted systolic of 0 mmHg,
// which the engine's plausibility bounds reject.
func TestPayloadMIMICExcerptDecodes(t *testing.T) {
	now := mustParseTime(t, "2026-03-10T12:00:00Z")
	rows := csv.Rebase(readRows(t, "testdata/mimic3-demo-first200.csv"), now)
	wantRejections := map[int]string{197: vytalwatch.ReasonOutOfRange}

	accepted := 0
	for _, row := range rows {
		payload := csv.Payload(row, now)
		reading, rejection := vytalwatch.DecodeReading(payload, time.Time{}, vytalwatch.ValidationConfig{})
		wantReason, wantRejected := wantRejections[row.Line]
		if rejection != nil {
			if !wantRejected || rejection.Reason != wantReason {
				t.Errorf("line %d: DecodeReading rejected %s: %v", row.Line, payload, rejection)
			}
			continue
		}
		if wantRejected {
			t.Errorf("line %d: DecodeReading accepted %s, want %s", row.Line, payload, wantReason)
		}
		accepted++
		if reading.SourceRef != row.SourceRowID {
			t.Errorf("line %d: SourceRef = %q, want %q", row.Line, reading.SourceRef, row.SourceRowID)
		}
	}
	if accepted != 199 {
		t.Errorf("DecodeReading accepted %d of 200 rows, want 199", accepted)
	}
}

func FuzzPayload(f *testing.F) {
	f.Add("p-1", "2026-03-10T08:15:00Z", "72", "bpm")
	f.Add(`pa"ti\ent`, "2026-03-10 08:15", "abc", "\x00")
	f.Add("\xff", "", "+.5e-3", "°C")
	f.Fuzz(func(t *testing.T, patientID, timeText, value, unit string) {
		row := csv.Row{PatientID: patientID, Time: timeText, Metric: "heart_rate", Value: value, Unit: unit}
		payload := csv.Payload(row, time.Unix(1773100000, 5))
		if !json.Valid(payload) {
			t.Fatalf("payload is not valid JSON: %q", payload)
		}
		reference, _ := json.Marshal(patientID)
		var want string
		if err := json.Unmarshal(reference, &want); err != nil {
			t.Fatal(err)
		}
		var fields struct {
			PatientID string `json:"patient_id"`
		}
		if err := json.Unmarshal(payload, &fields); err != nil {
			t.Fatalf("payload does not decode: %v\n%q", err, payload)
		}
		if fields.PatientID != want {
			t.Errorf("patient_id decoded as %q, want %q", fields.PatientID, want)
		}
	})
}
