package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// timeEntryRoles are the roles a time entry may name: clinical staff,
// physicians and qualified health care professionals (QHP), who are the
// people whose time the RPM and 99091 codes count.
var timeEntryRoles = []string{"clinical_staff", "physician", "qhp"}

var entryIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$`)

// Time entry limits. An entry ends at most clockSkew after the server's
// clock and starts at most maxEntryAgeYears before it, which also catches
// a mistyped year.
//
// NOTE: the one year is Medicare's timely filing limit as generally
// stated, not checked against each payer's rules.
const (
	maxEntryMinutes  = 24 * 60
	clockSkew        = 10 * time.Minute
	maxEntryAgeYears = 1
)

// timeEntryRequest is a time entry as clients send it. StartedAt is text,
// so that a malformed time is reported on its field.
type timeEntryRequest struct {
	EntryID     string `json:"entry_id,omitempty"`
	StaffID     string `json:"staff_id,omitempty"`
	Role        string `json:"role,omitempty"`
	Program     string `json:"program"`
	StartedAt   string `json:"started_at"`
	Minutes     int    `json:"minutes"`
	Interactive bool   `json:"interactive"`
}

// check returns the entry as the engine reads it, for patientID, and every
// invalid field. The staff id is left to the caller.
func (req timeEntryRequest) check(patientID string, now time.Time) (billing.TimeEntry, []FieldError) {
	e := billing.TimeEntry{ID: req.EntryID, PatientID: patientID, Role: req.Role, Program: strings.ToLower(req.Program),
		Minutes: req.Minutes, Interactive: req.Interactive}
	var errs []FieldError
	if e.ID != "" && !entryIDPattern.MatchString(e.ID) {
		errs = append(errs, FieldError{"entry_id", "must be 1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit; leave it out to get a generated id"})
	}
	if !slices.Contains([]string{billing.ProgramRPM, billing.ProgramCCM, billing.ProgramPCM, billing.Program99091}, e.Program) {
		errs = append(errs, FieldError{"program", "must be one of rpm, ccm, pcm, 99091: the one program these minutes count toward"})
	}
	if e.Role != "" && !slices.Contains(timeEntryRoles, e.Role) {
		errs = append(errs, FieldError{"role", "must be one of " + strings.Join(timeEntryRoles, ", ") + ", or left out"})
	}
	if e.Minutes < 1 || e.Minutes > maxEntryMinutes {
		errs = append(errs, FieldError{"minutes", fmt.Sprintf("must be a whole number of minutes from 1 to %d; split longer work into one entry per day", maxEntryMinutes)})
	}
	started, err := time.Parse(time.RFC3339Nano, req.StartedAt)
	switch {
	case req.StartedAt == "":
		errs = append(errs, FieldError{"started_at", "is required: when the time began, such as 2026-03-05T14:30:00-05:00"})
	case err != nil:
		errs = append(errs, FieldError{"started_at", fmt.Sprintf("%q is not an RFC 3339 time with an offset, such as 2026-03-05T14:30:00-05:00", req.StartedAt)})
	case started.Before(now.AddDate(-maxEntryAgeYears, 0, 0)):
		errs = append(errs, FieldError{"started_at", fmt.Sprintf("%s is more than a year ago, past Medicare's filing limit; check the year", req.StartedAt)})
	case started.Add(time.Duration(e.Minutes) * time.Minute).After(now.Add(clockSkew)):
		errs = append(errs, FieldError{"started_at", "with the minutes added, ends in the future; log time once it is spent"})
	}
	e.StartedAt = started
	return e, errs
}

// handleAddTimeEntry logs time spent on a patient and publishes it to
// vitals.care-events, where the engine counts it toward billing. Sending
// the same entry_id and values again returns the stored entry with 200.
func (s *Server) handleAddTimeEntry(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.time_entry.create", resourceType: "time_entry", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	var req timeEntryRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	e, errs := req.check(id, s.now())
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	staffID, err := s.timeEntryStaff(r, req.StaffID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e.StaffID = staffID
	if e.ID == "" {
		e.ID = "te_" + randomToken(16)
	}
	stored, created, err := s.db.AddTimeEntry(r.Context(), e, principalFrom(r.Context()).UserID)
	if err != nil {
		s.fail(w, r, timeEntryError(err, e.ID))
		return
	}
	entry.resourceID, entry.patientID = stored.ID, id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, stored)
}

// timeEntryStaff returns whose time an entry is: the caller's, unless an
// administrator names a clinician or administrator.
func (s *Server) timeEntryStaff(r *http.Request, staffID string) (string, error) {
	p := principalFrom(r.Context())
	if staffID == "" || staffID == p.UserID {
		return p.UserID, nil
	}
	if p.Role != RoleAdmin {
		return "", problemf(probForbidden, "only administrators log time for someone else; leave staff_id out to log your own")
	}
	u, err := s.db.UserByID(r.Context(), staffID)
	if errors.Is(err, store.ErrNotFound) {
		return "", invalid(FieldError{"staff_id", "names no user; list users with GET /v1/users"})
	}
	if err != nil {
		return "", err
	}
	if u.Role != RoleClinician && u.Role != RoleAdmin {
		return "", invalid(FieldError{"staff_id", "must be a clinician or an administrator, not " + u.Role})
	}
	return u.ID, nil
}

// timeEntryError maps the store's time entry errors to problems.
func timeEntryError(err error, entryID string) error {
	switch {
	case errors.Is(err, store.ErrInvalidCareEvent):
		return invalid(FieldError{"body", strings.TrimPrefix(err.Error(), store.ErrInvalidCareEvent.Error()+": ")})
	case errors.Is(err, store.ErrEntryIDTaken):
		return problemf(probConflict, "entry_id %s already names a time entry with other values; choose another entry_id, or leave it out", entryID)
	case errors.Is(err, store.ErrEntryDeleted):
		return problemf(probConflict, "entry_id %s named a time entry that was deleted; choose another entry_id, or leave it out", entryID)
	}
	return storeError(err, "such patient")
}

// handleDeleteTimeEntry withdraws a time entry and publishes
// time_entry_deleted, which takes its minutes out of billing. Clinicians
// delete only the entries they logged.
func (s *Server) handleDeleteTimeEntry(w http.ResponseWriter, r *http.Request) {
	id, entryID := pathParam(r, "patientID"), pathParam(r, "entryID")
	entry := auditEntry{action: "patient.time_entry.delete", resourceType: "time_entry", resourceID: entryID}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	stored, err := s.db.GetTimeEntry(r.Context(), id, entryID)
	if err != nil {
		s.fail(w, r, storeError(err, "such time entry"))
		return
	}
	if p.Role != RoleAdmin && stored.CreatedBy != p.UserID {
		s.fail(w, r, problemf(probForbidden, "clinicians delete only the time entries they logged; ask an administrator"))
		return
	}
	if err := s.db.DeleteTimeEntry(r.Context(), id, entryID, p.UserID); err != nil {
		s.fail(w, r, storeError(err, "such time entry"))
		return
	}
	entry.patientID = id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleListTimeEntries lists a patient's time entries, newest first.
// Billing users read every patient's entries.
func (s *Server) handleListTimeEntries(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.time_entries.list", resourceType: "patient", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry, RoleBilling); err != nil {
		s.fail(w, r, err)
		return
	}
	entries, err := s.db.ListTimeEntries(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry.patientID = id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(entries)})
}
