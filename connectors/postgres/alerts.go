package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
)

// ResolvedByEngine is resolved_by when the rule's reset condition
// resolved the alert.
const ResolvedByEngine = "engine"

// TriggerUser is the trigger of alert events that a user's action caused,
// such as an acknowledgement.
const TriggerUser = "user"

const alertColumns = `id, patient_id, rule_id, rule_version, rule_name, severity, message, status, fired_at, renotified,
	acknowledged_at, acknowledged_by::text, resolved_at, resolved_by, assignee::text, updated_at`

func scanAlert(row pgx.Row) (store.Alert, error) {
	var a store.Alert
	err := row.Scan(&a.ID, &a.PatientID, &a.RuleID, &a.RuleVersion, &a.RuleName, &a.Severity, &a.Message, &a.Status,
		&a.FiredAt, &a.Renotified, &a.AcknowledgedAt, &a.AcknowledgedBy, &a.ResolvedAt, &a.ResolvedBy, &a.Assignee, &a.UpdatedAt)
	return a, notFound(err)
}

// ListAlerts returns alerts newest first, and the cursor of the next page
// when there is one.
func (db *DB) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, *store.AlertCursor, error) {
	w := where{}
	if f.PatientID != "" {
		w.add("patient_id = $%d", f.PatientID)
	}
	if f.RuleID != "" {
		w.add("rule_id = $%d", f.RuleID)
	}
	if f.Severity != "" {
		w.add("severity = $%d", f.Severity)
	}
	if f.Status != "" {
		w.add("status = $%d", f.Status)
	}
	if !f.Since.IsZero() {
		w.add("fired_at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("fired_at < $%d", f.Until)
	}
	if f.CareTeamOf != "" {
		if !isUUID(f.CareTeamOf) {
			return []store.Alert{}, nil, nil
		}
		w.add("patient_id IN (SELECT patient_id FROM care_team WHERE user_id = $%d)", f.CareTeamOf)
	}
	if f.After != nil {
		w.add("(fired_at, id) < ($%d, ", f.After.FiredAt)
		w.args = append(w.args, f.After.ID)
		w.conds[len(w.conds)-1] += fmt.Sprintf("$%d)", len(w.args))
	}
	w.args = append(w.args, f.Limit+1)
	sql := fmt.Sprintf(`SELECT %s FROM alerts %s ORDER BY fired_at DESC, id DESC LIMIT $%d`, alertColumns, w.clause(), len(w.args))
	rows, err := db.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list alerts: %w", err)
	}
	alerts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Alert, error) { return scanAlert(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("list alerts: %w", err)
	}
	if len(alerts) <= f.Limit {
		return alerts, nil, nil
	}
	alerts = alerts[:f.Limit]
	last := alerts[len(alerts)-1]
	return alerts, &store.AlertCursor{FiredAt: last.FiredAt, ID: last.ID}, nil
}

// GetAlert returns an alert by id.
func (db *DB) GetAlert(ctx context.Context, id string) (store.Alert, error) {
	return scanAlert(db.pool.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
}

// AcknowledgeAlert marks an open alert acknowledged by the user and
// publishes an acknowledged event to vitals.alerts. Acknowledging an
// acknowledged alert changes nothing; a resolved one is store.ErrConflict.
func (db *DB) AcknowledgeAlert(ctx context.Context, id, userID string) (store.Alert, error) {
	return db.actOnAlert(ctx, id, func(tx pgx.Tx, a store.Alert) (store.Alert, bool, error) {
		switch a.Status {
		case store.StatusAcknowledged:
			return a, false, nil
		case store.StatusResolved:
			return a, false, fmt.Errorf("alert %s is resolved: %w", id, store.ErrConflict)
		}
		a, err := scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(),
			acknowledged_by = $2, updated_at = now() WHERE id = $1 RETURNING `+alertColumns, id, userID))
		return a, true, err
	}, vytalwatch.AlertAcknowledged, userID)
}

// ResolveAlert marks an alert resolved by the user and publishes a
// resolved event. Resolving a resolved alert changes nothing.
func (db *DB) ResolveAlert(ctx context.Context, id, userID string) (store.Alert, error) {
	return db.actOnAlert(ctx, id, func(tx pgx.Tx, a store.Alert) (store.Alert, bool, error) {
		if a.Status == store.StatusResolved {
			return a, false, nil
		}
		a, err := scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = now(),
			resolved_by = $2, updated_at = now() WHERE id = $1 RETURNING `+alertColumns, id, userID))
		return a, true, err
	}, vytalwatch.AlertResolved, userID)
}

