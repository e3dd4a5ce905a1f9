package store

import (
	"errors"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

// Errors of time entries.
var (
	// ErrInvalidCareEvent wraps the reason the engine would dead-letter a
	// care event; nothing invalid is published.
	ErrInvalidCareEvent = errors.New("store: invalid care event")
	// ErrEntryIDTaken is returned when a new entry reuses the id of a
	// different entry.
	ErrEntryIDTaken = errors.New("store: entry id names a different time entry")
	// ErrEntryDeleted is returned when a new entry reuses the id of a
	// deleted one.
	ErrEntryDeleted = errors.New("store: entry id names a deleted time entry")
)

// TimeEntry is a time entry as the API stores it: the fields the engine
// reads, and who logged it when.
type TimeEntry struct {
	billing.TimeEntry
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}
