package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

// RestoreStats is one measured restore.
type RestoreStats struct {
	Patients         int     `json:"patients"`
	Readings         int     `json:"readings"`
	ChangelogRecords int64   `json:"changelog_records"`
	RestoredRecords  int64   `json:"restored_records"`
	Seconds          float64 `json:"seconds"`
	PeakRSSBytes     int64   `json:"peak_rss_bytes"`
}

// Restore fills partition 0 with the rows' state through the engine's
// processor, mirroring every batch to the changelog as the engine does,
// and then times the rebuild of that partition from the changelog into an
// empty store, as an instance taking the partition over would.
func Restore(ctx context.Context, rows []csv.Row, patients int, workDir string, set *rules.Set, now time.Time, changelog engine.Changelog) (RestoreStats, error) {
	st := RestoreStats{Patients: patients, Readings: len(rows)}
	logger := slog.New(slog.DiscardHandler)
	source, err := state.Open(state.Options{Dir: workDir + "/source", Logger: logger})
	if err != nil {
		return st, err
	}
	defer source.Close()
	cfg := engine.Config{}.WithDefaults()
	proc, err := engine.NewProcessor(cfg, 0, set, &engine.ManualClock{T: now}, logger, nil)
	if err != nil {
		return st, err
	}
	for start := 0; start < len(rows); start += cfg.BatchSize {
		end := min(start+cfg.BatchSize, len(rows))
		msgs := make([]engine.Message, 0, end-start)
		for i, r := range rows[start:end] {
			msgs = append(msgs, engine.Message{Topic: cfg.Topics.Readings, Offset: int64(start + i), Key: csv.Key(r), Value: csv.Payload(r, now), Time: now})
		}
		n, err := applyMirrored(ctx, source, proc, msgs, changelog)
		if err != nil {
			return st, err
		}
		st.ChangelogRecords += n
	}

	target, err := state.Open(state.Options{Dir: workDir + "/target", Logger: logger})
	if err != nil {
		return st, err
	}
	defer target.Close()
	started := time.Now()
	end, err := changelog.EndOffset(ctx, 0)
	if err != nil {
		return st, err
	}
	r := target.NewRestore(0, state.Checkpoint{})
	if err := changelog.Read(ctx, 0, 0, end, r.Add); err != nil {
		r.Close()
		return st, err
	}
	if _, _, err := r.Finish(end); err != nil {
		return st, err
	}
	st.Seconds = time.Since(started).Seconds()
	st.RestoredRecords = r.Records
	want, _ := source.Digest(0)
	got, _ := target.Digest(0)
	if got != want {
		return st, fmt.Errorf("the restored partition differs from the source")
	}
	return st, nil
}

func applyMirrored(ctx context.Context, s *state.Store, proc *engine.Processor, msgs []engine.Message, changelog engine.Changelog) (int64, error) {
	b := s.NewBatch(0, true)
	defer b.Close()
	if _, err := proc.Apply(b, msgs); err != nil {
		return 0, err
	}
	if err := b.Prepare(); err != nil {
		return 0, err
	}
	changes := b.Changes()
	records := make([]engine.ChangelogRecord, 0, len(changes)+1)
	for _, c := range changes {
		records = append(records, engine.ChangelogRecord{Key: c.Key, Value: state.ChangelogValue(c)})
	}
	records = append(records, engine.ChangelogRecord{Key: state.MarkerKey(0), Value: state.MarkerValue(0)})
	end, err := changelog.Append(ctx, 0, records)
	if err != nil {
		return 0, err
	}
	if err := b.SetCheckpoint(state.Checkpoint{Next: end}); err != nil {
		return 0, err
	}
	return int64(len(records)), b.Commit()
}
