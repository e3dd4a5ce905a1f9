// Package csv reads vitals CSV files and renders their rows as canonical
// vytalwatch.Reading JSON payloads, for replay into Kafka, backtests and
// tests.
//
// A file starts with a header row that names at least the columns
// patient_id, time, metric, value, unit and source_row_id. The optional
// columns device_id, measurement_id and timezone are read when present, and
// other columns are ignored. Columns may come in any order. Rows keep the
// file's order, which is their arrival order.
//
// The reader reports only structural problems: a missing column, a row with
// the wrong number of fields, or invalid CSV quoting; a bad row costs only
// itself. It does not check values or times. Payload passes them to the engine, which validates them
// and dead-letters bad readings with a reason.
package csv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Column names of the header row.
const (
	ColumnPatientID     = "patient_id"
	ColumnTime          = "time"
	ColumnMetric        = "metric"
	ColumnValue         = "value"
	ColumnUnit          = "unit"
	ColumnSourceRowID   = "source_row_id"
	ColumnDeviceID      = "device_id"
	ColumnMeasurementID = "measurement_id"
	ColumnTimezone      = "timezone"
	ColumnManualEntry   = "manual_entry"
	ColumnEstimatedTime = "estimated_time"
)

// requiredColumns lists the columns every file must have, in the order of
// the canonical header.
var requiredColumns = []string{ColumnPatientID, ColumnTime, ColumnMetric, ColumnValue, ColumnUnit, ColumnSourceRowID}

var optionalColumns = []string{ColumnDeviceID, ColumnMeasurementID, ColumnTimezone, ColumnManualEntry, ColumnEstimatedTime}

// expectedHeader is the canonical header, quoted in header errors.
var expectedHeader = strings.Join(requiredColumns, ",") + " (optional: " + strings.Join(optionalColumns, ", ") + ")"

// Row is one CSV row with its fields as text. A field whose column is
// absent from the file is empty.
type Row struct {
	// Line is the 1-based line number where the row starts. The header is
	// line 1.
	Line          int
	PatientID     string
	Time          string
	Metric        string
	Value         string
	Unit          string
	SourceRowID   string
	DeviceID      string
	MeasurementID string
	Timezone      string
	// ManualEntry and EstimatedTime are "true" for a value typed in by hand
	// and for a time the device estimated.
	ManualEntry   string
	EstimatedTime string
}

// columnIndex maps each known column to its field index in a record, or -1
// when the file has no such column.
type columnIndex struct {
	patientID, time, metric, value, unit, sourceRowID int
	deviceID, measurementID, timezone                 int
	manualEntry, estimatedTime                        int
}

// Reader streams rows from a vitals CSV.
type Reader struct {
	csv     *csv.Reader
	columns columnIndex
	width   int // number of fields in the header, which every row must match
}

// NewReader reads and checks the header row of r. It returns an error when
// the input is empty, is not valid CSV, lacks a required column or names a
// known column twice. Header names are matched case-insensitively after
// trimming spaces and a leading UTF-8 byte order mark.
func NewReader(r io.Reader) (*Reader, error) {
	cr := csv.NewReader(r)
	// The reader checks field counts itself, so that the error names the
	// line and both counts, and so that Next can continue after a bad row.
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("CSV input is empty; expected the header %s", expectedHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read CSV header: %w", err)
	}
	columns, err := indexHeader(header)
	if err != nil {
		return nil, err
	}
	return &Reader{csv: cr, columns: columns, width: len(header)}, nil
}

func indexHeader(header []string) (columnIndex, error) {
	positions := make(map[string]int, len(header))
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !isKnownColumn(name) {
			continue
		}
		if first, ok := positions[name]; ok {
			return columnIndex{}, fmt.Errorf("invalid CSV header: column %q appears twice (fields %d and %d); keep one", name, first+1, i+1)
		}
		positions[name] = i
	}

	var missing []string
	for _, name := range requiredColumns {
		if _, ok := positions[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return columnIndex{}, fmt.Errorf("invalid CSV header: missing columns %s; expected the header %s", strings.Join(missing, ", "), expectedHeader)
	}

	position := func(name string) int {
		if i, ok := positions[name]; ok {
			return i
		}
		return -1
	}
	return columnIndex{
		patientID:     position(ColumnPatientID),
		time:          position(ColumnTime),
		metric:        position(ColumnMetric),
		value:         position(ColumnValue),
		unit:          position(ColumnUnit),
		sourceRowID:   position(ColumnSourceRowID),
		deviceID:      position(ColumnDeviceID),
		measurementID: position(ColumnMeasurementID),
		timezone:      position(ColumnTimezone),
		manualEntry:   position(ColumnManualEntry),
		estimatedTime: position(ColumnEstimatedTime),
	}, nil
}

