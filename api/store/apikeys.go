package store

import (
	"time"
)

// APIKey is a stored API key; the secret itself is never stored.
type APIKey struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Hash        []byte     `json:"-"`
	Role        string     `json:"role"`
	CreatedBy   *string    `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	RotatedFrom *string    `json:"rotated_from,omitempty"`
}
