// Package store defines the records the API reads and writes, the
// filters and cursors that select them, the errors a store returns, and
// Store, the interface the API reaches its database through. It imports
// no database driver: connectors/postgres implements Store.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/rules"
)

// Errors a Store returns; callers match them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
)

// Store is every method the API calls on its database, grouped by the
// records they read and write.
type Store interface {
	Users
	Patients
	Alerts
	Rules
	Billing
	TimeEntries
	Audit
	APIKeys

	// Ping checks that the store responds, for readiness probes.
	Ping(ctx context.Context) error
	// PendingOutbox returns how many queued messages wait to be
	// published.
	PendingOutbox(ctx context.Context) (int64, error)
}

// Users stores staff accounts, their sessions, tokens and invites.
type Users interface {
	UserByID(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserDisabled disables or enables a user. Disabling revokes every
	// session of the user.
	SetUserDisabled(ctx context.Context, id string, disabled bool) (User, error)
	// ChangePassword stores a new password hash and revokes every
	// session of the user.
	ChangePassword(ctx context.Context, id, hash string) error
	// SetTOTPSecret stores a new, unconfirmed TOTP secret. A user with a
	// confirmed secret is ErrConflict.
	SetTOTPSecret(ctx context.Context, id, secret string) error
	ConfirmTOTP(ctx context.Context, id string) error
	// UseTOTPStep records that the code of a TOTP time step was accepted.
	// It returns false when that step or a later one was already used.
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)

	// CreateSession starts a session with its first refresh token.
	CreateSession(ctx context.Context, userID string, mfa bool, refreshHash []byte, expires time.Time) (Session, error)
	// RotateRefresh exchanges a refresh token for a new one in the same
	// session. An unknown or expired token, or one of a revoked session,
	// is ErrNotFound. A token already rotated is ErrRefreshReused, and
	// its whole session is revoked.
	RotateRefresh(ctx context.Context, oldHash, newHash []byte, expires time.Time) (Session, error)
	RevokeSession(ctx context.Context, sessionID string) error
	// RevokeToken revokes one access token by its jti until it expires.
	RevokeToken(ctx context.Context, jti string, expires time.Time) error
	// CheckAccess loads the state of a user's session and token. An
	// unknown user or session is ErrNotFound.
	CheckAccess(ctx context.Context, userID, sessionID, jti string) (AccessState, error)

	// CreateInvite stores an invite by the hash of its code.
	CreateInvite(ctx context.Context, codeHash []byte, role, createdBy string, expires time.Time) (Invite, error)
	ListInvites(ctx context.Context) ([]Invite, error)
	// RedeemInvite uses an invite and creates the user with the invite's
	// role, in one transaction. An unknown, used or expired code is
	// ErrInviteInvalid, and a taken email is ErrConflict.
	RedeemInvite(ctx context.Context, codeHash []byte, email, passwordHash string) (User, error)
}

// Patients stores patients, their care teams and their newest readings.
type Patients interface {
	// CreatePatient stores a new patient with its care team and publishes
	// the profile. A taken patient id is ErrConflict, and a care team
	// naming an unknown user is ErrUnknownUser.
	CreatePatient(ctx context.Context, p Patient) (Patient, error)
	// UpdatePatient replaces a patient's profile (not its care team) and
	// publishes it.
	UpdatePatient(ctx context.Context, p Patient) (Patient, error)
	// DeletePatient deletes a patient and its care team and publishes a
	// tombstone. Alerts and readings of the patient stay.
	DeletePatient(ctx context.Context, id string) error
	GetPatient(ctx context.Context, id string) (Patient, error)
	// ListPatients returns a page of patients by id, and whether more
	// follow.
	ListPatients(ctx context.Context, f PatientFilter) ([]Patient, bool, error)
	// SetCareTeam replaces a patient's care team. A member that is not a
	// user is ErrUnknownUser.
	SetCareTeam(ctx context.Context, patientID string, users []string) (Patient, error)
	InCareTeam(ctx context.Context, patientID, userID string) (bool, error)
	// CareTeamPatients returns the ids of the patients whose care team
	// contains the user.
	CareTeamPatients(ctx context.Context, userID string) (map[string]bool, error)
	LatestReadings(ctx context.Context, patientID string) ([]LatestReading, error)
}

// Alerts stores alerts and the actions of users on them.
type Alerts interface {
	GetAlert(ctx context.Context, id string) (Alert, error)
	// ListAlerts returns alerts newest first, and the cursor of the next
	// page when one follows.
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, *AlertCursor, error)
	// AcknowledgeAlert marks an open alert acknowledged by the user.
	// Acknowledging an acknowledged alert changes nothing, and a
	// resolved one is ErrConflict.
	AcknowledgeAlert(ctx context.Context, id, userID string) (Alert, error)
	// ResolveAlert marks an alert resolved by the user. Resolving a
	// resolved alert changes nothing.
	ResolveAlert(ctx context.Context, id, userID string) (Alert, error)
	// AssignAlert sets or, with an empty assignee, clears an alert's
	// assignee. An unknown user is ErrUnknownUser.
	AssignAlert(ctx context.Context, id, assignee string) (Alert, error)
}

