package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// billingStatuses are the review statuses a listing may filter on.
var billingStatuses = []string{store.BillingPending, store.BillingApproved, store.BillingRejected, store.BillingCorrection}

// Limits of review requests. Snapshot event ids are 32 hex digits today,
// so maxEventIDLength only stops abuse.
const (
	maxEventIDLength      = 256
	maxRejectReasonLength = 1000
)

// minBillingYear is the earliest year a month in a path may name, which
// catches a mistyped year.
const minBillingYear = 2000

// billingMonthAudit returns the audit entry of an action on one
// patient's month. Its resource id is the month.
func billingMonthAudit(action string, m billing.Month, patientID string) auditEntry {
	return auditEntry{action: action, resourceType: "billing_month", resourceID: m.String(), patientID: patientID}
}

// parseMonthParam reads the {month} path parameter, YYYY-MM.
func parseMonthParam(r *http.Request) (billing.Month, error) {
	text := pathParam(r, "month")
	m, err := billing.ParseMonth(text)
	if err != nil || m.Year < minBillingYear {
		return m, problemf(probMalformed, "month %q in the path is not a calendar month from %d on; write it as YYYY-MM, such as 2026-03", text, minBillingYear)
	}
	return m, nil
}

// billingPage is one page of a month's billing rows. NextCursor is absent
// on the last page.
type billingPage struct {
	Month      billing.Month `json:"month"`
	Items      []billingRow  `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// handleListBillingMonths lists a month's rows by patient id, without the
// reports. Each patient on the page is audited once.
func (s *Server) handleListBillingMonths(w http.ResponseWriter, r *http.Request) {
	m, err := parseMonthParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.BillingFilter{Month: m, Status: q.Get("status")}
	var errs []FieldError
	if f.Status != "" && !slices.Contains(billingStatuses, f.Status) {
		errs = append(errs, FieldError{"status", "must be one of " + strings.Join(billingStatuses, ", ")})
	}
	f.Limit, errs = parseLimit(q.Get("limit"), errs)
	f.AfterPatient, errs = parsePatientCursor(q.Get("cursor"), errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}

	rows, more, err := s.db.ListBillingMonths(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries := make([]auditEntry, len(rows))
	for i, row := range rows {
		entries[i] = billingMonthAudit("billing.month.list", m, row.PatientID)
	}
	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	page := billingPage{Month: m, Items: s.periodClock().rows(rows)}
	if more {
		page.NextCursor = encodePatientCursor(rows[len(rows)-1].PatientID)
	}
	writeJSON(w, http.StatusOK, page)
}

// billingMonthDetail is one patient's month with its review history.
type billingMonthDetail struct {
	billingRow
	Reviews []store.BillingReview `json:"reviews"`
}

// loadBillingMonth returns a patient's month with its reviews, dated on
// the server clock. The approved report is kept only for a correction,
// where it differs from the newest one.
func (s *Server) loadBillingMonth(r *http.Request, m billing.Month, patientID string) (billingMonthDetail, error) {
	b, err := s.db.GetBillingMonth(r.Context(), m, patientID)
	if errors.Is(err, store.ErrNotFound) {
		return billingMonthDetail{}, problemf(probNotFound, "no billing month %s for patient %q; list the month's patients with GET /v1/billing/months/%s", m, patientID, m)
	}
	if err != nil {
		return billingMonthDetail{}, err
	}
	if b.Approval != nil && b.Status != store.BillingCorrection {
		b.Approval.Report = nil
	}
	reviews, err := s.db.BillingReviews(r.Context(), m, patientID)
	if err != nil {
		return billingMonthDetail{}, err
	}
	return billingMonthDetail{billingRow: s.periodClock().row(b), Reviews: nonNil(reviews)}, nil
}

// handleGetBillingMonth returns a patient's month: the newest report,
// the approved one for a correction, and every review.
func (s *Server) handleGetBillingMonth(w http.ResponseWriter, r *http.Request) {
	m, err := parseMonthParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	patientID := pathParam(r, "patientID")
	detail, err := s.loadBillingMonth(r, m, patientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, billingMonthAudit("billing.month.read", m, patientID)); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detail)
}

// billingReviewRequest names the snapshot the reviewer saw, and for a
// rejection, why. AllowOpen lets an approval cover claim lines whose
// period has not ended.
type billingReviewRequest struct {
	EventID   string `json:"event_id"`
	Reason    string `json:"reason,omitempty"`
	AllowOpen bool   `json:"allow_open,omitempty"`
}

// checkEventID returns the field errors of a review's event_id.
func (req billingReviewRequest) checkEventID() []FieldError {
	return checkEventID("event_id", req.EventID)
}

// checkEventID returns the field errors of an event_id sent as field.
func checkEventID(field, eventID string) []FieldError {
	switch {
	case eventID == "":
		return []FieldError{{field, "is required: the event_id of the snapshot you reviewed, from GET /v1/billing/months/{month}/patients/{patientID}"}}
	case len(eventID) > maxEventIDLength:
		return []FieldError{{field, fmt.Sprintf("must be at most %d bytes; send the event_id of the snapshot you reviewed", maxEventIDLength)}}
	}
	return nil
}

// reviewConflict returns the problem of a review that cannot apply to the
// month as stored: a newer snapshot than the reviewed one, or the status
// the review would set. It returns nil when the review may go ahead.
func reviewConflict(b store.BillingMonth, eventID, status string) error {
	if b.EventID != eventID {
		return problemf(probConflict, "the billing month %s of patient %s has a newer snapshot (event_id %s) than the one reviewed (%s); "+
			"reload it with GET /v1/billing/months/%s/patients/%s and review it again", b.Month, b.PatientID, b.EventID, eventID, b.Month, b.PatientID)
	}
	if b.Status == status {
		return problemf(probConflict, "the billing month %s of patient %s is already %s", b.Month, b.PatientID, status)
	}
	return nil
}

// reviewError maps the store's review errors to problems.
func reviewError(err error, m billing.Month, patientID, eventID string) error {
	switch {
	case errors.Is(err, store.ErrBillingChanged):
		return problemf(probConflict, "the billing month %s of patient %s has a newer snapshot than event_id %s; "+
			"reload it with GET /v1/billing/months/%s/patients/%s and review it again", m, patientID, eventID, m, patientID)
	case errors.Is(err, store.ErrBillingApproved):
		return problemf(probConflict, "the billing month %s of patient %s was approved after you loaded it, and rejecting an approval needs "+
			"a current TOTP code in the %s header; reload it and reject it again with a code", m, patientID, totpHeader)
	case errors.Is(err, store.ErrConflict):
		return problemf(probConflict, "the billing month %s of patient %s was reviewed at the same time; reload it and check its status", m, patientID)
	case errors.Is(err, store.ErrNotFound):
		return problemf(probNotFound, "no billing month %s for patient %q", m, patientID)
	}
	return err
}

// readReviewRequest reads the month and patient of an approval or a
// rejection from the path, and its body.
func (s *Server) readReviewRequest(w http.ResponseWriter, r *http.Request) (billing.Month, string, billingReviewRequest, error) {
	var req billingReviewRequest
	m, err := parseMonthParam(r)
	if err != nil {
		return m, "", req, err
	}
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		return m, "", req, err
	}
	return m, pathParam(r, "patientID"), req, nil
}

// handleApproveBillingMonth approves the month's newest snapshot, the one
// named by event_id, after a fresh TOTP check. The approval freezes the
// snapshot's lines and report, the approver and the time. Approving a
// correction approves its new lines. A snapshot with claim lines whose
// period has not ended needs allow_open.
func (s *Server) handleApproveBillingMonth(w http.ResponseWriter, r *http.Request) {
	m, patientID, req, err := s.readReviewRequest(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	errs := req.checkEventID()
	if req.Reason != "" {
		errs = append(errs, FieldError{"reason", "is only for rejections; leave it out of an approval"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}

	// Check the snapshot before the TOTP check, so that a stale page does
	// not use up the reviewer's code. The store checks it again under a
	// row lock.
	current, err := s.loadBillingMonth(r, m, patientID)
	if err == nil {
		err = reviewConflict(current.BillingMonth, req.EventID, store.BillingApproved)
	}
	if err == nil && !req.AllowOpen {
		err = openLinesConflict(current.billingRow)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry := billingMonthAudit("billing.month.approve", m, patientID)
	if err := s.requireFreshTOTP(r); err != nil {
		s.failAudited(w, r, entry, err)
		return
	}

	p := principalFrom(r.Context())
	if _, err := s.db.ApproveBillingMonth(r.Context(), m, patientID, p.UserID, req.EventID); err != nil {
		s.fail(w, r, reviewError(err, m, patientID, req.EventID))
		return
	}
	s.respondReviewed(w, r, entry, m, patientID)
}

// handleRejectBillingMonth rejects the month's newest snapshot with a
// reason. It drops an earlier approval, so the month leaves the export.
// Rejecting a month that is approved or a correction needs a fresh TOTP
// check, as approving does, because it undoes an approval. A pending month
// is rejected without one, and a code sent with it is neither checked nor
// used up.
func (s *Server) handleRejectBillingMonth(w http.ResponseWriter, r *http.Request) {
	m, patientID, req, err := s.readReviewRequest(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	errs := req.checkEventID()
	if req.AllowOpen {
		errs = append(errs, FieldError{"allow_open", "is only for approvals; leave it out of a rejection"})
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		errs = append(errs, FieldError{"reason", "is required: why the month must not be billed, such as \"no consent on file\""})
	case utf8.RuneCountInString(req.Reason) > maxRejectReasonLength:
		errs = append(errs, FieldError{"reason", fmt.Sprintf("must be at most %d characters", maxRejectReasonLength)})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}

	current, err := s.loadBillingMonth(r, m, patientID)
	if err == nil {
		err = reviewConflict(current.BillingMonth, req.EventID, store.BillingRejected)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry := billingMonthAudit("billing.month.reject", m, patientID)
	dropApproval := current.Status == store.BillingApproved || current.Status == store.BillingCorrection
	if dropApproval {
		if err := s.requireFreshTOTP(r); err != nil {
			s.failAudited(w, r, entry, err)
			return
		}
	}
	p := principalFrom(r.Context())
	if _, err := s.db.RejectBillingMonth(r.Context(), m, patientID, p.UserID, req.EventID, req.Reason, dropApproval); err != nil {
		s.fail(w, r, reviewError(err, m, patientID, req.EventID))
		return
	}
	s.respondReviewed(w, r, entry, m, patientID)
}

// respondReviewed audits a review and responds with the month as it now
// is.
func (s *Server) respondReviewed(w http.ResponseWriter, r *http.Request, entry auditEntry, m billing.Month, patientID string) {
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	detail, err := s.loadBillingMonth(r, m, patientID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detail)
}

// failAudited writes an audit record with outcome denied for an action
// that a check stopped, then responds with the check's error.
func (s *Server) failAudited(w http.ResponseWriter, r *http.Request, entry auditEntry, denial error) {
	s.failAuditedEach(w, r, []auditEntry{entry}, denial)
}

// failAuditedEach is failAudited for an action on several patients: it
// writes a denied record for each of the entries.
func (s *Server) failAuditedEach(w http.ResponseWriter, r *http.Request, entries []auditEntry, denial error) {
	for i := range entries {
		entries[i].outcome = store.OutcomeDenied
	}
	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, denial)
}
