package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
)

var (
	alertStatuses = []string{store.StatusOpen, store.StatusAcknowledged, store.StatusResolved}
	severities    = []string{"critical", "high", "medium", "low", "info"}
)

// alertPage is one page of an alert listing. NextCursor is absent on the
// last page.
type alertPage struct {
	Items      []store.Alert `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// encodeCursor and decodeCursor turn a listing position into an opaque
// string and back.
func encodeCursor(c *store.AlertCursor) string {
	data, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeCursor(text string) (*store.AlertCursor, error) {
	data, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return nil, err
	}
	var c store.AlertCursor
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	if c.ID == "" || c.FiredAt.IsZero() {
		return nil, errors.New("incomplete cursor")
	}
	if err := vytalwatch.CheckLine(c.ID); err != nil {
		return nil, fmt.Errorf("cursor id: %w", err)
	}
	return &c, nil
}

// handleListAlerts lists alerts newest first: a clinician's care team
// patients', or everyone's for an administrator. Each patient on the page
// is audited once. A patient_id outside the caller's care team gets the
// 404 and the denied audit record of GET /v1/patients/{id}/alerts.
func (s *Server) handleListAlerts(w http.ResponseWriter, r *http.Request) {
	entry := auditEntry{action: "alert.list", resourceType: "alert"}
	patientID := r.URL.Query().Get("patient_id")
	if patientID != "" {
		denied := entry
		denied.resourceID = patientID
		if err := s.checkPatientAccess(r, patientID, denied); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.listAlerts(w, r, patientID, entry)
}

// listAlerts serves an alert listing, limited to patientID when set.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, patientID string, entry auditEntry) {
	q := r.URL.Query()
	f := store.AlertFilter{PatientID: patientID, RuleID: q.Get("rule_id"), Severity: q.Get("severity"), Status: q.Get("status")}
	var errs []FieldError
	if f.Severity != "" && !slices.Contains(severities, f.Severity) {
		errs = append(errs, FieldError{"severity", "must be one of critical, high, medium, low, info"})
	}
	if f.Status != "" && !slices.Contains(alertStatuses, f.Status) {
		errs = append(errs, FieldError{"status", "must be one of open, acknowledged, resolved"})
	}
	f.Limit, errs = parseLimit(q.Get("limit"), errs)
	f.Since, errs = parseTimeParam("since", q.Get("since"), errs)
	f.Until, errs = parseTimeParam("until", q.Get("until"), errs)
	if c := q.Get("cursor"); c != "" {
		cursor, err := decodeCursor(c)
		if err != nil {
			errs = append(errs, FieldError{"cursor", "must be the next_cursor of a previous page"})
		}
		f.After = cursor
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	if p := principalFrom(r.Context()); p.Role != RoleAdmin {
		f.CareTeamOf = p.UserID
	}
	alerts, next, err := s.db.ListAlerts(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, alertAudit(alerts, entry)...); err != nil {
		s.fail(w, r, err)
		return
	}
	page := alertPage{Items: nonNil(alerts)}
	if next != nil {
		page.NextCursor = encodeCursor(next)
	}
	writeJSON(w, http.StatusOK, page)
}

// alertAudit returns one audit entry per patient among the alerts.
func alertAudit(alerts []store.Alert, entry auditEntry) []auditEntry {
	var out []auditEntry
	seen := map[string]bool{}
	for _, a := range alerts {
		if seen[a.PatientID] {
			continue
		}
		seen[a.PatientID] = true
		e := entry
		e.patientID = a.PatientID
		if e.resourceID == "" {
			e.resourceID = a.PatientID
		}
		out = append(out, e)
	}
	return out
}

// alertInScope loads an alert and checks the caller may see its patient;
// an alert outside the care team is a 404 like a missing one, and is
// audited as denied.
func (s *Server) alertInScope(r *http.Request, entry auditEntry) (store.Alert, error) {
	a, err := s.db.GetAlert(r.Context(), entry.resourceID)
	if errors.Is(err, store.ErrNotFound) {
		return a, problemf(probNotFound, "no alert %q on your care team's patients", entry.resourceID)
	}
	if err != nil {
		return a, err
	}
	if err := s.checkPatientAccess(r, a.PatientID, entry); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.kind == probNotFound {
			return a, problemf(probNotFound, "no alert %q on your care team's patients", entry.resourceID)
		}
		return a, err
	}
	return a, nil
}

// handleGetAlert returns one alert.
func (s *Server) handleGetAlert(w http.ResponseWriter, r *http.Request) {
	entry := auditEntry{action: "alert.read", resourceType: "alert", resourceID: pathParam(r, "alertID")}
	a, err := s.alertInScope(r, entry)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry.patientID = a.PatientID
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// handleAcknowledgeAlert acknowledges an open alert and publishes an
// acknowledged event, which every live stream shows.
func (s *Server) handleAcknowledgeAlert(w http.ResponseWriter, r *http.Request) {
	s.actOnAlert(w, r, "alert.acknowledge", s.db.AcknowledgeAlert)
}

// handleResolveAlert resolves an alert by hand and publishes a resolved
// event.
func (s *Server) handleResolveAlert(w http.ResponseWriter, r *http.Request) {
	s.actOnAlert(w, r, "alert.resolve", s.db.ResolveAlert)
}

func (s *Server) actOnAlert(w http.ResponseWriter, r *http.Request, action string, act func(ctx context.Context, id, userID string) (store.Alert, error)) {
	entry := auditEntry{action: action, resourceType: "alert", resourceID: pathParam(r, "alertID")}
	a, err := s.alertInScope(r, entry)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err = act(r.Context(), a.ID, principalFrom(r.Context()).UserID)
	if errors.Is(err, store.ErrConflict) {
		err = problemf(probConflict, "alert %s is resolved; it cannot be acknowledged", a.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry.patientID = a.PatientID
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

type assignRequest struct {
	// UserID is the assignee; null or empty clears the assignment.
	UserID *string `json:"user_id"`
}

// handleAssignAlert assigns an alert to a member of the patient's care
// team (or an administrator), or clears the assignment.
func (s *Server) handleAssignAlert(w http.ResponseWriter, r *http.Request) {
	entry := auditEntry{action: "alert.assign", resourceType: "alert", resourceID: pathParam(r, "alertID")}
	var req assignRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.alertInScope(r, entry)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	assignee := ""
	if req.UserID != nil {
		assignee = *req.UserID
	}
	if assignee != "" {
		if err := s.checkAssignee(r, a.PatientID, assignee); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	a, err = s.db.AssignAlert(r.Context(), a.ID, assignee)
	if err != nil {
		s.fail(w, r, storeError(err, "such alert"))
		return
	}
	entry.patientID = a.PatientID
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// checkAssignee accepts administrators and the patient's care team.
func (s *Server) checkAssignee(r *http.Request, patientID, userID string) error {
	u, err := s.db.UserByID(r.Context(), userID)
	if errors.Is(err, store.ErrNotFound) {
		return invalid(FieldError{"user_id", "names no user; list users with GET /v1/users"})
	}
	if err != nil {
		return err
	}
	if u.Role == RoleAdmin {
		return nil
	}
	ok, err := s.db.InCareTeam(r.Context(), patientID, u.ID)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(FieldError{"user_id", "is not on the patient's care team"})
	}
	return nil
}
