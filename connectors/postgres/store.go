package postgres

import "github.com/vytalwatch/vytalwatch/api/store"

// DB implements the API's store.
var _ store.Store = (*DB)(nil)

// The records and errors moved to api/store. These aliases keep the old
// names compiling until every caller uses the store package.
type (
	Alert            = store.Alert
	AlertCursor      = store.AlertCursor
	AlertFilter      = store.AlertFilter
	APIKey           = store.APIKey
	AuditRecord      = store.AuditRecord
	AuditFilter      = store.AuditFilter
	BillingMonth     = store.BillingMonth
	BillingApproval  = store.BillingApproval
	BillingRejection = store.BillingRejection
	BillingFilter    = store.BillingFilter
	BillingReview    = store.BillingReview
	Patient          = store.Patient
	PatientFilter    = store.PatientFilter
	LatestReading    = store.LatestReading
	StoredRule       = store.StoredRule
	RuleVersion      = store.RuleVersion
	TimeEntry        = store.TimeEntry
	User             = store.User
	NewUser          = store.NewUser
	Session          = store.Session
	AccessState      = store.AccessState
	Invite           = store.Invite
)

const (
	StatusOpen         = store.StatusOpen
	StatusAcknowledged = store.StatusAcknowledged
	StatusResolved     = store.StatusResolved
	OutcomeAllowed     = store.OutcomeAllowed
	OutcomeDenied      = store.OutcomeDenied
	OutcomeError       = store.OutcomeError
	BillingPending     = store.BillingPending
	BillingApproved    = store.BillingApproved
	BillingRejected    = store.BillingRejected
	BillingCorrection  = store.BillingCorrection
)

var (
	ErrNotFound         = store.ErrNotFound
	ErrConflict         = store.ErrConflict
	ErrBillingChanged   = store.ErrBillingChanged
	ErrUnknownUser      = store.ErrUnknownUser
	ErrInvalidCareEvent = store.ErrInvalidCareEvent
	ErrEntryIDTaken     = store.ErrEntryIDTaken
	ErrEntryDeleted     = store.ErrEntryDeleted
	ErrRefreshReused    = store.ErrRefreshReused
	ErrInviteInvalid    = store.ErrInviteInvalid
)
