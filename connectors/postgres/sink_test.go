package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

var t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func alertRecord(t *testing.T, ev vytalwatch.AlertEvent) engine.Record {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Record{Topic: engine.DefaultTopics().Alerts, Key: []byte(ev.PatientID), Value: data}
}

func firedEvent(id, patient string, at time.Time) vytalwatch.AlertEvent {
	return vytalwatch.AlertEvent{
		EventID: id, Kind: vytalwatch.AlertFired, RuleID: "spo2-low", RuleVersion: 2, RuleName: "SpO2 low",
		Severity: "high", PatientID: patient, At: at, EmittedAt: at, Trigger: vytalwatch.TriggerReading,
		Message: "SpO2 87 %",
	}
}

func TestAlertSinkStoresReplayedEventOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	b := startBroker(t)
	ctx := context.Background()
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()

	fired := firedEvent("f1", "p1", t0)
	renotified := fired
	renotified.EventID, renotified.Kind, renotified.FiredEventID, renotified.Sequence = "r1", vytalwatch.AlertRenotified, "f1", 1
	renotified.At = t0.Add(4 * time.Hour)
	resolved := fired
	resolved.EventID, resolved.Kind, resolved.FiredEventID = "s1", vytalwatch.AlertResolved, "f1"
	resolved.At = t0.Add(5 * time.Hour)
	// The fired event twice (a replay after a crash), then the rest, with
	// the renotification replayed too and a message that is no event.
	records := []engine.Record{
		alertRecord(t, fired), alertRecord(t, fired), alertRecord(t, renotified), alertRecord(t, renotified),
		{Topic: engine.DefaultTopics().Alerts, Key: []byte("p1"), Value: []byte("not json")},
		alertRecord(t, resolved),
	}
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	runSink(t, db, b, db.AlertSink(engine.DefaultTopics().Alerts))

	waitFor(t, "resolved alert", func() bool {
		a, err := db.GetAlert(ctx, "f1")
		return err == nil && a.Status == store.StatusResolved
	})
	a, err := db.GetAlert(ctx, "f1")
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.AlertEventCount(ctx, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("stored %d events of alert f1, want 3 (fired, renotified, resolved once each)", n)
	}
	if a.Renotified != 1 {
		t.Errorf("renotified = %d, want 1", a.Renotified)
	}
	if a.ResolvedAt == nil || !a.ResolvedAt.Equal(t0.Add(5*time.Hour)) {
		t.Errorf("resolved_at = %v, want %v", a.ResolvedAt, t0.Add(5*time.Hour))
	}
	if a.ResolvedBy == nil || *a.ResolvedBy != postgres.ResolvedByEngine {
		t.Errorf("resolved_by = %v, want engine", a.ResolvedBy)
	}
	if !a.FiredAt.Equal(t0) || a.RuleID != "spo2-low" || a.RuleVersion != 2 || a.Severity != "high" || a.PatientID != "p1" {
		t.Errorf("alert row = %+v, want the fired event's rule, severity, patient and time", a)
	}
	if a.Message != "SpO2 87 %" {
		t.Errorf("message = %q, want %q", a.Message, "SpO2 87 %")
	}

	// Replaying the whole topic again changes nothing.
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	var stored int
	waitFor(t, "sink to pass the replay", func() bool {
		err := db.Pool().QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE sink = 'alerts'`).Scan(&stored)
		return err == nil && stored == 2*len(records)
	})
	if n, _ := db.AlertEventCount(ctx, "f1"); n != 3 {
		t.Errorf("after a full replay, stored %d events of alert f1, want 3", n)
	}
	var alerts int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM alerts`).Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 1 {
		t.Errorf("alerts rows = %d, want 1", alerts)
	}
}

func readingRecord(t *testing.T, m map[string]any) engine.Record {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Record{Topic: engine.DefaultTopics().Readings, Key: []byte(m["patient_id"].(string)), Value: data}
}

