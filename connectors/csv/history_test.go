package csv_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

func TestReadHistoryRows(t *testing.T) {
	text := "patient_id,time,metric,value,unit,source_row_id\n" +
		"p-1,2026-03-10T08:15:00Z,spo2,97,%,r-1\n" +
		"p-2,not a time,heart_rate,72,bpm,r-2\n"
	history, err := csv.ReadHistory(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ReadHistory: %v", err)
	}
	if len(history) != 2 {
		t.Fatalf("ReadHistory returned %d readings, want 2", len(history))
	}
	if history[0].PatientID != "p-1" {
		t.Errorf("reading 0 patient %q, want p-1", history[0].PatientID)
	}
	if want := time.Date(2026, 3, 10, 8, 15, 0, 0, time.UTC); !history[0].MeasuredAt.Equal(want) {
		t.Errorf("reading 0 measured at %s, want %s", history[0].MeasuredAt, want)
	}
	if strings.Contains(string(history[0].Payload), "received_at") {
		t.Errorf("reading 0 payload %s has received_at, want none so the backtest clock is the arrival", history[0].Payload)
	}
	if !history[1].MeasuredAt.IsZero() {
		t.Errorf("reading 1 measured at %s, want zero for an unparsable time", history[1].MeasuredAt)
	}
}

func TestReadHistoryStopsAtBadRow(t *testing.T) {
	text := "patient_id,time,metric,value,unit,source_row_id\n" +
		"p-1,2026-03-10T08:15:00Z,spo2,97,%,r-1\n" +
		"p-1,2026-03-10T08:16:00Z,spo2\n" +
		"p-1,2026-03-10T08:17:00Z,spo2,96,%,r-3\n"
	history, err := csv.ReadHistory(strings.NewReader(text))
	if err == nil {
		t.Fatalf("ReadHistory returned %d readings and no error, want the error of line 3", len(history))
	}
	var rowErr *csv.RowError
	if !errors.As(err, &rowErr) {
		t.Fatalf("error %v is not a *csv.RowError", err)
	}
	if rowErr.Line != 3 {
		t.Errorf("row error on line %d, want 3", rowErr.Line)
	}
}

func TestReadHistoryMissingColumn(t *testing.T) {
	_, err := csv.ReadHistory(strings.NewReader("patient_id,metric\nx,y\n"))
	if err == nil {
		t.Fatal("ReadHistory accepted a header without time, value, unit and source_row_id")
	}
}
