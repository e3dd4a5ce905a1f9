package store

import (
	"errors"
	"time"
)

// User is a staff account.
type User struct {
	ID                string     `json:"id"`
	Email             string     `json:"email"`
	Role              string     `json:"role"`
	PasswordHash      string     `json:"-"`
	PasswordChangedAt time.Time  `json:"password_changed_at"`
	TOTPSecret        string     `json:"-"`
	TOTPConfirmed     bool       `json:"totp_enabled"`
	DisabledAt        *time.Time `json:"disabled_at,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
}

// NewUser is the input of creating a user.
type NewUser struct {
	Email        string
	Role         string
	PasswordHash string
}

// Session is a refresh-token family.
type Session struct {
	ID     string
	UserID string
	MFA    bool
}

// ErrRefreshReused is returned when a refresh token that was already
// rotated is presented again; the whole session is then revoked.
var ErrRefreshReused = errors.New("store: refresh token reused")

// AccessState is what decides whether a verified access token still
// holds: the user's current role and status, and revocations.
type AccessState struct {
	Role              string
	PasswordChangedAt time.Time
	Disabled          bool
	TOTPConfirmed     bool
	SessionRevoked    bool
	TokenRevoked      bool
}

// Invite is a single-use registration code.
type Invite struct {
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedBy    *string    `json:"used_by,omitempty"`
}

// ErrInviteInvalid is returned for an invite code that is unknown,
// already used or expired.
var ErrInviteInvalid = errors.New("store: invite code unknown, used or expired")
