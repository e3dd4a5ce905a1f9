package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// billingColumns are the columns scanBillingMonth reads. The %s takes
// the two reports, withReports, or NULLs for listings, withoutReports.
// The reports' time zones are read on their own, so listings have them.
const billingColumns = `b.patient_id, b.month, b.status, b.event_id, b.computed_at, b.lines, b.flags, %s,
	coalesce(b.report->>'timezone', ''), coalesce(b.approved_report->>'timezone', ''),
	b.approved_event_id, b.approved_lines, b.approved_by::text, coalesce(ua.email, ''), b.approved_at,
	b.rejected_by::text, coalesce(ur.email, ''), b.rejected_at, coalesce(b.reject_reason, ''), b.updated_at
	FROM billing_months b LEFT JOIN users ua ON ua.id = b.approved_by LEFT JOIN users ur ON ur.id = b.rejected_by`

const (
	withReports    = "b.report, b.approved_report"
	withoutReports = "NULL::jsonb, NULL::jsonb"
)

func scanBillingMonth(row pgx.Row) (store.BillingMonth, error) {
	var (
		b                  store.BillingMonth
		month              time.Time
		approvedEventID    *string
		approvedLines      []billing.ClaimLine
		approvedReport     *billing.Report
		approvedBy, rejBy  *string
		approvedAt, rejAt  *time.Time
		approvedEmail, rej string
		reason             string
		approvedTimezone   string
	)
	err := row.Scan(&b.PatientID, &month, &b.Status, &b.EventID, &b.ComputedAt, &b.Lines, &b.Flags, &b.Report, &approvedReport,
		&b.Timezone, &approvedTimezone, &approvedEventID, &approvedLines, &approvedBy, &approvedEmail, &approvedAt,
		&rejBy, &rej, &rejAt, &reason, &b.UpdatedAt)
	if err != nil {
		return b, notFound(err)
	}
	b.Month = billing.Month{Year: month.Year(), Month: month.Month()}
	if approvedAt != nil {
		b.Approval = &store.BillingApproval{EventID: deref(approvedEventID), Lines: approvedLines, Report: approvedReport,
			By: deref(approvedBy), ByEmail: approvedEmail, At: *approvedAt, Timezone: approvedTimezone}
	}
	if rejAt != nil {
		b.Rejection = &store.BillingRejection{By: deref(rejBy), ByEmail: rej, At: *rejAt, Reason: reason}
	}
	return b, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// monthDate is the month's first day, as the month column stores it.
func monthDate(m billing.Month) time.Time { return m.First().Time() }

// ListBillingMonths returns a month's rows by patient id, without the
// reports, and whether more rows follow. Patient ids sort by their bytes
// (collation "C"), whatever the database's locale, so pages and exports
// come out in the same order everywhere.
func (db *DB) ListBillingMonths(ctx context.Context, f store.BillingFilter) ([]store.BillingMonth, bool, error) {
	w := where{}
	w.add("b.month = $%d", monthDate(f.Month))
	if f.Status != "" {
		w.add("b.status = $%d", f.Status)
	}
	if f.AfterPatient != "" {
		w.add(`b.patient_id COLLATE "C" > $%d`, f.AfterPatient)
	}
	w.args = append(w.args, f.Limit+1)
	sql := fmt.Sprintf(`SELECT `+billingColumns+` %s ORDER BY b.patient_id COLLATE "C" LIMIT $%d`, withoutReports, w.clause(), len(w.args))
	rows, err := db.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list billing months: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.BillingMonth, error) { return scanBillingMonth(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list billing months: %w", err)
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

// GetBillingMonth returns a patient's month with the newest and the
// approved report.
func (db *DB) GetBillingMonth(ctx context.Context, m billing.Month, patientID string) (store.BillingMonth, error) {
	return scanBillingMonth(db.pool.QueryRow(ctx, fmt.Sprintf(`SELECT `+billingColumns+` WHERE b.month = $1 AND b.patient_id = $2`, withReports),
		monthDate(m), patientID))
}

// BillingMonthsOf returns the month's rows of the given patients by
// patient id, without the reports. A patient without a row is left out.
func (db *DB) BillingMonthsOf(ctx context.Context, m billing.Month, patientIDs []string) ([]store.BillingMonth, error) {
	rows, err := db.pool.Query(ctx, fmt.Sprintf(`SELECT `+billingColumns+` WHERE b.month = $1 AND b.patient_id = ANY($2)
		ORDER BY b.patient_id COLLATE "C"`, withoutReports), monthDate(m), patientIDs)
	if err != nil {
		return nil, fmt.Errorf("read billing months of %d patients: %w", len(patientIDs), err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.BillingMonth, error) { return scanBillingMonth(r) })
	if err != nil {
		return nil, fmt.Errorf("read billing months of %d patients: %w", len(patientIDs), err)
	}
	return out, nil
}

// ApprovedBillingMonths returns a month's rows that have an approval, by
// patient id and without the reports, for export: approved rows and
// corrections, whose Approval keeps the approved lines.
func (db *DB) ApprovedBillingMonths(ctx context.Context, m billing.Month) ([]store.BillingMonth, error) {
	rows, err := db.pool.Query(ctx, fmt.Sprintf(`SELECT `+billingColumns+` WHERE b.month = $1
		AND b.status IN ('approved', 'correction') ORDER BY b.patient_id COLLATE "C"`, withoutReports), monthDate(m))
	if err != nil {
		return nil, fmt.Errorf("list approved billing months: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.BillingMonth, error) { return scanBillingMonth(r) })
}

// ApproveBillingMonth freezes the month's newest snapshot as approved by
// the user: its event id, report and lines. With eventID set, the
// snapshot must still be that one, or store.ErrBillingChanged is returned.
// Approving an approved month returns store.ErrConflict.
func (db *DB) ApproveBillingMonth(ctx context.Context, m billing.Month, patientID, userID, eventID string) (store.BillingMonth, error) {
	err := db.reviewBillingMonth(ctx, m, patientID, eventID, store.BillingApproved, func(tx pgx.Tx, _ string) error {
		_, err := tx.Exec(ctx, `UPDATE billing_months SET status = 'approved', approved_event_id = event_id,
			approved_report = report, approved_lines = lines, approved_by = $3, approved_at = now(),
			rejected_by = NULL, rejected_at = NULL, reject_reason = NULL, updated_at = now()
			WHERE month = $1 AND patient_id = $2`, monthDate(m), patientID, userID)
		if err != nil {
			return fmt.Errorf("approve billing month: %w", err)
		}
		return recordReview(ctx, tx, m, patientID, "approve", userID, "")
	})
	if err != nil {
		return store.BillingMonth{}, err
	}
	return db.GetBillingMonth(ctx, m, patientID)
}

// RejectBillingMonth marks the month rejected by the user with a reason,
// and drops an earlier approval, so the month is not exported. eventID
// works as for ApproveBillingMonth. Rejecting a rejected month returns
// store.ErrConflict. Without dropApproval, a month that is approved or a
// correction returns store.ErrBillingApproved. The status is read under
// the row lock, so this also catches an approval committed after the
// caller's own check.
func (db *DB) RejectBillingMonth(ctx context.Context, m billing.Month, patientID, userID, eventID, reason string, dropApproval bool) (store.BillingMonth, error) {
	err := db.reviewBillingMonth(ctx, m, patientID, eventID, store.BillingRejected, func(tx pgx.Tx, current string) error {
		if !dropApproval && (current == store.BillingApproved || current == store.BillingCorrection) {
			return fmt.Errorf("reject billing month that is %s: %w", current, store.ErrBillingApproved)
		}
		_, err := tx.Exec(ctx, `UPDATE billing_months SET status = 'rejected', rejected_by = $3, rejected_at = now(),
			reject_reason = $4, approved_event_id = NULL, approved_report = NULL, approved_lines = NULL,
			approved_by = NULL, approved_at = NULL, updated_at = now()
			WHERE month = $1 AND patient_id = $2`, monthDate(m), patientID, userID, reason)
		if err != nil {
			return fmt.Errorf("reject billing month: %w", err)
		}
		return recordReview(ctx, tx, m, patientID, "reject", userID, reason)
	})
	if err != nil {
		return store.BillingMonth{}, err
	}
	return db.GetBillingMonth(ctx, m, patientID)
}

// reviewBillingMonth locks the month's row, checks that it may move to
// status, and runs change with the row's current status.
func (db *DB) reviewBillingMonth(ctx context.Context, m billing.Month, patientID, eventID, status string, change func(tx pgx.Tx, current string) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var current, currentEvent string
		err := tx.QueryRow(ctx, `SELECT status, event_id FROM billing_months WHERE month = $1 AND patient_id = $2 FOR UPDATE`,
			monthDate(m), patientID).Scan(&current, &currentEvent)
		if err != nil {
			return notFound(err)
		}
		if eventID != "" && eventID != currentEvent {
			return fmt.Errorf("%w: the newest is %s", store.ErrBillingChanged, currentEvent)
		}
		if current == status {
			return fmt.Errorf("billing month is already %s: %w", status, store.ErrConflict)
		}
		return change(tx, current)
	})
}

func recordReview(ctx context.Context, tx pgx.Tx, m billing.Month, patientID, action, userID, reason string) error {
	_, err := tx.Exec(ctx, `INSERT INTO billing_reviews (month, patient_id, action, event_id, lines, reason, user_id)
		SELECT month, patient_id, $3, event_id, lines, $4, $5 FROM billing_months WHERE month = $1 AND patient_id = $2`,
		monthDate(m), patientID, action, reason, userID)
	if err != nil {
		return fmt.Errorf("record billing review: %w", err)
	}
	return nil
}

// BillingReviews returns a month's approvals and rejections, oldest
// first.
func (db *DB) BillingReviews(ctx context.Context, m billing.Month, patientID string) ([]store.BillingReview, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.action, r.event_id, r.lines, r.reason, r.user_id::text, coalesce(u.email, ''), r.at
		FROM billing_reviews r LEFT JOIN users u ON u.id = r.user_id
		WHERE r.month = $1 AND r.patient_id = $2 ORDER BY r.id`, monthDate(m), patientID)
	if err != nil {
		return nil, fmt.Errorf("list billing reviews: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[store.BillingReview])
}
