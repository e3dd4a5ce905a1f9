package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// A mistyped year in one patient's history is rejected as in the future,
// and the rows after it, of that patient and of another, are read at the
// history's own clock instead of seventy years later.
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
		row("p1", "2026-03-01T10:00:00Z", 80),
		row("p1", "2096-03-01T10:01:00Z", 81),
		row("p1", "2026-03-01T10:02:00Z", 82),
		row("p2", "2026-03-01T10:03:00Z", 83),
	}
	rep, err := engine.Backtest(set, history, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 3 || rep.Rejected != 1 || rep.Rejections["timestamp_in_future"] != 1 {
		t.Errorf("accepted %d, rejected %d %v; want 3 accepted and 1 timestamp_in_future", rep.Accepted, rep.Rejected, rep.Rejections)
	}
}