func isKnownColumn(name string) bool {
	for _, known := range requiredColumns {
		if name == known {
			return true
		}
	}
	for _, known := range optionalColumns {
		if name == known {
			return true
		}
	}
	return false
}

// RowError is a row that could not be read: its field count differs from
// the header's, or its quoting is invalid. Reading continues with the next
// row.
type RowError struct {
	// Line is the 1-based line where the row starts.
	Line int
	// Lines is how many lines the bad row took: more than one when a
	// quote left open ran on over the lines after it.
	Lines int
	// Problem is what is wrong and how to fix it.
	Problem string
}

// quoteError describes a quoting error of encoding/csv. A quote that is
// never closed takes the lines after it into one field, up to the next
// quote or the end of the input, so those lines are named too.
func quoteError(e *csv.ParseError) *RowError {
	const fix = "put a field that contains quotes or commas in double quotes, and double each quote inside it"
	if e.Line > e.StartLine {
		return &RowError{Line: e.StartLine, Lines: e.Line - e.StartLine + 1, Problem: fmt.Sprintf(
			"a quote opened on line %d is not closed where it should be, so lines %d to %d were read as one row and are lost; %s",
			e.StartLine, e.StartLine, e.Line, fix)}
	}
	return &RowError{Line: e.StartLine, Lines: 1, Problem: fmt.Sprintf("%v at line %d, column %d; %s", e.Err, e.Line, e.Column, fix)}
}

func (e *RowError) Error() string {
	return fmt.Sprintf("invalid CSV row on line %d: %s", e.Line, e.Problem)
}

// Next returns the next row, or io.EOF after the last one. Empty lines and
// lines of only spaces or tabs are skipped. A row that cannot be read is a
// *RowError, and a following call to Next continues with the row after it.
// Any other error is fatal.
func (r *Reader) Next() (Row, error) {
	for {
		record, err := r.csv.Read()
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) {
			return Row{}, quoteError(parseErr)
		}
		if err != nil {
			return Row{}, fmt.Errorf("failed to read CSV row: %w", err)
		}
		line, _ := r.csv.FieldPos(0)
		if len(record) == r.width {
			return r.makeRow(line, record), nil
		}
		// encoding/csv skips empty lines but returns a line of spaces as
		// one field.
		if len(record) == 1 && strings.TrimSpace(record[0]) == "" {
			continue
		}
		return Row{}, &RowError{Line: line, Lines: 1, Problem: fmt.Sprintf("it has %d fields, but the header has %d; "+
			"give the row one field per header column, empty where there is no value", len(record), r.width)}
	}
}

func (r *Reader) makeRow(line int, record []string) Row {
	c := &r.columns
	return Row{
		Line:          line,
		PatientID:     record[c.patientID],
		Time:          record[c.time],
		Metric:        record[c.metric],
		Value:         record[c.value],
		Unit:          record[c.unit],
		SourceRowID:   record[c.sourceRowID],
		DeviceID:      optionalField(record, c.deviceID),
		MeasurementID: optionalField(record, c.measurementID),
		Timezone:      optionalField(record, c.timezone),
		ManualEntry:   optionalField(record, c.manualEntry),
		EstimatedTime: optionalField(record, c.estimatedTime),
	}
}

func optionalField(record []string, index int) string {
	if index < 0 {
		return ""
	}
	return record[index]
}

// ReadFile reads every row of the CSV file at path, in file order. Rows
// that cannot be read are skipped and returned as bad, so that one broken
// line costs only itself. A missing file or an invalid header is an error
// that names the path.
func ReadFile(path string) (rows []Row, bad []*RowError, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, bad, err = ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, bad, nil
}

// ReadAll reads every row of r as ReadFile does.
func ReadAll(r io.Reader) (rows []Row, bad []*RowError, err error) {
	reader, err := NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	for {
		row, err := reader.Next()
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return rows, bad, nil
		case errors.As(err, &rowErr):
			bad = append(bad, rowErr)
		case err != nil:
			return nil, nil, err
		default:
			rows = append(rows, row)
		}
	}
}
