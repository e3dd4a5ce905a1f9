package store

import (
	"errors"
	"time"

	"github.com/vytalwatch/vytalwatch"
)

// Patient is a patient's profile and care team. It has no name fields:
// patients are known by id only.
type Patient struct {
	PatientID      string             `json:"patient_id"`
	Timezone       string             `json:"timezone,omitempty"`
	BirthDate      string             `json:"birth_date,omitempty"`
	Conditions     []string           `json:"conditions"`
	Thresholds     map[string]float64 `json:"thresholds"`
	News2Scale2    bool               `json:"news2_scale2"`
	EnrollmentDate string             `json:"enrollment_date,omitempty"`
	CareTeam       []string           `json:"care_team"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// Profile returns the message vitals.patients carries for the patient.
func (p Patient) Profile() vytalwatch.PatientProfile {
	return vytalwatch.PatientProfile{
		PatientID: p.PatientID, Timezone: p.Timezone, BirthDate: p.BirthDate, Conditions: p.Conditions,
		Thresholds: p.Thresholds, News2Scale2: p.News2Scale2, EnrollmentDate: p.EnrollmentDate,
	}
}

// ErrUnknownUser is returned when a care team names a user that does not
// exist.
var ErrUnknownUser = errors.New("store: care team names an unknown user")

// PatientFilter selects a page of patients.
type PatientFilter struct {
	// Member keeps only the patients whose care team contains this user.
	Member string
	// AfterPatient continues a listing after this patient id.
	AfterPatient string
	// Limit is the page size; 0 returns every patient.
	Limit int
}

// LatestReading is the newest reading of one metric of a patient.
type LatestReading struct {
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	Unit       string    `json:"unit"`
	MeasuredAt time.Time `json:"measured_at"`
	ReadingID  string    `json:"reading_id"`
}
