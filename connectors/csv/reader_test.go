package csv_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

func TestReadFileReorderedColumns(t *testing.T) {
	rows, _, err := csv.ReadFile("testdata/reordered-columns.csv")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	want := []csv.Row{
		{
			Line: 2, PatientID: "p-1", Time: "2026-03-10T08:15:00-05:00", Metric: "heart_rate",
			Value: "72", Unit: "bpm", SourceRowID: "r-1", DeviceID: "omron-7",
			MeasurementID: "m-100", Timezone: "America/New_York",
		},
		{
			Line: 3, PatientID: "p-2", Time: "2026-03-10T13:20:30.25Z", Metric: "spo2",
			Value: "97", Unit: "%", SourceRowID: "r-2",
		},
	}
	if len(rows) != len(want) {
		t.Fatalf("ReadFile returned %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
}

func TestNewReaderMissingColumns(t *testing.T) {
	_, _, err := csv.ReadFile("testdata/missing-columns.csv")
	if err == nil {
		t.Fatal("ReadFile returned no error for a header without time and unit")
	}
	for _, part := range []string{
		"testdata/missing-columns.csv",
		"missing columns time, unit",
		"patient_id,time,metric,value,unit,source_row_id",
		"device_id, measurement_id, timezone",
	} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

func TestNewReaderDuplicateColumn(t *testing.T) {
	_, _, err := csv.ReadFile("testdata/duplicate-column.csv")
	if err == nil {
		t.Fatal("ReadFile returned no error for a header naming device_id twice")
	}
	if !strings.Contains(err.Error(), `column "device_id" appears twice (fields 7 and 8)`) {
		t.Errorf("error %q does not name the duplicate column and its fields", err)
	}
}

func TestNewReaderEmptyInput(t *testing.T) {
	_, err := csv.NewReader(strings.NewReader(""))
	if err == nil {
		t.Fatal("NewReader returned no error for empty input")
	}
	if !strings.Contains(err.Error(), "empty") {
		t.Errorf("error %q does not say the input is empty", err)
	}
}

func TestNewReaderByteOrderMark(t *testing.T) {
	input := "\uFEFFpatient_id,time,metric,value,unit,source_row_id\np-1,2026-03-10T08:15:00Z,heart_rate,72,bpm,r-1\n"
	reader, err := csv.NewReader(strings.NewReader(input))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	row, err := reader.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if row.PatientID != "p-1" {
		t.Errorf("PatientID = %q, want p-1", row.PatientID)
	}
}

func TestNextWrongFieldCount(t *testing.T) {
	f, err := os.Open("testdata/wrong-field-count.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reader, err := csv.NewReader(f)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}

	for _, wantLine := range []int{2, 3} {
		row, err := reader.Next()
		if err != nil {
			t.Fatalf("Next before the bad row: %v", err)
		}
		if row.Line != wantLine {
			t.Errorf("Line = %d, want %d", row.Line, wantLine)
		}
	}

	_, err = reader.Next()
	var rowErr *csv.RowError
	if !errors.As(err, &rowErr) || rowErr.Line != 4 {
		t.Fatalf("Next returned %v for a row with 5 fields, want a *RowError on line 4", err)
	}
	if !strings.Contains(err.Error(), "line 4") {
		t.Errorf("error %q does not name line 4", err)
	}
	if !strings.Contains(err.Error(), "5 fields, but the header has 6") {
		t.Errorf("error %q does not give both field counts", err)
	}

	row, err := reader.Next()
	if err != nil {
		t.Fatalf("Next after the bad row: %v", err)
	}
	if row.Line != 5 {
		t.Errorf("row after the bad row starts on line %d, want 5", row.Line)
	}
	if row.SourceRowID != "r-4" {
		t.Errorf("row after the bad row has source_row_id %q, want r-4", row.SourceRowID)
	}
	if _, err := reader.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next at the end returned %v, want io.EOF", err)
	}
}

func TestReadFileSkipsWrongFieldCount(t *testing.T) {
	rows, bad, err := csv.ReadFile("testdata/wrong-field-count.csv")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	var ids []string
	for _, row := range rows {
		ids = append(ids, row.SourceRowID)
	}
	if got := strings.Join(ids, ","); got != "r-1,r-2,r-4" {
		t.Errorf("rows read = %s, want r-1,r-2,r-4", got)
	}
	if len(bad) != 1 {
		t.Fatalf("bad rows = %v, want one", bad)
	}
	want := "invalid CSV row on line 4: it has 5 fields, but the header has 6; " +
		"give the row one field per header column, empty where there is no value"
	if bad[0].Line != 4 || bad[0].Error() != want {
		t.Errorf("bad row = line %d %q, want line 4 %q", bad[0].Line, bad[0].Error(), want)
	}
}

// A bare quote costs only its own row: the rows around it are read.
func TestReadAllSkipsBadQuoting(t *testing.T) {
	input := "patient_id,time,metric,value,unit,source_row_id\n" +
		"p-1,2026-03-10T08:15:00Z,heart_rate,72,bpm,r-1\n" +
		"p-1,2026-03-10T08:16:00Z,heart_rate,7\"4,bpm,r-2\n" +
		"p-1,2026-03-10T08:17:00Z,heart_rate,75,bpm,r-3\n"
	rows, bad, err := csv.ReadAll(strings.NewReader(input))
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(rows) != 2 || rows[0].SourceRowID != "r-1" || rows[1].SourceRowID != "r-3" || rows[1].Line != 4 {
		t.Errorf("rows = %+v, want r-1 and r-3 on line 4", rows)
	}
	want := "invalid CSV row on line 3: bare \" in non-quoted-field at line 3, column 38; " +
		"put a field that contains quotes or commas in double quotes, and double each quote inside it"
	if len(bad) != 1 || bad[0].Error() != want {
		t.Errorf("bad rows = %v, want one: %s", bad, want)
	}
}

func TestReadFileBlankTrailingLines(t *testing.T) {
	rows, _, err := csv.ReadFile("testdata/blank-trailing-lines.csv")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("ReadFile returned %d rows, want 2: %+v", len(rows), rows)
	}
	if rows[1].Line != 3 {
		t.Errorf("last row starts on line %d, want 3", rows[1].Line)
	}
	if rows[1].SourceRowID != "r-2" {
		t.Errorf("last row has source_row_id %q, want r-2", rows[1].SourceRowID)
	}
}

func TestNextQuotedNewlineKeepsLines(t *testing.T) {
	input := "patient_id,time,metric,value,unit,source_row_id\n" +
		"\"p\n1\",2026-03-10T08:15:00Z,heart_rate,72,bpm,r-1\n" +
		"p-2,2026-03-10T08:16:00Z,heart_rate,74,bpm,r-2\n"
	reader, err := csv.NewReader(strings.NewReader(input))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	first, err := reader.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if first.PatientID != "p\n1" {
		t.Errorf("first row has PatientID %q, want \"p\\n1\"", first.PatientID)
	}
	if first.Line != 2 {
		t.Errorf("first row starts on line %d, want 2", first.Line)
	}
	second, err := reader.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if second.Line != 4 {
		t.Errorf("second row starts on line %d, want 4", second.Line)
	}
}

func TestNextBareQuoteNamesLine(t *testing.T) {
	input := "patient_id,time,metric,value,unit,source_row_id\n" +
		"p-1,2026-03-10T08:15:00Z,heart_rate,72,bpm,r-1\n" +
		"p-2,2026-03-10T08:16:00Z,heart_rate,7\"4,bpm,r-2\n"
	reader, err := csv.NewReader(strings.NewReader(input))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	if _, err := reader.Next(); err != nil {
		t.Fatalf("Next: %v", err)
	}
	_, err = reader.Next()
	if err == nil {
		t.Fatal("Next returned no error for a bare quote")
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %q does not name line 3", err)
	}
}

// The excerpt is the first 200 data rows of the MIMIC-III demo vitals feed,
// described in testdata/README.md.
func TestReadFileMIMICExcerpt(t *testing.T) {
	rows, _, err := csv.ReadFile("testdata/mimic3-demo-first200.csv")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if len(rows) != 200 {
		t.Fatalf("ReadFile returned %d rows, want 200", len(rows))
	}
	wantFirst := csv.Row{
		Line: 2, PatientID: "43881", Time: "2104-09-24T19:25:00Z", Metric: "heart_rate",
		Value: "112", Unit: "bpm", SourceRowID: "7346382",
	}
	wantLast := csv.Row{
		Line: 201, PatientID: "43881", Time: "2104-09-26T07:00:00Z", Metric: "heart_rate",
		Value: "99", Unit: "bpm", SourceRowID: "7346722",
	}
	if rows[0] != wantFirst {
		t.Errorf("first row:\n got %+v\nwant %+v", rows[0], wantFirst)
	}
	if rows[199] != wantLast {
		t.Errorf("last row:\n got %+v\nwant %+v", rows[199], wantLast)
	}
}

// A quote that is never closed takes the lines after it into one field;
// the error names all of them, and how many there are.
func TestReadAllNamesLinesOfAnUnclosedQuote(t *testing.T) {
	input := "patient_id,time,metric,value,unit,source_row_id\n" +
		"p-1,2026-03-10T08:15:00Z,heart_rate,72,bpm,r-1\n" +
		"p-1,2026-03-10T08:16:00Z,\"heart_rate,74,bpm,r-2\n" +
		"p-1,2026-03-10T08:17:00Z,heart_rate,75,bpm,r-3\n"
	rows, bad, err := csv.ReadAll(strings.NewReader(input))
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(rows) != 1 || rows[0].SourceRowID != "r-1" {
		t.Errorf("rows = %+v, want r-1 only", rows)
	}
	want := "invalid CSV row on line 3: a quote opened on line 3 is not closed where it should be, so lines 3 to 4 were read as one row and are lost; " +
		"put a field that contains quotes or commas in double quotes, and double each quote inside it"
	if len(bad) != 1 || bad[0].Error() != want || bad[0].Lines != 2 {
		t.Errorf("bad rows = %+v, want one of 2 lines: %s", bad, want)
	}
}
