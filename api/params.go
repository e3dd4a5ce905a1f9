package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vytalwatch/vytalwatch"
)

// Page sizes of list endpoints.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// pathParam returns a path parameter decoded. When a client escapes more
// than it must, as encodeURIComponent does with a colon, chi routes on the
// escaped path and hands out the parameter still escaped.
func pathParam(r *http.Request, name string) string {
	value := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		// chi routed on the decoded path, so the value is decoded.
		return value
	}
	if decoded, err := url.PathUnescape(value); err == nil {
		return decoded
	}
	return value
}

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

// encodePatientCursor returns the opaque next_cursor of a listing by
// patient id whose page ends with id.
func encodePatientCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// parsePatientCursor reads the cursor query parameter of a listing by
// patient id: empty starts at the beginning. A cursor whose id cannot be
// stored, such as one with NUL or longer than MaxIDLength, is invalid.
func parsePatientCursor(text string, errs []FieldError) (string, []FieldError) {
	if text == "" {
		return "", errs
	}
	data, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(data) == 0 || len(data) > vytalwatch.MaxIDLength || vytalwatch.CheckLine(string(data)) != nil {
		return "", append(errs, FieldError{"cursor", "must be the next_cursor of a previous page"})
	}
	return string(data), errs
}
