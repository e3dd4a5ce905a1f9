package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// WriteAudit appends records to the audit log in one statement batch.
func (db *DB) WriteAudit(ctx context.Context, records ...store.AuditRecord) error {
	if len(records) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, r := range records {
		batch.Queue(`INSERT INTO audit_log (actor_user_id, actor_key_id, actor_role, action, resource_type, resource_id,
			patient_id, outcome, ip, user_agent, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			r.ActorUserID, r.ActorKeyID, r.ActorRole, r.Action, r.ResourceType, r.ResourceID, r.PatientID, r.Outcome,
			r.IP, r.UserAgent, r.RequestID)
	}
	if err := db.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("write %d audit records: %w", len(records), err)
	}
	return nil
}

// ListAudit returns audit records, newest first.
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	w := where{}
	if f.PatientID != "" {
		w.add("patient_id = $%d", f.PatientID)
	}
	if f.ActorUserID != "" {
		if !isUUID(f.ActorUserID) {
			return nil, nil
		}
		w.add("actor_user_id = $%d", f.ActorUserID)
	}
	if f.Action != "" {
		w.add("action = $%d", f.Action)
	}
	if f.Outcome != "" {
		w.add("outcome = $%d", f.Outcome)
	}
	if !f.Since.IsZero() {
		w.add("at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("at < $%d", f.Until)
	}
	if f.BeforeID > 0 {
		w.add("id < $%d", f.BeforeID)
	}
	w.args = append(w.args, f.Limit)
	sql := fmt.Sprintf(`SELECT id, at, actor_user_id, actor_key_id, actor_role, action, resource_type, resource_id,
		patient_id, outcome, ip, user_agent, request_id FROM audit_log %s ORDER BY id DESC LIMIT $%d`, w.clause(), len(w.args))
	rows, err := db.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditRecord, error) {
		var a store.AuditRecord
		err := r.Scan(&a.ID, &a.At, &a.ActorUserID, &a.ActorKeyID, &a.ActorRole, &a.Action, &a.ResourceType, &a.ResourceID,
			&a.PatientID, &a.Outcome, &a.IP, &a.UserAgent, &a.RequestID)
		return a, err
	})
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	conds []string
	args  []any
}

// add appends a condition whose one %d is replaced by the parameter's
// number.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

func (w *where) clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	out := "WHERE "
	for i, c := range w.conds {
		if i > 0 {
			out += " AND "
		}
		out += c
	}
	return out
}
