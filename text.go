package vytalwatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// MaxIDLength is the maximum length, in bytes, of patient, device and
// measurement ids. Ids become parts of state keys, Kafka keys and URL
// paths.
const MaxIDLength = 200

// PatientIDFormat describes a valid patient id, for error messages.
const PatientIDFormat = "1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"

var patientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// ValidPatientID reports whether id is a valid patient id
// (PatientIDFormat). DecodeReading, and so the ingest API, and
// POST /v1/patients apply this rule, so they accept the same ids.
func ValidPatientID(id string) bool {
	return len(id) <= MaxIDLength && patientIDPattern.MatchString(id)
}

// TextError locates the first byte sequence of a string that CheckText
// or CheckLine rejects.
type TextError struct {
	// Offset is the byte offset of the sequence in the string, or -1
	// when it is unknown.
	Offset int
	// Rune is the control character found, or utf8.RuneError for
	// invalid UTF-8.
	Rune rune
}

func (e *TextError) Error() string {
	var found string
	switch e.Rune {
	case utf8.RuneError:
		found = "invalid UTF-8"
	case 0:
		found = "the NUL character (U+0000)"
	default:
		found = fmt.Sprintf("the control character U+%04X", e.Rune)
	}
	if e.Offset < 0 {
		return found
	}
	return fmt.Sprintf("%s at byte %d", found, e.Offset)
}

// CheckText returns a *TextError for the first invalid UTF-8 sequence or
// control character in s, or nil when there is none. Tab, line feed and
// carriage return are allowed, because multi-line text such as a rule
// condition needs them. The control characters are U+0000 to U+001F and
// U+007F. PostgreSQL text columns reject NUL and invalid UTF-8 outright.
func CheckText(s string) error {
	return checkText(s, true)
}

// CheckLine is CheckText for ids and other one-line values: it allows no
// control character at all.
func CheckLine(s string) error {
	return checkText(s, false)
}

func checkText(s string, allowLineBreaks bool) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			// A literal U+FFFD is valid text; only a decoding failure,
			// which ranges report as a 1-byte RuneError, is not.
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &TextError{Offset: i, Rune: utf8.RuneError}
			}
		case r == '\t' || r == '\n' || r == '\r':
			if !allowLineBreaks {
				return &TextError{Offset: i, Rune: r}
			}
		case r < 0x20 || r == 0x7f:
			return &TextError{Offset: i, Rune: r}
		}
	}
	return nil
}

// FindBadJSONText returns the path of the first string in the JSON
// document data, key or value, that contains invalid UTF-8 or whose
// decoded text check rejects, with the reason. Paths look like
// "components[1].unit", or "[0].device_id" in a list; a bad key is named
// by its quoted text, and a bad top-level string by "". It returns "", nil
// when every string passes. Call it on data that has decoded without
// error: it stops at a syntax error and reports only the strings before
// it.
//
// Invalid UTF-8 is looked for in the raw bytes, because encoding/json
// replaces it with U+FFFD while decoding.
func FindBadJSONText(data []byte, check func(string) error) (string, error) {
	invalidAt := int64(-1)
	if !utf8.Valid(data) {
		invalidAt = int64(firstInvalidUTF8(data))
	} else if bytes.IndexByte(data, '\\') < 0 && bytes.IndexByte(data, 0x7f) < 0 {
		// JSON strings cannot hold raw control characters below U+0020,
		// so without escapes and DEL there is nothing to find.
		return "", nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []jsonFrame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", nil
		}
		end := dec.InputOffset()
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				enterValue(stack)
				stack = append(stack, jsonFrame{object: t == '{', wantKey: t == '{', index: -1})
				continue
			}
			stack = stack[:len(stack)-1]
			leaveValue(stack)
		case string:
			isKey := len(stack) > 0 && stack[len(stack)-1].wantKey
			var bad error
			if invalidAt >= start && invalidAt < end {
				bad = &TextError{Offset: -1, Rune: utf8.RuneError}
			} else {
				bad = check(t)
			}
			if isKey {
				if bad != nil {
					return joinPath(jsonPath(stack[:len(stack)-1]), stack[len(stack)-1], strconv.QuoteToASCII(t)), bad
				}
				stack[len(stack)-1].key, stack[len(stack)-1].wantKey = t, false
				continue
			}
			enterValue(stack)
			if bad != nil {
				return jsonPath(stack), bad
			}
			leaveValue(stack)
		default:
			enterValue(stack)
			leaveValue(stack)
		}
	}
}

// jsonFrame is one open object or array while FindBadJSONText walks a
// document: the current key or index.
type jsonFrame struct {
	object  bool
	wantKey bool
	key     string
	index   int
}

func enterValue(stack []jsonFrame) {
	if n := len(stack); n > 0 && !stack[n-1].object {
		stack[n-1].index++
	}
}

func leaveValue(stack []jsonFrame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].wantKey = true
	}
}

func jsonPath(stack []jsonFrame) string {
	path := ""
	for _, f := range stack {
		path = joinPath(path, f, f.key)
	}
	return path
}

// joinPath appends frame's step to path: ".key" (or "key" at the start)
// for an object, "[i]" for an array.
func joinPath(path string, frame jsonFrame, key string) string {
	if !frame.object {
		return path + "[" + strconv.Itoa(frame.index) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
