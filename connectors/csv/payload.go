package csv

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vytalwatch/vytalwatch"
)

// payloadCapacity is the initial buffer size of Payload. A row with every
// optional column renders to about 260 bytes, and a MIMIC row to about 190.
const payloadCapacity = 320

// Payload renders row as one canonical vytalwatch.Reading JSON object,
// with source "csv" and received_at set to receivedAt.
//
// Fields follow the Reading field order. device_id, measurement_id, unit,
// timezone and source_ref are omitted when the row's field is empty, and
// received_at is omitted when receivedAt is the zero time, so that the
// engine uses the broker's arrival time. No device id is invented for a row
// without one, because the engine then identifies the reading by metric,
// measured_at and value, which makes exact duplicate rows of a patient
// dedupe.
//
// Payload passes bad values through for the engine to reject:
//   - value is a JSON number when the trimmed text is a finite decimal such
//     as 72, -0.5, .5 or 1e3. It is null when the text is blank, which the
//     engine rejects as missing_field, and otherwise the trimmed text as a
//     JSON string, which the engine rejects as value_not_numeric.
//   - measured_at is the trimmed time re-formatted as RFC 3339 with up to
//     nanosecond precision, keeping its UTC offset, when it parses as RFC
//     3339, and otherwise the raw text, which the engine rejects as
//     invalid_timestamp.
func Payload(row Row, receivedAt time.Time) []byte {
	return AppendPayload(make([]byte, 0, payloadCapacity), row, receivedAt)
}

// AppendPayload appends the payload of row to dst and returns the extended
// buffer. It renders the same bytes as Payload, and lets a caller reuse one
// buffer across rows.
func AppendPayload(dst []byte, row Row, receivedAt time.Time) []byte {
	dst = append(dst, `{"patient_id":`...)
	dst = appendJSONString(dst, row.PatientID)
	if row.DeviceID != "" {
		dst = append(dst, `,"device_id":`...)
		dst = appendJSONString(dst, row.DeviceID)
	}
	if row.MeasurementID != "" {
		dst = append(dst, `,"measurement_id":`...)
		dst = appendJSONString(dst, row.MeasurementID)
	}

	dst = append(dst, `,"metric":`...)
	dst = appendJSONString(dst, row.Metric)
	dst = append(dst, `,"value":`...)
	dst = appendValue(dst, row.Value)
	if row.Unit != "" {
		dst = append(dst, `,"unit":`...)
		dst = appendJSONString(dst, row.Unit)
	}

	dst = append(dst, `,"measured_at":`...)
	dst = appendMeasuredAt(dst, row.Time)
	if !receivedAt.IsZero() {
		dst = append(dst, `,"received_at":"`...)
		dst = receivedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}

	dst = append(dst, `,"source":"`+vytalwatch.SourceCSV+`"`...)
	if row.Timezone != "" {
		dst = append(dst, `,"timezone":`...)
		dst = appendJSONString(dst, row.Timezone)
	}
	if row.SourceRowID != "" {
		dst = append(dst, `,"source_ref":`...)
		dst = appendJSONString(dst, row.SourceRowID)
	}
	if isTrue(row.ManualEntry) {
		dst = append(dst, `,"manual_entry":true`...)
	}
	if isTrue(row.EstimatedTime) {
		dst = append(dst, `,"estimated_time":true`...)
	}
	return append(dst, '}')
}

// isTrue reads a boolean column: true, 1 or yes, in any case.
func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// Key returns the Kafka message key of row, which is its patient id, so
// that all readings of one patient land on one partition in order.
func Key(row Row) []byte {
	return []byte(row.PatientID)
}

// appendValue appends text as a JSON number when it is a finite decimal,
// as null when it is blank, and as a JSON string otherwise.
func appendValue(dst []byte, text string) []byte {
	text = strings.TrimSpace(text)
	if text == "" {
		return append(dst, "null"...)
	}
	isDecimal, isJSONNumber := scanDecimal(text)
	if !isDecimal {
		return appendJSONString(dst, text)
	}
	// ParseFloat fails with ErrRange beyond the float64 range, such as
	// 1e999, which json.Unmarshal would also reject.
	value, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(value, 0) {
		return appendJSONString(dst, text)
	}
	if isJSONNumber {
		return append(dst, text...)
	}
	// Forms such as +5, .5, 5. and 007 are decimals but not JSON numbers.
	return strconv.AppendFloat(dst, value, 'g', -1, 64)
}

// scanDecimal reports whether s is a decimal number: an optional sign,
// digits with an optional decimal point and at least one digit, and an
// optional exponent. isJSONNumber is true when s also follows the JSON
// number grammar of RFC 8259, which has no plus sign, no leading zeros and
// at least one digit on each side of the point. Unlike strconv.ParseFloat,
// it rejects Inf, NaN, hexadecimal and underscores.
func scanDecimal(s string) (isDecimal, isJSONNumber bool) {
	i := 0
	isJSONNumber = true
	if s[i] == '+' || s[i] == '-' {
		if s[i] == '+' {
			isJSONNumber = false
		}
		i++
	}

	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intDigits := i - intStart
	if intDigits == 0 || (intDigits > 1 && s[intStart] == '0') {
		isJSONNumber = false
	}

	fractionDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		fractionStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fractionDigits = i - fractionStart
		if fractionDigits == 0 {
			isJSONNumber = false
		}
	}
	if intDigits+fractionDigits == 0 {
		return false, false
	}

	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exponentStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == exponentStart {
			return false, false
		}
	}

	if i != len(s) {
		return false, false
	}
	return true, isJSONNumber
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// appendMeasuredAt appends the row's time as a JSON string: RFC 3339 with
// its offset when it parses, else the raw text.
func appendMeasuredAt(dst []byte, text string) []byte {
	measured, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(text))
	if err != nil {
		return appendJSONString(dst, text)
	}
	// The offset stays as written: billing falls back to it for the
	// patient's local date when the profile has no time zone.
	dst = append(dst, '"')
	dst = measured.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string. It escapes quotes,
// backslashes, control characters and U+2028 and U+2029, and replaces each
// byte of invalid UTF-8 with U+FFFD, as encoding/json does. Other
// characters, including non-ASCII, are copied unchanged.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // start of the pending run of bytes that need no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// encoding/json escapes U+2028 and U+2029 too, because JavaScript
		// before ES2019 does not allow them in string literals.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscapedASCII appends the JSON escape of a quote, a backslash or a
// control character.
func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
