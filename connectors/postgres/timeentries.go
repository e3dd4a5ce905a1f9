package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// CareEventsTopic is the topic of billing.CareEvent messages (time
// entries logged and withdrawn), keyed by patient id.
const CareEventsTopic = "vitals.care-events"

const timeEntryColumns = `entry_id, patient_id, staff_id, role, program, started_at, minutes, interactive, created_by::text, created_at`

// scanTimeEntry scans timeEntryColumns, then any further columns into
// extra.
func scanTimeEntry(row pgx.Row, extra ...any) (store.TimeEntry, error) {
	var e store.TimeEntry
	dest := append([]any{&e.ID, &e.PatientID, &e.StaffID, &e.Role, &e.Program, &e.StartedAt, &e.Minutes, &e.Interactive,
		&e.CreatedBy, &e.CreatedAt}, extra...)
	return e, notFound(row.Scan(dest...))
}

// careEvent returns the JSON of a care event after checking it as the
// engine will, so that the engine never dead-letters what the API sent.
func careEvent(ev billing.CareEvent) ([]byte, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if _, err := billing.DecodeCareEvent(data); err != nil {
		return nil, fmt.Errorf("%w: %v", store.ErrInvalidCareEvent, err)
	}
	return data, nil
}

// AddTimeEntry stores a time entry and publishes it to vitals.care-events.
// Adding an entry again with the same id and values returns the stored one
// with created false and publishes nothing, so a client can retry safely.
func (db *DB) AddTimeEntry(ctx context.Context, e billing.TimeEntry, createdBy string) (store.TimeEntry, bool, error) {
	// Postgres keeps microseconds: publish the time as it is stored.
	e.StartedAt = e.StartedAt.UTC().Truncate(time.Microsecond)
	data, err := careEvent(billing.CareEvent{Kind: billing.CareTimeEntry, PatientID: e.PatientID, Entry: &e})
	if err != nil {
		return store.TimeEntry{}, false, err
	}
	var out store.TimeEntry
	created := false
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		// Lock the patient, so a concurrent delete cannot slip between
		// the check and the insert.
		var id string
		if err := tx.QueryRow(ctx, `SELECT patient_id FROM patients WHERE patient_id = $1 FOR SHARE`, e.PatientID).Scan(&id); err != nil {
			return notFound(err)
		}
		var err error
		out, err = scanTimeEntry(tx.QueryRow(ctx, `INSERT INTO time_entries (patient_id, entry_id, staff_id, role, program,
			started_at, minutes, interactive, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (patient_id, entry_id) DO NOTHING RETURNING `+timeEntryColumns,
			e.PatientID, e.ID, e.StaffID, e.Role, e.Program, e.StartedAt, e.Minutes, e.Interactive, createdBy))
		if errors.Is(err, store.ErrNotFound) {
			out, err = sameTimeEntry(ctx, tx, e)
			return err
		}
		if err != nil {
			return fmt.Errorf("store time entry: %w", err)
		}
		created = true
		return enqueue(ctx, tx, CareEventsTopic, []byte(e.PatientID), data)
	})
	return out, created, err
}

// sameTimeEntry returns the stored entry with e's id when it has e's
// values, and otherwise why e cannot be added.
func sameTimeEntry(ctx context.Context, tx pgx.Tx, e billing.TimeEntry) (store.TimeEntry, error) {
	var deleted bool
	stored, err := scanTimeEntry(tx.QueryRow(ctx, `SELECT `+timeEntryColumns+`, deleted_at IS NOT NULL FROM time_entries
		WHERE patient_id = $1 AND entry_id = $2`, e.PatientID, e.ID), &deleted)
	if err != nil {
		return stored, fmt.Errorf("read time entry %s: %w", e.ID, err)
	}
	s := stored.TimeEntry
	switch {
	case deleted:
		return stored, store.ErrEntryDeleted
	case s.StaffID != e.StaffID || s.Role != e.Role || s.Program != e.Program || !s.StartedAt.Equal(e.StartedAt) ||
		s.Minutes != e.Minutes || s.Interactive != e.Interactive:
		return stored, store.ErrEntryIDTaken
	}
	return stored, nil
}

// GetTimeEntry returns a patient's time entry; a deleted one is
// store.ErrNotFound.
func (db *DB) GetTimeEntry(ctx context.Context, patientID, entryID string) (store.TimeEntry, error) {
	return scanTimeEntry(db.pool.QueryRow(ctx, `SELECT `+timeEntryColumns+` FROM time_entries
		WHERE patient_id = $1 AND entry_id = $2 AND deleted_at IS NULL`, patientID, entryID))
}

// DeleteTimeEntry marks a time entry deleted by the user and publishes a
// time_entry_deleted event, which withdraws its minutes from billing.
func (db *DB) DeleteTimeEntry(ctx context.Context, patientID, entryID, userID string) error {
	data, err := careEvent(billing.CareEvent{Kind: billing.CareTimeEntryDeleted, PatientID: patientID, EntryID: entryID})
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE time_entries SET deleted_at = now(), deleted_by = $3
			WHERE patient_id = $1 AND entry_id = $2 AND deleted_at IS NULL`, patientID, entryID, nullUUID(userID))
		if err != nil {
			return fmt.Errorf("delete time entry: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return enqueue(ctx, tx, CareEventsTopic, []byte(patientID), data)
	})
}

// ListTimeEntries returns a patient's time entries that are not deleted,
// newest first.
func (db *DB) ListTimeEntries(ctx context.Context, patientID string) ([]store.TimeEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+timeEntryColumns+` FROM time_entries
		WHERE patient_id = $1 AND deleted_at IS NULL ORDER BY started_at DESC, entry_id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("list time entries: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.TimeEntry, error) { return scanTimeEntry(r) })
}
