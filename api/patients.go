package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
)

// patientRequest is a patient's profile as clients send it. There are no
// name fields: patients are known by id only.
type patientRequest struct {
	PatientID      string             `json:"patient_id"`
	Timezone       string             `json:"timezone,omitempty"`
	BirthDate      string             `json:"birth_date,omitempty"`
	Conditions     []string           `json:"conditions,omitempty"`
	Thresholds     map[string]float64 `json:"thresholds,omitempty"`
	News2Scale2    bool               `json:"news2_scale2,omitempty"`
	EnrollmentDate string             `json:"enrollment_date,omitempty"`
	// CareTeam is taken on create only; PUT /care-team changes it.
	CareTeam []string `json:"care_team,omitempty"`
}

var (
	conditionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	thresholdPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// check returns every invalid field of the profile.
func (p patientRequest) check(now time.Time) []FieldError {
	var errs []FieldError
	if !vytalwatch.ValidPatientID(p.PatientID) {
		errs = append(errs, FieldError{"patient_id", "must be " + vytalwatch.PatientIDFormat})
	}
	if p.Timezone != "" {
		if _, err := vytalwatch.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" {
			errs = append(errs, FieldError{"timezone", "must be an IANA zone name such as America/Chicago"})
		}
	}
	for field, text := range map[string]string{"birth_date": p.BirthDate, "enrollment_date": p.EnrollmentDate} {
		if text == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, text)
		switch {
		case err != nil:
			errs = append(errs, FieldError{field, "must be a date such as 2026-03-10"})
		case field == "birth_date" && (d.After(now) || d.Year() < 1900):
			errs = append(errs, FieldError{field, "must be a past date after 1900"})
		}
	}
	if len(p.Conditions) > 50 {
		errs = append(errs, FieldError{"conditions", "must list at most 50 conditions"})
	}
	for i, c := range p.Conditions {
		if !conditionPattern.MatchString(c) {
			errs = append(errs, FieldError{fmt.Sprintf("conditions[%d]", i), "must be a lowercase name such as hypertension or heart_failure"})
		}
	}
	if len(p.Thresholds) > 100 {
		errs = append(errs, FieldError{"thresholds", "must have at most 100 entries"})
	}
	for name, v := range p.Thresholds {
		if !thresholdPattern.MatchString(name) || math.IsInf(v, 0) || math.IsNaN(v) {
			errs = append(errs, FieldError{"thresholds." + name, "must be a lowercase name with a finite number"})
		}
	}
	if len(p.CareTeam) > 100 {
		errs = append(errs, FieldError{"care_team", "must list at most 100 users"})
	}
	return errs
}

func (p patientRequest) patient() store.Patient {
	return store.Patient{
		PatientID: p.PatientID, Timezone: p.Timezone, BirthDate: p.BirthDate, Conditions: p.Conditions,
		Thresholds: p.Thresholds, News2Scale2: p.News2Scale2, EnrollmentDate: p.EnrollmentDate, CareTeam: p.CareTeam,
	}
}

