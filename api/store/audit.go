package store

import (
	"time"
)

// Audit outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeError   = "error"
)

// AuditRecord is one entry of the audit log: who did what to which
// resource, when, from where, and whether it was allowed.
type AuditRecord struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	ActorUserID  *string   `json:"actor_user_id,omitempty"`
	ActorKeyID   *string   `json:"actor_key_id,omitempty"`
	ActorRole    string    `json:"actor_role"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	PatientID    *string   `json:"patient_id,omitempty"`
	Outcome      string    `json:"outcome"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
}

// AuditFilter selects audit records; zero fields select everything.
type AuditFilter struct {
	PatientID   string
	ActorUserID string
	Action      string
	Outcome     string
	Since       time.Time
	Until       time.Time
	// BeforeID continues a listing below this record id.
	BeforeID int64
	Limit    int
}
