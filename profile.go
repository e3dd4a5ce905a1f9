package vytalwatch

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// PatientProfile is the JSON message on vitals.patients, keyed by patient
// id: what rules and billing need to know about a patient. An empty
// message (a tombstone) deletes the profile.
type PatientProfile struct {
	PatientID string `json:"patient_id"`
	// Timezone is the patient's home IANA zone; billing days are its
	// calendar dates.
	Timezone string `json:"timezone,omitempty"`
	// BirthDate (YYYY-MM-DD) gives the age; Age is used when it is absent.
	BirthDate string   `json:"birth_date,omitempty"`
	Age       *float64 `json:"age,omitempty"`
	// Conditions are lowercase condition names such as hypertension,
	// heart_failure or copd; rule scopes match them.
	Conditions []string `json:"conditions,omitempty"`
	// Thresholds override named thresholds of rules for this patient.
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
	// News2Scale2 scores SpO2 on NEWS2 scale 2 (hypercapnic respiratory
	// failure), a clinician's decision.
	News2Scale2 bool `json:"news2_scale2,omitempty"`
	// EnrollmentDate (YYYY-MM-DD) starts the patient's monitoring episode.
	EnrollmentDate string `json:"enrollment_date,omitempty"`
}

// DecodeProfile parses and checks a profile message.
func DecodeProfile(data []byte) (PatientProfile, error) {
	var p PatientProfile
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("invalid patient profile JSON: %w", err)
	}
	if p.PatientID == "" {
		return p, fmt.Errorf("patient profile has no patient_id")
	}
	// NOTE: only the length is checked, not ValidPatientID, so that
	// profiles stored before that rule still load. DecodeReading rejects
	// readings for such ids.
	if len(p.PatientID) > MaxIDLength {
		return p, fmt.Errorf("patient profile patient_id is %d bytes long; ids may be at most %d bytes", len(p.PatientID), MaxIDLength)
	}
	if p.Timezone != "" {
		if _, err := LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" {
			return p, fmt.Errorf("patient profile timezone %q is not an IANA zone name, such as America/Chicago", p.Timezone)
		}
	}
	for field, d := range map[string]string{"birth_date": p.BirthDate, "enrollment_date": p.EnrollmentDate} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return p, fmt.Errorf("patient profile %s %q is not a date in the form 2026-03-10", field, d)
		}
	}
	return p, nil
}

// AgeAt returns the patient's age in whole years at t, or NaN when the
// profile gives neither a birth date nor an age.
func (p *PatientProfile) AgeAt(t time.Time) float64 {
	if p.BirthDate != "" {
		birth, err := time.Parse(time.DateOnly, p.BirthDate)
		if err == nil {
			// Compare month and day, not day of the year, which shifts by
			// one after February in leap years. Someone born on 29 February
			// turns a year older on 1 March in other years.
			years := t.Year() - birth.Year()
			if t.Month() < birth.Month() || (t.Month() == birth.Month() && t.Day() < birth.Day()) {
				years--
			}
			return float64(years)
		}
	}
	if p.Age != nil {
		return *p.Age
	}
	return math.NaN()
}

// HasCondition reports whether the profile lists the condition.
func (p *PatientProfile) HasCondition(name string) bool {
	for _, c := range p.Conditions {
		if c == name {
			return true
		}
	}
	return false
}
