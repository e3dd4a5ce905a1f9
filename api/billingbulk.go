package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// maxBulkApproveRows bounds the rows of one bulk approval, and
// bulkBodyLimit its body. A row with the longest ids (a 200-byte patient
// id and a 256-byte event id) takes about 2.8 KB of JSON with every byte
// escaped as \u00XX, so 500 rows take about 1.4 MB, under 2 MiB.
const (
	maxBulkApproveRows = 500
	bulkBodyLimit      = 2 << 20
)

// Outcomes of one row of a bulk approval.
const (
	bulkApproved = "approved"
	bulkFailed   = "failed"
)

// bulkApproveRequest lists the rows of one month to approve with one TOTP
// code.
type bulkApproveRequest struct {
	Rows []bulkApproveRow `json:"rows"`
}

// bulkApproveRow names one patient's snapshot as the reviewer saw it.
// AllowOpen lets the approval cover claim lines whose period has not
// ended.
type bulkApproveRow struct {
	PatientID string `json:"patient_id"`
	EventID   string `json:"event_id"`
	AllowOpen bool   `json:"allow_open,omitempty"`
}

// check returns the field errors of the request: the number of rows, each
// row's ids, and a patient listed twice, by the index of the row.
func (req bulkApproveRequest) check() []FieldError {
	switch n := len(req.Rows); {
	case n == 0:
		return []FieldError{{"rows", fmt.Sprintf(`must list 1 to %d rows, each {"patient_id": ..., "event_id": ...}`, maxBulkApproveRows)}}
	case n > maxBulkApproveRows:
		return []FieldError{{"rows", fmt.Sprintf("lists %d rows; send at most %d in one request, and the rest in further requests", n, maxBulkApproveRows)}}
	}
	var errs []FieldError
	firstIndex := map[string]int{}
	for i, row := range req.Rows {
		field := fmt.Sprintf("rows[%d]", i)
		switch {
		case row.PatientID == "":
			errs = append(errs, FieldError{field + ".patient_id", "is required: the patient whose month to approve"})
		case len(row.PatientID) > vytalwatch.MaxIDLength:
			errs = append(errs, FieldError{field + ".patient_id", fmt.Sprintf("is %d bytes long; patient ids are at most %d bytes", len(row.PatientID), vytalwatch.MaxIDLength)})
		default:
			if j, seen := firstIndex[row.PatientID]; seen {
				errs = append(errs, FieldError{field + ".patient_id", fmt.Sprintf("repeats patient %q of rows[%d]; list each patient once", row.PatientID, j)})
			} else {
				firstIndex[row.PatientID] = i
			}
		}
		errs = append(errs, checkEventID(field+".event_id", row.EventID)...)
	}
	return errs
}

// bulkApproveResult is the outcome of one row of a bulk approval: approved,
// or failed with the problem that the single approval of the row would
// have returned.
type bulkApproveResult struct {
	PatientID string   `json:"patient_id"`
	EventID   string   `json:"event_id"`
	Outcome   string   `json:"outcome"`
	Problem   *Problem `json:"problem,omitempty"`
}

// bulkApproveResponse lists the outcome of every row in request order,
// with counts.
type bulkApproveResponse struct {
	Month    billing.Month       `json:"month"`
	Approved int                 `json:"approved"`
	Failed   int                 `json:"failed"`
	Results  []bulkApproveResult `json:"results"`
}

