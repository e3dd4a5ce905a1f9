package bench

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// EngineStats is one measured run.
type EngineStats struct {
	Readings int     `json:"readings"`
	Alerts   int     `json:"alerts"`
	Seconds  float64 `json:"seconds"`
	// PeakRSSBytes is filled in by the process that ran the measurement.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// EngineOnly runs rows through the engine's processor with no broker: the
// same validation, dedupe, windows, rules and lifecycle, on a Pebble store
// in dir with a synced commit per batch of batchSize, as the engine
// commits. Payloads are rendered before the clock starts.
func EngineOnly(rows []csv.Row, dir string, set *rules.Set, now time.Time, batchSize int) (EngineStats, error) {
	store, err := state.Open(state.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return EngineStats{}, err
	}
	defer store.Close()
	off, err := engine.NewOffline(engine.Config{BatchSize: batchSize}, set, engine.OfflineOptions{Store: store, Start: now})
	if err != nil {
		return EngineStats{}, err
	}
	defer off.Close()
	off.KeepEvents = false
	alerts := 0
	off.OnEvent = func(_ vytalwatch.AlertEvent) { alerts++ }
	payloads := make([][]byte, len(rows))
	for i, r := range rows {
		payloads[i] = csv.Payload(r, now)
	}
	started := time.Now()
	for i, r := range rows {
		if err := off.Reading(r.PatientID, payloads[i], now); err != nil {
			return EngineStats{}, fmt.Errorf("reading %d: %w", i+1, err)
		}
	}
	if err := off.Flush(); err != nil {
		return EngineStats{}, err
	}
	return EngineStats{Readings: len(rows), Alerts: alerts, Seconds: time.Since(started).Seconds()}, nil
}
