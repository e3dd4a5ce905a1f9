package csv

import (
	"strings"
	"time"
)

// Rebase returns a copy of rows in the same order with each patient's times
// shifted by one offset, chosen so that the patient's newest time becomes
// now. Intervals between a patient's rows are kept exactly. A shifted time
// is written in RFC 3339 with nanosecond precision and keeps its original
// UTC offset. Rows whose time does not parse as RFC 3339 are copied
// unchanged, as are all rows of a patient without any parseable time.
//
// Replays use Rebase so that recordings made on another clock, such as MIMIC
// data shifted into the 2100s, pass the engine's clock checks.
func Rebase(rows []Row, now time.Time) []Row {
	parsed := make([]time.Time, len(rows))
	valid := make([]bool, len(rows))
	newest := make(map[string]time.Time)
	for i, row := range rows {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(row.Time))
		if err != nil {
			continue
		}
		parsed[i], valid[i] = t, true
		if latest, ok := newest[row.PatientID]; !ok || t.After(latest) {
			newest[row.PatientID] = t
		}
	}

	out := make([]Row, len(rows))
	copy(out, rows)
	for i := range out {
		if !valid[i] {
			continue
		}
		shifted := shiftTime(parsed[i], newest[out[i].PatientID], now)
		out[i].Time = shifted.Format(time.RFC3339Nano)
	}
	return out
}

// shiftTime returns t moved by now minus newest, in t's UTC offset. It adds
// seconds and nanoseconds separately because a time.Duration overflows
// beyond about 292 years, which a recording from an old or shifted clock
// can exceed.
func shiftTime(t, newest, now time.Time) time.Time {
	seconds := t.Unix() + (now.Unix() - newest.Unix())
	nanoseconds := int64(t.Nanosecond()) + int64(now.Nanosecond()) - int64(newest.Nanosecond())
	shifted := time.Unix(seconds, nanoseconds)
	_, offset := t.Zone()
	if offset == 0 {
		return shifted.UTC()
	}
	return shifted.In(time.FixedZone("", offset))
}
