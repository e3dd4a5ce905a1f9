package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/engine"
)

// snapshotVersion identifies one snapshot of a patient's month and where
// it was read.
type snapshotVersion struct {
	eventID    string
	computedAt time.Time
	partition  int
	offset     int64
}

// supersedes reports whether v is newer than old: a later computed_at,
// or on a tie, later in the same partition. A snapshot with old's event id
// has old's report, so it changes nothing.
//
// NOTE: computed_at is the engine's wall clock. When a partition moves to
// an instance whose clock is behind, that instance's first snapshots of a
// month are dropped as older until its clock passes the stored one.
func (v snapshotVersion) supersedes(old snapshotVersion) bool {
	if v.eventID == old.eventID {
		return false
	}
	if !v.computedAt.Equal(old.computedAt) {
		return v.computedAt.After(old.computedAt)
	}
	return v.partition == old.partition && v.offset > old.offset
}

// snapshotMessage is an eligibility snapshot read from
// vitals.billing-events, with its claim lines.
type snapshotMessage struct {
	snapshotVersion
	patientID string
	month     billing.Month
	report    json.RawMessage
	lines     []billing.ClaimLine
	flags     []string
}

// decodeSnapshot parses and checks a snapshot message.
func decodeSnapshot(m engine.Message) (snapshotMessage, error) {
	var raw struct {
		EventID    string          `json:"event_id"`
		PatientID  string          `json:"patient_id"`
		Month      billing.Month   `json:"month"`
		Report     json.RawMessage `json:"report"`
		ComputedAt time.Time       `json:"computed_at"`
	}
	if err := json.Unmarshal(m.Value, &raw); err != nil {
		return snapshotMessage{}, err
	}
	if raw.EventID == "" || raw.PatientID == "" || raw.Month.Year == 0 || raw.ComputedAt.IsZero() {
		return snapshotMessage{}, errors.New("snapshot needs event_id, patient_id, month and computed_at")
	}
	var rep billing.Report
	if err := json.Unmarshal(raw.Report, &rep); err != nil {
		return snapshotMessage{}, fmt.Errorf("invalid report: %w", err)
	}
	if rep.PatientID != raw.PatientID || rep.Month.Month != raw.Month {
		return snapshotMessage{}, fmt.Errorf("report is for %s %s, not the snapshot's %s %s", rep.PatientID, rep.Month.Month, raw.PatientID, raw.Month)
	}
	return snapshotMessage{
		// Postgres keeps microseconds, so compare times as stored.
		snapshotVersion: snapshotVersion{eventID: raw.EventID, computedAt: raw.ComputedAt.UTC().Truncate(time.Microsecond),
			partition: m.Partition, offset: m.Offset},
		patientID: raw.PatientID, month: raw.Month, report: raw.Report, lines: billing.ClaimLines(rep), flags: monthFlags(rep),
	}, nil
}

