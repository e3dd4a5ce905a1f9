package store

import (
	"errors"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

// Review statuses of a billing month.
const (
	BillingPending  = "pending"
	BillingApproved = "approved"
	BillingRejected = "rejected"
	// BillingCorrection is an approved month whose newest snapshot bills
	// differently from what was approved.
	BillingCorrection = "correction"
)

// ErrBillingChanged is returned when a review names a snapshot that is no
// longer the month's newest.
var ErrBillingChanged = errors.New("store: the billing month has a newer snapshot")

// ErrBillingApproved is returned when a rejection that may not drop an
// approval finds the month approved or in correction.
var ErrBillingApproved = errors.New("store: the billing month has an approval")

// BillingMonth is one patient's month: the engine's newest eligibility
// snapshot and its review.
type BillingMonth struct {
	PatientID  string              `json:"patient_id"`
	Month      billing.Month       `json:"month"`
	Status     string              `json:"status"`
	EventID    string              `json:"event_id"`
	ComputedAt time.Time           `json:"computed_at"`
	Lines      []billing.ClaimLine `json:"lines"`
	// Flags are the report's flags for the month: those of its management
	// figures and of the device periods that end in the month.
	Flags []string `json:"flags"`
	// Timezone is the IANA zone of the newest report. The report's dates
	// are the patient's local dates in this zone. Listings carry it too.
	Timezone string `json:"timezone"`
	// Report is the newest snapshot's report. Listings leave it out.
	Report    *billing.Report   `json:"report,omitempty"`
	Approval  *BillingApproval  `json:"approval,omitempty"`
	Rejection *BillingRejection `json:"rejection,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// BillingApproval is what an approval froze: the snapshot as it was
// approved, the approver and the time.
type BillingApproval struct {
	EventID string              `json:"event_id"`
	Lines   []billing.ClaimLine `json:"lines"`
	// Report is the approved snapshot's report. Listings leave it out.
	Report  *billing.Report `json:"report,omitempty"`
	By      string          `json:"approved_by"`
	ByEmail string          `json:"approved_by_email"`
	At      time.Time       `json:"approved_at"`
	// Timezone is the IANA zone of the approved report. Listings carry it
	// too.
	Timezone string `json:"timezone"`
}

// BillingRejection is the rejection of a month: the reviewer, the time
// and the reason.
type BillingRejection struct {
	By      string    `json:"rejected_by"`
	ByEmail string    `json:"rejected_by_email"`
	At      time.Time `json:"rejected_at"`
	Reason  string    `json:"reason"`
}

// BillingFilter selects the billing months of one month.
type BillingFilter struct {
	Month  billing.Month
	Status string
	// AfterPatient continues a listing after this patient id.
	AfterPatient string
	Limit        int
}

// BillingReview is one approval or rejection of a month.
type BillingReview struct {
	Action    string              `json:"action"`
	EventID   string              `json:"event_id"`
	Lines     []billing.ClaimLine `json:"lines"`
	Reason    string              `json:"reason,omitempty"`
	UserID    string              `json:"user_id"`
	UserEmail string              `json:"user_email"`
	At        time.Time           `json:"at"`
}