// patientPage is one page of a patient listing. NextCursor is absent on
// the last page.
type patientPage struct {
	Items      []store.Patient `json:"items"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// handleListPatients lists the caller's patients by id, a page at a time:
// a clinician's care team patients, or every patient for an
// administrator. Each listed patient is audited.
func (s *Server) handleListPatients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f store.PatientFilter
	var errs []FieldError
	f.Limit, errs = parseLimit(q.Get("limit"), errs)
	f.AfterPatient, errs = parsePatientCursor(q.Get("cursor"), errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	if p := principalFrom(r.Context()); p.Role != RoleAdmin {
		f.Member = p.UserID
	}
	patients, more, err := s.db.ListPatients(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries := make([]auditEntry, len(patients))
	for i, pt := range patients {
		entries[i] = auditEntry{action: "patient.list", resourceType: "patient", resourceID: pt.PatientID, patientID: pt.PatientID}
	}
	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	page := patientPage{Items: nonNil(patients)}
	if more {
		page.NextCursor = encodePatientCursor(patients[len(patients)-1].PatientID)
	}
	writeJSON(w, http.StatusOK, page)
}

// handleCreatePatient stores a patient and publishes the profile to the
// engines. A clinician who creates a patient joins its care team and may
// not name others; administrators set care teams.
func (s *Server) handleCreatePatient(w http.ResponseWriter, r *http.Request) {
	var req patientRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if errs := req.check(s.now()); len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	p := principalFrom(r.Context())
	if p.Role == RoleClinician {
		for _, u := range req.CareTeam {
			if u != p.UserID {
				s.fail(w, r, problemf(probForbidden, "only administrators add others to a care team; leave care_team out"))
				return
			}
		}
		req.CareTeam = []string{p.UserID}
	}
	if err := s.checkCareTeam(r, req.CareTeam); err != nil {
		s.fail(w, r, err)
		return
	}
	created, err := s.db.CreatePatient(r.Context(), req.patient())
	if errors.Is(err, store.ErrConflict) {
		// A taken id outside the caller's care team gets the 404 of a
		// read, so that the 409 cannot reveal who else is monitored.
		entry := auditEntry{action: "patient.create", resourceType: "patient", resourceID: req.PatientID}
		if err := s.checkPatientAccess(r, req.PatientID, entry); err != nil {
			s.fail(w, r, err)
			return
		}
		err = problemf(probConflict, "patient %s already exists", req.PatientID)
	}
	if err != nil {
		s.fail(w, r, storeError(err, "patient"))
		return
	}
	if err := s.audit(r, auditEntry{action: "patient.create", resourceType: "patient", resourceID: created.PatientID, patientID: created.PatientID}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/patients/"+created.PatientID)
	writeJSON(w, http.StatusCreated, created)
}

// checkCareTeam rejects care team members that are not clinicians or
// administrators.
func (s *Server) checkCareTeam(r *http.Request, users []string) error {
	for i, id := range users {
		u, err := s.db.UserByID(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return invalid(FieldError{fmt.Sprintf("care_team[%d]", i), "names no user; list users with GET /v1/users"})
		}
		if err != nil {
			return err
		}
		if u.Role != RoleClinician && u.Role != RoleAdmin {
			return invalid(FieldError{fmt.Sprintf("care_team[%d]", i), "must be a clinician or an administrator, not " + u.Role})
		}
	}
	return nil
}

// handleGetPatient returns a patient's profile and care team.
func (s *Server) handleGetPatient(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.read", resourceType: "patient", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	pt, err := s.db.GetPatient(r.Context(), id)
	if err != nil {
		s.fail(w, r, storeError(err, "such patient"))
		return
	}
	entry.patientID = id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pt)
}

// handleUpdatePatient replaces a patient's profile and publishes it.
func (s *Server) handleUpdatePatient(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.update", resourceType: "patient", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	var req patientRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.PatientID == "" {
		req.PatientID = id
	}
	errs := req.check(s.now())
	if req.PatientID != id {
		errs = append(errs, FieldError{"patient_id", "must match the id in the path, " + id})
	}
	if req.CareTeam != nil {
		errs = append(errs, FieldError{"care_team", "is changed with PUT /v1/patients/" + id + "/care-team; leave it out"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	updated, err := s.db.UpdatePatient(r.Context(), req.patient())
	if err != nil {
		s.fail(w, r, storeError(err, "such patient"))
		return
	}
	entry.patientID = id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, updated)
}

// handleDeletePatient deletes a patient and publishes a tombstone.
func (s *Server) handleDeletePatient(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	if err := s.db.DeletePatient(r.Context(), id); err != nil {
		s.fail(w, r, storeError(err, "such patient"))
		return
	}
	if err := s.audit(r, auditEntry{action: "patient.delete", resourceType: "patient", resourceID: id, patientID: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type careTeamRequest struct {
	UserIDs []string `json:"user_ids"`
}

// handleSetCareTeam replaces a patient's care team.
func (s *Server) handleSetCareTeam(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	var req careTeamRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.UserIDs == nil || len(req.UserIDs) > 100 {
		s.fail(w, r, invalid(FieldError{"user_ids", "must be a list of at most 100 user ids; [] empties the team"}))
		return
	}
	slices.Sort(req.UserIDs)
	req.UserIDs = slices.Compact(req.UserIDs)
	if err := s.checkCareTeam(r, req.UserIDs); err != nil {
		s.fail(w, r, err)
		return
	}
	pt, err := s.db.SetCareTeam(r.Context(), id, req.UserIDs)
	if err != nil {
		s.fail(w, r, storeError(err, "such patient"))
		return
	}
	if err := s.audit(r, auditEntry{action: "patient.care_team.update", resourceType: "patient", resourceID: id, patientID: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pt)
}

// handlePatientAlerts lists one patient's alerts, with the filters and
// paging of GET /v1/alerts.
func (s *Server) handlePatientAlerts(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.alerts.list", resourceType: "patient", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	s.listAlerts(w, r, id, entry)
}

// handleLatestReadings returns a patient's newest reading per metric.
func (s *Server) handleLatestReadings(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "patientID")
	entry := auditEntry{action: "patient.readings.latest", resourceType: "patient", resourceID: id}
	if err := s.checkPatientAccess(r, id, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	readings, err := s.db.LatestReadings(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry.patientID = id
	if err := s.audit(r, entry); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"patient_id": id, "items": nonNil(readings)})
}