// monthFlags returns the flags that a month's review shows: those of the
// management figures and of the device periods that end in the month,
// each once. A period that ends in the next month is reviewed there.
func monthFlags(rep billing.Report) []string {
	flags := []string{}
	add := func(list []string) {
		for _, f := range list {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
	}
	for _, p := range rep.Periods {
		if rep.Month.Month.Contains(p.End) {
			add(p.Flags)
		}
	}
	add(rep.Month.Flags)
	return flags
}

// applyBillingEvents stores a batch of vitals.billing-events: the newest
// snapshot of each patient's month, and every billing rule event once.
// Messages of other kinds, or that fail to parse, are logged and skipped.
func applyBillingEvents(ctx context.Context, tx pgx.Tx, msgs []engine.Message, logger *slog.Logger) error {
	type monthKey struct {
		patient string
		month   billing.Month
	}
	newest := map[monthKey]snapshotMessage{}
	var order []monthKey
	for _, m := range msgs {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(m.Value, &head); err != nil {
			logger.Warn("skipping billing message that is not JSON", "partition", m.Partition, "offset", m.Offset, "error", err)
			continue
		}
		switch head.Kind {
		case billing.SnapshotKind:
			snap, err := decodeSnapshot(m)
			if err != nil {
				logger.Warn("skipping invalid billing snapshot", "partition", m.Partition, "offset", m.Offset, "error", err)
				continue
			}
			k := monthKey{snap.patientID, snap.month}
			old, seen := newest[k]
			if !seen {
				order = append(order, k)
			}
			if !seen || snap.supersedes(old.snapshotVersion) {
				newest[k] = snap
			}
		case vytalwatch.AlertFired, vytalwatch.AlertResolved, vytalwatch.AlertRenotified:
			if err := storeBillingRuleEvent(ctx, tx, m, logger); err != nil {
				return err
			}
		default:
			logger.Warn("skipping billing message of unknown kind", "kind", head.Kind, "partition", m.Partition, "offset", m.Offset)
		}
	}
	for _, k := range order {
		if err := storeSnapshot(ctx, tx, newest[k], logger); err != nil {
			return err
		}
	}
	return nil
}

func storeBillingRuleEvent(ctx context.Context, tx pgx.Tx, m engine.Message, logger *slog.Logger) error {
	var ev vytalwatch.AlertEvent
	if err := json.Unmarshal(m.Value, &ev); err != nil || ev.EventID == "" || ev.RuleID == "" || ev.PatientID == "" || ev.At.IsZero() {
		logger.Warn("skipping invalid billing rule event", "partition", m.Partition, "offset", m.Offset, "error", err)
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO billing_rule_events (event_id, patient_id, rule_id, kind, at, event)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`, ev.EventID, ev.PatientID, ev.RuleID, ev.Kind, ev.At, m.Value)
	if err != nil {
		return fmt.Errorf("store billing rule event %s: %w", ev.EventID, err)
	}
	return nil
}

// storedMonth is the part of a billing month's row that storeSnapshot
// reads.
type storedMonth struct {
	snapshotVersion
	status   string
	lines    []billing.ClaimLine
	approved []billing.ClaimLine
}

// storeSnapshot inserts or updates a patient's month with a snapshot
// newer than the stored one, and moves its review status.
func storeSnapshot(ctx context.Context, tx pgx.Tx, s snapshotMessage, logger *slog.Logger) error {
	cur, found, err := lockStoredMonth(ctx, tx, s)
	if err != nil {
		return err
	}
	if !found {
		tag, err := tx.Exec(ctx, `INSERT INTO billing_months (month, patient_id, event_id, computed_at, source_partition,
			source_offset, report, lines, flags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			monthDate(s.month), s.patientID, s.eventID, s.computedAt, s.partition, s.offset, s.report, s.lines, s.flags)
		if err != nil {
			return fmt.Errorf("store billing snapshot %s: %w", s.eventID, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		// Another sink instance inserted the row first: update it.
		if cur, _, err = lockStoredMonth(ctx, tx, s); err != nil {
			return err
		}
	}
	if !s.supersedes(cur.snapshotVersion) {
		return nil
	}
	status := nextStatus(cur, s.lines)
	_, err = tx.Exec(ctx, `UPDATE billing_months SET event_id = $3, computed_at = $4, source_partition = $5, source_offset = $6,
		report = $7, lines = $8, flags = $10, status = $9,
		rejected_by = CASE WHEN $9 = 'rejected' THEN rejected_by END,
		rejected_at = CASE WHEN $9 = 'rejected' THEN rejected_at END,
		reject_reason = CASE WHEN $9 = 'rejected' THEN reject_reason END,
		updated_at = now()
		WHERE month = $1 AND patient_id = $2`,
		monthDate(s.month), s.patientID, s.eventID, s.computedAt, s.partition, s.offset, s.report, s.lines, status, s.flags)
	if err != nil {
		return fmt.Errorf("update billing month with snapshot %s: %w", s.eventID, err)
	}
	if status != cur.status {
		logger.Info("billing month review status changed by a new snapshot", "patient_id", s.patientID, "month", s.month.String(),
			"from", cur.status, "to", status, "event_id", s.eventID)
	}
	return nil
}

func lockStoredMonth(ctx context.Context, tx pgx.Tx, s snapshotMessage) (storedMonth, bool, error) {
	var cur storedMonth
	err := tx.QueryRow(ctx, `SELECT event_id, computed_at, source_partition, source_offset, status, lines, approved_lines
		FROM billing_months WHERE month = $1 AND patient_id = $2 FOR UPDATE`, monthDate(s.month), s.patientID).
		Scan(&cur.eventID, &cur.computedAt, &cur.partition, &cur.offset, &cur.status, &cur.lines, &cur.approved)
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, false, nil
	}
	if err != nil {
		return cur, false, fmt.Errorf("read billing month: %w", err)
	}
	return cur, true, nil
}

// nextStatus returns a month's review status after a snapshot with lines
// arrives. An approved month stays approved while the new lines bill what
// was approved, and becomes a correction otherwise. A correction whose
// lines return to the approved ones is approved again. A rejected month
// whose lines change goes back to pending, to be reviewed again.
func nextStatus(cur storedMonth, lines []billing.ClaimLine) string {
	switch cur.status {
	case store.BillingApproved, store.BillingCorrection:
		if billing.SameClaims(lines, cur.approved) {
			return store.BillingApproved
		}
		return store.BillingCorrection
	case store.BillingRejected:
		if billing.SameClaims(lines, cur.lines) {
			return store.BillingRejected
		}
	}
	return store.BillingPending
}

// ApplyBillingEvents stores messages of vitals.billing-events in one
// transaction, as the billing sink does, for tests and tools that have no
// Kafka.
func (db *DB) ApplyBillingEvents(ctx context.Context, msgs []engine.Message) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return applyBillingEvents(ctx, tx, msgs, db.logger) })
}