// Rules stores rule definitions and their versions. r must be valid
// (rules.Compile) in every method that takes a rule.
type Rules interface {
	// CreateRule stores the first version of a rule, or the next version
	// of a deleted rule with the same id. A rule with the id that is not
	// deleted is ErrConflict.
	CreateRule(ctx context.Context, r rules.Rule, createdBy string) (StoredRule, error)
	// UpdateRule stores a new version of an existing rule. enabled keeps
	// its value unless r sets it.
	UpdateRule(ctx context.Context, r rules.Rule, createdBy string) (StoredRule, error)
	// SetRuleEnabled enables or disables a rule's current version, which
	// keeps its version number.
	SetRuleEnabled(ctx context.Context, id string, enabled bool) (StoredRule, error)
	// DeleteRule marks a rule deleted. Its versions stay.
	DeleteRule(ctx context.Context, id string) error
	// GetRule returns a rule's current version; a deleted rule is
	// ErrNotFound.
	GetRule(ctx context.Context, id string) (StoredRule, error)
	ListRules(ctx context.Context) ([]StoredRule, error)
	// RuleVersions returns every version of a rule, oldest first. A rule
	// that never existed is ErrNotFound.
	RuleVersions(ctx context.Context, id string) ([]RuleVersion, error)
}

// Billing stores the engine's billing snapshots and their review.
type Billing interface {
	// ListBillingMonths returns a month's rows by patient id, without the
	// reports, and whether more rows follow.
	ListBillingMonths(ctx context.Context, f BillingFilter) ([]BillingMonth, bool, error)
	GetBillingMonth(ctx context.Context, m billing.Month, patientID string) (BillingMonth, error)
	// BillingMonthsOf returns the month's rows of the given patients by
	// patient id, without the reports. A patient without a row is left
	// out.
	BillingMonthsOf(ctx context.Context, m billing.Month, patientIDs []string) ([]BillingMonth, error)
	// ApprovedBillingMonths returns a month's rows that have an approval,
	// for export.
	ApprovedBillingMonths(ctx context.Context, m billing.Month) ([]BillingMonth, error)
	BillingReviews(ctx context.Context, m billing.Month, patientID string) ([]BillingReview, error)
	// ApproveBillingMonth freezes the month's newest snapshot as approved
	// by the user. With eventID set, the snapshot must still be that one,
	// or ErrBillingChanged is returned. Approving an approved month is
	// ErrConflict.
	ApproveBillingMonth(ctx context.Context, m billing.Month, patientID, userID, eventID string) (BillingMonth, error)
	// RejectBillingMonth marks the month rejected with a reason and drops
	// its approval. eventID works as for ApproveBillingMonth, and
	// rejecting a rejected month is ErrConflict. Without dropApproval, a
	// month that is approved or a correction is ErrBillingApproved, so a
	// caller that checked no second factor cannot undo an approval that
	// arrived after its own check.
	RejectBillingMonth(ctx context.Context, m billing.Month, patientID, userID, eventID, reason string, dropApproval bool) (BillingMonth, error)
}

// TimeEntries stores the care time staff log for billing.
type TimeEntries interface {
	// AddTimeEntry stores a time entry and publishes it. Adding an entry
	// again with the same id and values returns the stored one with
	// created false. Errors include ErrInvalidCareEvent, ErrEntryIDTaken
	// and ErrEntryDeleted.
	AddTimeEntry(ctx context.Context, e billing.TimeEntry, createdBy string) (entry TimeEntry, created bool, err error)
	// GetTimeEntry returns a patient's time entry; a deleted one is
	// ErrNotFound.
	GetTimeEntry(ctx context.Context, patientID, entryID string) (TimeEntry, error)
	ListTimeEntries(ctx context.Context, patientID string) ([]TimeEntry, error)
	// DeleteTimeEntry marks a time entry deleted by the user and
	// publishes the withdrawal of its minutes.
	DeleteTimeEntry(ctx context.Context, patientID, entryID, userID string) error
}

// Audit stores the audit log.
type Audit interface {
	WriteAudit(ctx context.Context, records ...AuditRecord) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
}

// APIKeys stores API keys by the hash of their secret.
type APIKeys interface {
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// APIKeyByPrefix returns the key with the prefix, whatever its state.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) (APIKey, error)
	// RotateAPIKey stores next as the successor of the key with id oldID
	// and ends the old key's life at overlapUntil, unless it expires
	// sooner. A revoked or expired key is ErrNotFound.
	RotateAPIKey(ctx context.Context, oldID string, next APIKey, overlapUntil time.Time) (APIKey, error)
}