// AssignAlert sets or, with an empty assignee, clears an alert's
// assignee. An unknown user is store.ErrUnknownUser.
func (db *DB) AssignAlert(ctx context.Context, id, assignee string) (store.Alert, error) {
	if assignee != "" && !isUUID(assignee) {
		return store.Alert{}, store.ErrUnknownUser
	}
	var a store.Alert
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if assignee != "" {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, assignee).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return store.ErrUnknownUser
			}
		}
		var err error
		a, err = scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET assignee = $2, updated_at = now() WHERE id = $1
			RETURNING `+alertColumns, id, nullUUID(assignee)))
		return err
	})
	return a, err
}

// actOnAlert locks an alert, applies change, and when it changed the
// alert, publishes an event of kind through the outbox.
func (db *DB) actOnAlert(ctx context.Context, id string, change func(pgx.Tx, store.Alert) (store.Alert, bool, error), kind, userID string) (store.Alert, error) {
	var out store.Alert
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		a, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		var changed bool
		out, changed, err = change(tx, a)
		if err != nil || !changed {
			return err
		}
		ev := UserAlertEvent(out, kind, userID, out.UpdatedAt)
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return enqueue(ctx, tx, engine.DefaultTopics().Alerts, []byte(out.PatientID), data)
	})
	if err != nil {
		return store.Alert{}, err
	}
	return out, nil
}

// UserAlertEvent is the event a user's action on an alert publishes. Its
// id is derived from the kind, the firing and the user, so the same
// action gives the same id.
func UserAlertEvent(a store.Alert, kind, userID string, at time.Time) vytalwatch.AlertEvent {
	return vytalwatch.AlertEvent{
		EventID:      vytalwatch.EventID(kind, a.ID, userID),
		Kind:         kind,
		RuleID:       a.RuleID,
		RuleVersion:  a.RuleVersion,
		RuleName:     a.RuleName,
		Severity:     a.Severity,
		PatientID:    a.PatientID,
		At:           at.UTC(),
		EmittedAt:    at.UTC(),
		Trigger:      TriggerUser,
		Values:       map[string]*float64{},
		Message:      kind + " by user " + userID,
		FiredEventID: a.ID,
	}
}

// applyAlertEvent stores one alert event and updates its alert row inside
// tx. A replayed event (its id already stored) changes nothing. It
// returns whether the event was new.
func applyAlertEvent(ctx context.Context, tx pgx.Tx, ev vytalwatch.AlertEvent, raw []byte) (bool, error) {
	alertID := ev.FiredEventID
	if ev.Kind == vytalwatch.AlertFired {
		alertID = ev.EventID
	}
	tag, err := tx.Exec(ctx, `INSERT INTO alert_events (event_id, alert_id, kind, at, event) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (event_id) DO NOTHING`, ev.EventID, alertID, ev.Kind, ev.At, raw)
	if err != nil {
		return false, fmt.Errorf("store alert event %s: %w", ev.EventID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	switch ev.Kind {
	case vytalwatch.AlertFired:
		_, err = tx.Exec(ctx, `INSERT INTO alerts (id, patient_id, rule_id, rule_version, rule_name, severity, message, status, fired_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) ON CONFLICT (id) DO NOTHING`,
			ev.EventID, ev.PatientID, ev.RuleID, ev.RuleVersion, ev.RuleName, ev.Severity, ev.Message, ev.At)
	case vytalwatch.AlertResolved:
		_, err = tx.Exec(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = $2, resolved_by = $3, updated_at = now()
			WHERE id = $1 AND status <> 'resolved'`, alertID, ev.At, ResolvedByEngine)
	case vytalwatch.AlertRenotified:
		_, err = tx.Exec(ctx, `UPDATE alerts SET renotified = greatest(renotified, $2), updated_at = now() WHERE id = $1`,
			alertID, ev.Sequence)
	case vytalwatch.AlertAcknowledged:
		// The API updated the row when it published the event; this
		// covers acknowledgements from other producers.
		_, err = tx.Exec(ctx, `UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, updated_at = now()
			WHERE id = $1 AND status = 'open'`, alertID, ev.At)
	}
	if err != nil {
		return false, fmt.Errorf("apply %s event %s to alert %s: %w", ev.Kind, ev.EventID, alertID, err)
	}
	return true, nil
}

// AlertEventCount returns how many events of an alert are stored, for
// tests and tools.
func (db *DB) AlertEventCount(ctx context.Context, alertID string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM alert_events WHERE alert_id = $1`, alertID).Scan(&n)
	return n, err
}
