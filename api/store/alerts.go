package store

import (
	"time"
)

// Alert statuses.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Alert is one firing of a rule for a patient, keyed by the fired event's
// id, with what happened to it since.
type Alert struct {
	ID             string     `json:"id"`
	PatientID      string     `json:"patient_id"`
	RuleID         string     `json:"rule_id"`
	RuleVersion    int        `json:"rule_version"`
	RuleName       string     `json:"rule_name"`
	Severity       string     `json:"severity"`
	Message        string     `json:"message"`
	Status         string     `json:"status"`
	FiredAt        time.Time  `json:"fired_at"`
	Renotified     int        `json:"renotified"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy *string    `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy     *string    `json:"resolved_by,omitempty"`
	Assignee       *string    `json:"assignee,omitempty"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// AlertCursor is the position after the last alert of a page, in the
// listing order (fired_at, id) descending.
type AlertCursor struct {
	FiredAt time.Time `json:"t"`
	ID      string    `json:"id"`
}

// AlertFilter selects alerts; zero fields select everything.
type AlertFilter struct {
	PatientID string
	RuleID    string
	Severity  string
	Status    string
	// Since and Until bound fired_at: Since <= fired_at < Until.
	Since time.Time
	Until time.Time
	// CareTeamOf limits the list to patients whose care team contains
	// this user.
	CareTeamOf string
	After      *AlertCursor
	Limit      int
}
