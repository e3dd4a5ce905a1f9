package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/vytalwatch/vytalwatch"
)

// decodeJSON reads the request body as one JSON value into v. Unknown
// fields, trailing data, a wrong content type, a body over limit and text
// that PostgreSQL cannot store are client errors, never 500s. A request
// without a Content-Type header is read as JSON.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return problemf(probMediaType, "send the body as application/json, not %q", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return jsonProblem(err, limit)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, limit)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return problemf(probMalformed, "the body has data after its JSON value, at byte %d; send exactly one JSON value", len(data)-len(rest))
	}
	return checkBodyText(data)
}

// checkBodyText rejects a body with invalid UTF-8, NUL or another control
// character except tab, line feed and carriage return in any string,
// naming the field. encoding/json turns invalid UTF-8 into U+FFFD
// silently and "\u0000" into NUL, which PostgreSQL text rejects.
func checkBodyText(data []byte) error {
	field, err := vytalwatch.FindBadJSONText(data, vytalwatch.CheckText)
	if err == nil {
		return nil
	}
	if field == "" {
		field = "body"
	}
	var textErr *vytalwatch.TextError
	if errors.As(err, &textErr) && textErr.Rune == utf8.RuneError {
		return problemf(probMalformed, "field %s contains invalid UTF-8; send the body as UTF-8", field)
	}
	return invalid(FieldError{field, fmt.Sprintf("contains %v; remove it, because text may not contain NUL or control characters other than tab, line feed and carriage return", err)})
}

// jsonProblem maps a decoding error to a problem that names the field
// or the position.
func jsonProblem(err error, limit int64) *apiError {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return problemf(probTooLarge, "the body is larger than %d bytes; send less", limit)
	case errors.Is(err, io.EOF):
		return problemf(probMalformed, "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problemf(probMalformed, "the body ends in the middle of a JSON value; send complete JSON")
	case errors.As(err, &syntax):
		return problemf(probMalformed, "invalid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return problemf(probMalformed, "field %s must be a JSON %s, not %s", field, typeErr.Type, typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return problemf(probMalformed, "%s; remove it (see /openapi.json for the fields)", strings.TrimPrefix(err.Error(), "json: "))
	}
	return problemf(probMalformed, "invalid JSON: %v", err)
}

// writeJSON writes a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// Rule conditions contain < and >, which read better unescaped; the
	// API serves no HTML.
	enc.SetEscapeHTML(false)
	// An encoding error cannot change the status any more; the client
	// sees a truncated body.
	_ = enc.Encode(v)
}
