package postgres

import "regexp"

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isUUID reports whether s is a UUID, so that a malformed id from a
// request is a plain not-found instead of a database error.
func isUUID(s string) bool { return uuidPattern.MatchString(s) }

// IsUUID reports whether s is a UUID in its text form.
func IsUUID(s string) bool { return isUUID(s) }
