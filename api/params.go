package api

import (
	"strconv"
	"time"
)

// Page sizes of list endpoints.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// parseLimit reads the limit query parameter: 1 to 200, 50 when absent.
func parseLimit(text string, errs []FieldError) (int, []FieldError) {
	if text == "" {
		return defaultLimit, errs
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > maxLimit {
		return defaultLimit, append(errs, FieldError{"limit", "must be a whole number from 1 to 200"})
	}
	return n, errs
}

// parseTimeParam reads an RFC 3339 time from a query parameter; empty is
// the zero time.
func parseTimeParam(field, text string, errs []FieldError) (time.Time, []FieldError) {
	if text == "" {
		return time.Time{}, errs
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, append(errs, FieldError{field, "must be an RFC 3339 time such as 2026-03-10T10:00:00Z"})
	}
	return t, errs
}