func TestReadingSinkKeepsNewestPerMetric(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	b := startBroker(t)
	ctx := context.Background()
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()

	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	records := []engine.Record{
		readingRecord(t, map[string]any{"patient_id": "p1", "device_id": "cuff", "measurement_id": "m2", "metric": "blood_pressure",
			"components":  []map[string]any{{"metric": "systolic_bp", "value": 150, "unit": "mmHg"}, {"metric": "diastolic_bp", "value": 95, "unit": "mmHg"}},
			"measured_at": at(10)}),
		// Older, arriving later: it must not replace the newer values.
		readingRecord(t, map[string]any{"patient_id": "p1", "device_id": "cuff", "measurement_id": "m1", "metric": "blood_pressure",
			"components":  []map[string]any{{"metric": "systolic_bp", "value": 120, "unit": "mmHg"}, {"metric": "diastolic_bp", "value": 80, "unit": "mmHg"}},
			"measured_at": at(5)}),
		// Converted to kg on arrival.
		readingRecord(t, map[string]any{"patient_id": "p1", "metric": "weight_kg", "value": 200, "unit": "[lb_av]", "measured_at": at(1)}),
		// Rejected: out of range.
		readingRecord(t, map[string]any{"patient_id": "p1", "metric": "heart_rate", "value": 900, "unit": "bpm", "measured_at": at(20)}),
		readingRecord(t, map[string]any{"patient_id": "p2", "metric": "spo2", "value": 91, "unit": "%", "measured_at": at(2)}),
	}
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	runSink(t, db, b, db.ReadingSink(engine.DefaultTopics().Readings, vytalwatch.ValidationConfig{MaxFutureSkew: 100 * 365 * 24 * time.Hour}))

	var got []store.LatestReading
	waitFor(t, "latest readings of p1", func() bool {
		var err error
		got, err = db.LatestReadings(ctx, "p1")
		return err == nil && len(got) == 3
	})
	want := []struct {
		metric string
		value  float64
		unit   string
		at     time.Time
	}{
		{"diastolic_bp", 95, "mmHg", t0.Add(10 * time.Minute)},
		{"systolic_bp", 150, "mmHg", t0.Add(10 * time.Minute)},
		{"weight_kg", 90.718474, "kg", t0.Add(time.Minute)},
	}
	for i, w := range want {
		g := got[i]
		if g.Metric != w.metric || g.Unit != w.unit || !g.MeasuredAt.Equal(w.at) {
			t.Errorf("reading %d = %s %s at %v, want %s %s at %v", i, g.Metric, g.Unit, g.MeasuredAt, w.metric, w.unit, w.at)
		}
		if diff := g.Value - w.value; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%s = %v, want %v", w.metric, g.Value, w.value)
		}
	}
	if got[0].ReadingID != got[1].ReadingID || len(got[0].ReadingID) != 32 {
		t.Errorf("blood-pressure components have reading ids %q and %q, want the same 32-digit id", got[0].ReadingID, got[1].ReadingID)
	}
	p2, err := db.LatestReadings(ctx, "p2")
	if err != nil {
		t.Fatal(err)
	}
	if len(p2) != 1 || p2[0].Metric != "spo2" || p2[0].Value != 91 {
		t.Errorf("p2 latest = %+v, want spo2 91", p2)
	}
}

// syncBuffer is a bytes.Buffer that sink goroutines can log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// counterValue returns the value of the counter name with labels in reg,
// or 0 when it has not been counted.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestSinkSkipsMessagePostgresCannotStore(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	db, err := postgres.Open(context.Background(), pgtest.URL(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b := startBroker(t)
	ctx := context.Background()
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()

	// The middle event has a NUL in its message, which a jsonb column
	// rejects with SQLSTATE 22P05. All three share a key, so they go to
	// one partition in this order.
	poisoned := firedEvent("f2", "patient-77", t0.Add(time.Minute))
	poisoned.Message = "SpO2 \x00 87 %"
	records := []engine.Record{
		alertRecord(t, firedEvent("f1", "patient-77", t0)),
		alertRecord(t, poisoned),
		alertRecord(t, firedEvent("f3", "patient-77", t0.Add(2*time.Minute))),
	}
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	runSinkWithMetrics(t, db, b, db.AlertSink(engine.DefaultTopics().Alerts), postgres.NewSinkMetrics(reg))

	var partition int
	waitFor(t, "the sink to pass the poisoned message", func() bool {
		err := db.Pool().QueryRow(ctx, `SELECT partition FROM sink_offsets WHERE sink = 'alerts' AND next_offset = 3`).Scan(&partition)
		return err == nil
	})
	for _, id := range []string{"f1", "f3"} {
		if _, err := db.GetAlert(ctx, id); err != nil {
			t.Errorf("alert %s next to the poisoned message: %v, want it stored", id, err)
		}
	}
	if _, err := db.GetAlert(ctx, "f2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("poisoned alert f2: error %v, want ErrNotFound", err)
	}
	skipped := counterValue(t, reg, "vytalwatch_sink_skipped_messages_total", map[string]string{"sink": "alerts", "sqlstate": "22P05"})
	if skipped != 1 {
		t.Errorf("vytalwatch_sink_skipped_messages_total{sink=alerts,sqlstate=22P05} = %v, want 1", skipped)
	}

	var skipLines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if n := strings.Count(line, `"component":`); n > 1 {
			t.Errorf("log line has the component key %d times: %s", n, line)
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if entry["msg"] == "skipping message that Postgres cannot store" {
			skipLines = append(skipLines, entry)
			if strings.Contains(line, "patient-77") {
				t.Errorf("skip log line names the patient: %s", line)
			}
		}
	}
	if len(skipLines) != 1 {
		t.Fatalf("logged %d skip lines, want 1: %s", len(skipLines), logs.String())
	}
	want := map[string]any{"level": "ERROR", "component": "sink", "sink": "alerts", "topic": engine.DefaultTopics().Alerts,
		"partition": float64(partition), "offset": float64(1), "sqlstate": "22P05"}
	for key, value := range want {
		if skipLines[0][key] != value {
			t.Errorf("skip log %s = %v, want %v", key, skipLines[0][key], value)
		}
	}
	if reason, _ := skipLines[0]["reason"].(string); !strings.Contains(reason, "Unicode escape") {
		t.Errorf("skip log reason = %q, want Postgres's message about the Unicode escape", reason)
	}
}
