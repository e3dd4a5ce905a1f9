package engine_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

func billingReading(t *testing.T, patient string, measured, received time.Time) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"patient_id": patient, "metric": "systolic_bp", "value": 120, "unit": "mmHg",
		"measured_at": measured.Format(time.RFC3339), "received_at": received.Format(time.RFC3339),
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLateReadingFlagsClosedPeriod sends a reading that the cuff stored on
// March 29 and uploaded on April 2, after the March 1 to 30 period closed.
// The day counts for March and the period is flagged, so billing staff see
// a correction instead of a silent change.
func TestLateReadingFlagsClosedPeriod(t *testing.T) {
	off, err := engine.NewOffline(engine.Config{}, rules.MustSet(nil), engine.OfflineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if err := off.Profile(vytalwatch.PatientProfile{PatientID: "p1", Timezone: "America/New_York", EnrollmentDate: "2026-03-01"}); err != nil {
		t.Fatal(err)
	}
	onTime := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	if err := off.Reading("p1", billingReading(t, "p1", onTime, onTime), onTime); err != nil {
		t.Fatal(err)
	}
	if err := off.Flush(); err != nil {
		t.Fatal(err)
	}
	march, _ := billing.ParseMonth("2026-03")
	snap, ok := off.Snapshot("p1", march)
	if !ok {
		t.Fatal("no March snapshot")
	}
	if flags := snap.Report.Periods[0].Flags; len(flags) != 0 {
		t.Errorf("flags %v before the late reading, want none", flags)
	}

	measured := time.Date(2026, 3, 29, 14, 0, 0, 0, time.UTC)
	uploaded := time.Date(2026, 4, 2, 14, 0, 0, 0, time.UTC)
	if err := off.Reading("p1", billingReading(t, "p1", measured, uploaded), uploaded); err != nil {
		t.Fatal(err)
	}
	if err := off.Flush(); err != nil {
		t.Fatal(err)
	}
	snap, _ = off.Snapshot("p1", march)
	p := snap.Report.Periods[0]
	if p.DaysWithReadings != 2 {
		t.Errorf("%d days, want 2: the late day counts for March", p.DaysWithReadings)
	}
	if p.Code != billing.Code99445 {
		t.Errorf("code %q, want 99445", p.Code)
	}
	if !slices.Equal(p.Flags, []string{billing.FlagLateReading}) {
		t.Errorf("flags %v, want [%s]", p.Flags, billing.FlagLateReading)
	}
}

// TestSnapshotsOnlyOnChange checks that applying the same input again
// sends no new snapshot, and a duplicate reading none either.
func TestSnapshotsOnlyOnChange(t *testing.T) {
	off, err := engine.NewOffline(engine.Config{}, rules.MustSet(nil), engine.OfflineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if err := off.Reading("p1", billingReading(t, "p1", at, at), at); err != nil {
			t.Fatal(err)
		}
		if err := off.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if n := off.SnapshotsSent(); n != 1 {
		t.Errorf("%d snapshots sent, want 1: the repeats change nothing", n)
	}
	march, _ := billing.ParseMonth("2026-03")
	snap, ok := off.Snapshot("p1", march)
	if !ok {
		t.Fatal("no March snapshot")
	}
	if p := snap.Report.Periods[0]; p.Start.String() != "2026-03-02" || p.End.String() != "2026-03-31" {
		t.Errorf("period %s..%s, want 2026-03-02..2026-03-31 (anchored at the first day)", p.Start, p.End)
	}
}
