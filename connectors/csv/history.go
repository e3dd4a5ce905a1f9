package csv

import (
	"errors"
	"io"
	"time"

	"github.com/vytalwatch/vytalwatch/engine"
)

// BacktestReading returns the row as a reading for engine.Backtest. The
// payload has no received_at, so the backtest clock is the arrival time.
// A time that does not parse as RFC 3339 leaves MeasuredAt zero.
func BacktestReading(row Row) engine.BacktestReading {
	measured, _ := time.Parse(time.RFC3339Nano, row.Time)
	return engine.BacktestReading{PatientID: row.PatientID, Payload: Payload(row, time.Time{}), MeasuredAt: measured}
}

// ReadHistory reads a vitals CSV as backtest readings in file order. It
// stops at the first header or row error and returns it, where ReadAll
// would skip the bad row.
func ReadHistory(r io.Reader) ([]engine.BacktestReading, error) {
	reader, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var history []engine.BacktestReading
	for {
		row, err := reader.Next()
		if errors.Is(err, io.EOF) {
			return history, nil
		}
		if err != nil {
			return nil, err
		}
		history = append(history, BacktestReading(row))
	}
}
