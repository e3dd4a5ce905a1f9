package vytalwatch

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// Identity is the fixed-size identity of a reading, used as its dedupe key
// and as the reading id in events.
type Identity [16]byte

// String returns the identity as 32 hex digits.
func (id Identity) String() string { return hex.EncodeToString(id[:]) }

// Identity returns the reading's identity: (device_id, measurement_id) when
// the source gives a measurement id, otherwise (device_id, metric,
// measured_at, value). Two routes that deliver the same measurement get the
// same identity; a retake a minute later does not. Time proximity plays no
// part. Call it on a validated reading, so that values are canonical.
func (r *Reading) Identity() Identity {
	// Every string is length-prefixed, so that no two different field
	// tuples encode to the same bytes, even when ids contain NUL bytes.
	buf := make([]byte, 0, 128)
	if r.MeasurementID != "" {
		buf = append(buf, 'm')
		buf = appendLengthPrefixed(buf, r.DeviceID)
		buf = appendLengthPrefixed(buf, r.MeasurementID)
	} else {
		buf = append(buf, 'v')
		buf = appendLengthPrefixed(buf, r.DeviceID)
		buf = appendLengthPrefixed(buf, r.Metric)
		buf = binary.BigEndian.AppendUint64(buf, uint64(r.MeasuredAt.UnixNano()))
		for _, s := range r.Samples() {
			buf = appendLengthPrefixed(buf, s.Metric)
			value := s.Value
			if value == 0 {
				value = 0 // -0 and 0 are the same measurement
			}
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(value))
		}
	}
	sum := sha256.Sum256(buf)
	var id Identity
	copy(id[:], sum[:])
	return id
}

func appendLengthPrefixed(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// EventID returns a deterministic event id from its parts: the same parts
// always give the same id, so a replay after a crash repeats ids and sinks
// can drop the duplicates. Parts are length-prefixed, so ("a", "bc") and
// ("ab", "c") give different ids.
func EventID(parts ...string) string {
	buf := make([]byte, 0, 128)
	for _, p := range parts {
		buf = appendLengthPrefixed(buf, p)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}
