package csv_test

import (
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

// rebase.csv interleaves four patients:
//   - a: newest time 2104-09-24T21:25:00Z on source row 3, with a
//     nanosecond time on row 5.
//   - b: newest time on row 2 in +02:00, and an unparseable time on row 4.
//     Row 6 is later as text but earlier as an instant.
//   - c: only an unparseable time.
//   - d: times in 1600, more than 292 years before now, which is beyond
//     the range of a time.Duration.
func TestRebaseShiftsEachPatient(t *testing.T) {
	rows := readRows(t, "testdata/rebase.csv")
	original := append([]csv.Row(nil), rows...)
	now := mustParseTime(t, "2026-03-10T12:00:00.75Z")

	rebased := csv.Rebase(rows, now)

	wantTimes := []string{
		"2026-03-10T10:00:00.75Z",        // a, 2 h before a's newest
		"2026-03-10T14:00:00.75+02:00",   // b's newest
		"2026-03-10T12:00:00.75Z",        // a's newest
		"not a time",                     // b, unchanged
		"2026-03-10T10:35:00.873456789Z", // a, 1 h 25 min minus 0.123456789 s before a's newest
		"2026-03-10T13:00:00.25+02:00",   // b, 1 h 0.5 s before b's newest
		"yesterday",                      // c, unchanged
		"2026-03-10T06:00:00.75Z",        // d, 6 h before d's newest
		"2026-03-10T12:00:00.75Z",        // d's newest
	}
	if len(rebased) != len(wantTimes) {
		t.Fatalf("Rebase returned %d rows, want %d", len(rebased), len(wantTimes))
	}
	for i, want := range wantTimes {
		if rebased[i].Time != want {
			t.Errorf("row %d (source row %s): Time = %q, want %q", i, rows[i].SourceRowID, rebased[i].Time, want)
		}
	}

	for i := range rows {
		if rows[i] != original[i] {
			t.Errorf("Rebase changed its input row %d: %+v, was %+v", i, rows[i], original[i])
		}
		withOriginalTime := rebased[i]
		withOriginalTime.Time = rows[i].Time
		if withOriginalTime != rows[i] {
			t.Errorf("row %d: Rebase changed more than the time or moved the row: %+v, want %+v", i, rebased[i], rows[i])
		}
	}
}

func TestRebaseKeepsIntervals(t *testing.T) {
	rows := readRows(t, "testdata/rebase.csv")
	now := mustParseTime(t, "2026-03-10T12:00:00.75Z")
	rebased := csv.Rebase(rows, now)

	for i := range rows {
		for j := range rows {
			if i == j || rows[i].PatientID != rows[j].PatientID {
				continue
			}
			before, errI := time.Parse(time.RFC3339Nano, rows[i].Time)
			beforeOther, errJ := time.Parse(time.RFC3339Nano, rows[j].Time)
			if errI != nil || errJ != nil {
				continue
			}
			after := mustParseTime(t, rebased[i].Time)
			afterOther := mustParseTime(t, rebased[j].Time)
			if got, want := after.Sub(afterOther), before.Sub(beforeOther); got != want {
				t.Errorf("patient %s rows %d and %d: interval %v after Rebase, %v before", rows[i].PatientID, i, j, got, want)
			}
		}
	}
}

func TestRebaseEmpty(t *testing.T) {
	rebased := csv.Rebase(nil, time.Now())
	if len(rebased) != 0 {
		t.Errorf("Rebase(nil) returned %d rows", len(rebased))
	}
}

// A mistyped year far ahead of a patient's other times must not become the
// anchor: the three real rows land at now, and the 2096 row lands seventy
// years ahead, where the engine rejects it by its own time.
func TestRebaseIgnoresMistypedYear(t *testing.T) {
	rows := []csv.Row{
		{PatientID: "p1", Time: "2026-03-01T10:00:00Z"},
		{PatientID: "p1", Time: "2026-03-01T10:05:00Z"},
		{PatientID: "p1", Time: "2026-03-01T10:06:00Z"},
		{PatientID: "p1", Time: "2096-03-01T10:07:00Z"},
		// p2's readings are eleven years apart, one each: the newest
		// anchors, as for any patient without outliers.
		{PatientID: "p2", Time: "2010-01-01T00:00:00Z"},
		{PatientID: "p2", Time: "2021-01-01T00:00:00Z"},
	}
	now := mustParseTime(t, "2026-03-10T12:00:00Z")

	rebased := csv.Rebase(rows, now)

	want := []string{
		"2026-03-10T11:54:00Z",
		"2026-03-10T11:59:00Z",
		"2026-03-10T12:00:00Z",
		"2096-03-10T12:01:00Z",
		"2015-03-10T12:00:00Z",
		"2026-03-10T12:00:00Z",
	}
	for i, w := range want {
		if rebased[i].Time != w {
			t.Errorf("row %d: Time = %q, want %q", i, rebased[i].Time, w)
		}
	}
}
