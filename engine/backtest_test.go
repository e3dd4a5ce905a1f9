package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// A mistyped year in a patient's history, first row or not, is rejected as
// in the future, and the rows after it, of that patient and of others, are
// read at the history's own clock instead of seventy years later. A real
// gap of 400 days between two stays is not taken for a mistyped year.
func TestBacktestMistypedYearCostsOnlyItsRow(t *testing.T) {
	set, err := rules.NewSet(mustPack(t, "standard"))
	if err != nil {
		t.Fatal(err)
	}
	row := func(patient, at string, bpm int) engine.BacktestReading {
		measured, err := time.Parse(time.RFC3339, at)
		if err != nil {
			t.Fatal(err)
		}
		payload := fmt.Sprintf(`{"patient_id":%q,"metric":"heart_rate","value":%d,"unit":"bpm","measured_at":%q,"source":"csv","source_ref":%q}`,
			patient, bpm, at, patient+at)
		return engine.BacktestReading{PatientID: patient, Payload: []byte(payload), MeasuredAt: measured}
	}
	history := []engine.BacktestReading{
		// p0's first row is the mistyped one.
		row("p0", "2096-02-28T09:00:00Z", 79),
		row("p0", "2026-02-28T09:01:00Z", 79),
		row("p0", "2026-02-28T09:02:00Z", 78),
		row("p1", "2026-03-01T10:00:00Z", 80),
		row("p1", "2096-03-01T10:01:00Z", 81),
		row("p1", "2026-03-01T10:02:00Z", 82),
		row("p2", "2026-03-01T10:03:00Z", 83),
		// p3 comes back after 400 days, a real gap between two stays.
		row("p3", "2025-01-20T10:00:00Z", 84),
		row("p3", "2026-02-24T10:00:00Z", 85),
	}
	rep, err := engine.Backtest(set, history, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 7 || rep.Rejected != 2 || rep.Rejections["timestamp_in_future"] != 2 {
		t.Errorf("accepted %d, rejected %d %v; want 7 accepted and 2 timestamp_in_future", rep.Accepted, rep.Rejected, rep.Rejections)
	}
}
