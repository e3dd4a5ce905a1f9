package vytalwatch

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
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
	h := sha256.New()
	buf := make([]byte, 0, 128)
	if r.MeasurementID != "" {
		buf = append(buf, "m\x00"...)
		buf = append(buf, r.DeviceID...)
		buf = append(buf, 0)
		buf = append(buf, r.MeasurementID...)
	} else {
		buf = append(buf, "v\x00"...)
		buf = append(buf, r.DeviceID...)
		buf = append(buf, 0)
		buf = append(buf, r.Metric...)
		buf = append(buf, 0)
		buf = strconv.AppendInt(buf, r.MeasuredAt.UnixNano(), 10)
		for _, s := range r.Samples() {
			buf = append(buf, 0)
			buf = append(buf, s.Metric...)
			buf = append(buf, '=')
			buf = strconv.AppendFloat(buf, s.Value, 'g', -1, 64)
		}
	}
	h.Write(buf)
	var id Identity
	copy(id[:], h.Sum(nil))
	return id
}

// EventID returns a deterministic event id from its parts: the same parts
// always give the same id, so a replay after a crash repeats ids and sinks
// can drop the duplicates.
func EventID(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