// handleBulkApproveBillingMonths approves the rows of a month that a
// reviewer lists, with one fresh TOTP check for the whole request. Each
// row gets the checks of the single approval: it must exist, event_id
// must name its newest snapshot, it must not be approved yet, and open
// claim lines need allow_open. A row that fails a check fails alone.
// Each approval runs in its own transaction, so one stale row does not
// block the others, and the response lists each row's outcome.
//
// The TOTP code is checked only when some row passes the checks, so a
// request whose rows are all stale does not use up the reviewer's code.
// A missing, wrong or used code fails the whole request, as for the
// single approval, and is audited as denied for each row that would have
// been approved.
func (s *Server) handleBulkApproveBillingMonths(w http.ResponseWriter, r *http.Request) {
	m, err := parseMonthParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req bulkApproveRequest
	if err := decodeJSON(w, r, max(s.cfg.BodyLimit, bulkBodyLimit), &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if errs := req.check(); len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}

	// Check every row before the TOTP check, as the single approval does.
	// The store checks the snapshot again under a row lock.
	results, ready, err := s.precheckBulkApproval(r, m, req.Rows)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var entries []auditEntry
	if len(ready) > 0 {
		if err := s.requireFreshTOTP(r); err != nil {
			for _, i := range ready {
				entries = append(entries, billingMonthAudit("billing.month.approve", m, req.Rows[i].PatientID))
			}
			s.failAuditedEach(w, r, entries, err)
			return
		}
	}

	p := principalFrom(r.Context())
	for _, i := range ready {
		row := req.Rows[i]
		_, err := s.db.ApproveBillingMonth(r.Context(), m, row.PatientID, p.UserID, row.EventID)
		if err != nil && r.Context().Err() != nil {
			// The client has disconnected and will not read the results,
			// so stop here and audit the rows approved so far.
			break
		}
		if err != nil {
			results[i] = s.failedRow(r, row, reviewError(err, m, row.PatientID, row.EventID))
			continue
		}
		results[i].Outcome = bulkApproved
		entries = append(entries, billingMonthAudit("billing.month.approve", m, row.PatientID))
	}
	if len(entries) > 0 {
		if err := s.audit(r, entries...); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	resp := bulkApproveResponse{Month: m, Results: results}
	for _, res := range results {
		if res.Outcome == bulkApproved {
			resp.Approved++
		} else {
			resp.Failed++
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// precheckBulkApproval runs the single approval's checks on each row
// against the stored months. It returns a result per row, failed for a
// row that a check stopped, and the indexes of the rows that passed.
func (s *Server) precheckBulkApproval(r *http.Request, m billing.Month, rows []bulkApproveRow) ([]bulkApproveResult, []int, error) {
	ids := make([]string, len(rows))
	for i, row := range rows {
		ids[i] = row.PatientID
	}
	stored, err := s.db.BillingMonthsOf(r.Context(), m, ids)
	if err != nil {
		return nil, nil, err
	}
	byPatient := make(map[string]store.BillingMonth, len(stored))
	for _, b := range stored {
		byPatient[b.PatientID] = b
	}

	clock := s.periodClock()
	results := make([]bulkApproveResult, len(rows))
	var ready []int
	for i, row := range rows {
		b, found := byPatient[row.PatientID]
		var err error
		switch {
		case !found:
			err = problemf(probNotFound, "no billing month %s for patient %q; list the month's patients with GET /v1/billing/months/%s", m, row.PatientID, m)
		default:
			err = reviewConflict(b, row.EventID, store.BillingApproved)
			if err == nil && !row.AllowOpen {
				err = openLinesConflict(clock.row(b))
			}
		}
		if err != nil {
			results[i] = s.failedRow(r, row, err)
			continue
		}
		results[i] = bulkApproveResult{PatientID: row.PatientID, EventID: row.EventID}
		ready = append(ready, i)
	}
	return results, ready, nil
}

// failedRow returns the failed result of a row with err as its problem.
// An error that is not a problem is logged and shown as an internal
// error of that row, as fail does for a whole request.
func (s *Server) failedRow(r *http.Request, row bulkApproveRow, err error) bulkApproveResult {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.logger.Error("bulk approval of a billing row failed", "error", err, "patient_id", row.PatientID, "event_id", row.EventID,
			"request_id", requestID(r.Context()))
		ae = problemf(probInternal, "the server failed to approve this row; quote instance %s when reporting it", requestID(r.Context()))
	}
	p := &Problem{Type: problemBase + ae.kind.slug, Title: ae.kind.title, Status: ae.kind.status, Detail: ae.detail,
		Instance: requestID(r.Context())}
	return bulkApproveResult{PatientID: row.PatientID, EventID: row.EventID, Outcome: bulkFailed, Problem: p}
}
