package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// auditEntry is what a handler knows about an audited action; the
// request supplies who, when and from where.
type auditEntry struct {
	action       string
	resourceType string
	resourceID   string
	patientID    string
	outcome      string
}

// audit writes audit records for the request. A failed write fails the
// request, so patient data is never returned unaudited.
func (s *Server) audit(r *http.Request, entries ...auditEntry) error {
	p := principalFrom(r.Context())
	records := make([]store.AuditRecord, len(entries))
	for i, e := range entries {
		rec := store.AuditRecord{
			ActorRole: p.Role, Action: e.action, ResourceType: e.resourceType, ResourceID: e.resourceID,
			Outcome: e.outcome, IP: clientIP(r), UserAgent: storableText(r.UserAgent(), 256), RequestID: requestID(r.Context()),
		}
		if rec.Outcome == "" {
			rec.Outcome = store.OutcomeAllowed
		}
		if rec.ActorRole == "" {
			rec.ActorRole = "anonymous"
		}
		if p.UserID != "" {
			rec.ActorUserID = &p.UserID
		}
		if p.KeyID != "" {
			rec.ActorKeyID = &p.KeyID
		}
		if e.patientID != "" {
			rec.PatientID = &e.patientID
		}
		records[i] = rec
	}
	// The client may be gone already; the record must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	return s.db.WriteAudit(ctx, records...)
}

// storableText returns s as text PostgreSQL can store, for values that
// are recorded but never interpreted, such as User-Agent. Invalid UTF-8
// becomes U+FFFD and control characters are dropped. The result is cut to
// at most n bytes at a character boundary.
func storableText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// errOutOfScope is the response for a patient the caller may not see: the
// same 404 as for a patient that does not exist.
func errOutOfScope(patientID string) *apiError {
	return problemf(probNotFound, "no patient %q on your care team", patientID)
}

// checkPatientAccess lets administrators and the roles in everyPatient
// reach every patient, and clinicians the patients of their care team.
// A denial is audited with outcome denied and responded to with 404.
func (s *Server) checkPatientAccess(r *http.Request, patientID string, e auditEntry, everyPatient ...string) error {
	p := principalFrom(r.Context())
	if p.Role == RoleAdmin || slices.Contains(everyPatient, p.Role) {
		return nil
	}
	ok := false
	if p.Role == RoleClinician {
		var err error
		if ok, err = s.db.InCareTeam(r.Context(), patientID, p.UserID); err != nil {
			return err
		}
	}
	if ok {
		return nil
	}
	e.patientID, e.outcome = patientID, store.OutcomeDenied
	if err := s.audit(r, e); err != nil {
		return err
	}
	return errOutOfScope(patientID)
}

// handleListAudit lists audit records, newest first, for administrators.
func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{PatientID: q.Get("patient_id"), ActorUserID: q.Get("actor_user_id"), Action: q.Get("action"), Outcome: q.Get("outcome")}
	var errs []FieldError
	f.Limit, errs = parseLimit(q.Get("limit"), errs)
	f.Since, errs = parseTimeParam("since", q.Get("since"), errs)
	f.Until, errs = parseTimeParam("until", q.Get("until"), errs)
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.ParseInt(c, 10, 64)
		if err != nil || id < 1 {
			errs = append(errs, FieldError{"cursor", "must be the next_cursor of a previous page"})
		}
		f.BeforeID = id
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	records, err := s.db.ListAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := map[string]any{"items": nonNil(records)}
	if len(records) == f.Limit {
		page["next_cursor"] = strconv.FormatInt(records[len(records)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, page)
}

// storeError maps the store's errors to problems: not found to 404 and
// conflicts to 409. Other errors pass through as 500s.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problemf(probNotFound, "no %s", what)
	case errors.Is(err, store.ErrConflict):
		return problemf(probConflict, "%s already exists", what)
	case errors.Is(err, store.ErrUnknownUser):
		return invalid(FieldError{"user_id", "names no user; list users with GET /v1/users"})
	}
	return err
}

// nonNil returns an empty slice for nil, so lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
