package state

import (
	"time"
)

// dayNumber returns the UTC day number of a time in Unix nanoseconds,
// which buckets dedupe entries so they can expire by day.
func dayNumber(unixNanos int64) uint32 {
	return uint32(unixNanos / int64(24*time.Hour))
}

func dedupeKey(partition int, patient string, measuredAt int64, id [16]byte) []byte {
	k := key(partition, kindDedupe, patient)
	day := dayNumber(measuredAt)
	k = append(k, byte(day>>24), byte(day>>16), byte(day>>8), byte(day))
	return append(k, id[:]...)
}

// MarkSeen records a reading identity for a patient and reports whether it
// had been recorded before, which makes the reading a duplicate.
func (b *Batch) MarkSeen(patient string, measuredAt int64, id [16]byte) (seen bool, err error) {
	if err := checkLengths(patient); err != nil {
		return false, err
	}
	k := dedupeKey(b.partition, patient, measuredAt, id)
	_, seen, err = b.get(k)
	if err != nil || seen {
		return seen, err
	}
	return false, b.set(k, nil)
}

// ExpireSeen deletes a patient's dedupe entries of readings measured before
// the UTC day that contains before. from, when not zero, is the before of
// the previous call: entries older than it are gone already, and starting
// there skips their deletion markers.
func (b *Batch) ExpireSeen(patient string, from, before int64) (int, error) {
	if err := checkLengths(patient); err != nil {
		return 0, err
	}
	prefix := key(b.partition, kindDedupe, patient)
	day := dayNumber(before)
	upper := append(append([]byte(nil), prefix...), byte(day>>24), byte(day>>16), byte(day>>8), byte(day))
	lower := prefix
	if from > 0 && from < before {
		first := dayNumber(from)
		lower = append(append([]byte(nil), prefix...), byte(first>>24), byte(first>>16), byte(first>>8), byte(first))
	}
	it, err := b.newIter(lower, upper)
	if err != nil {
		return 0, err
	}
	var doomed [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		doomed = append(doomed, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// Patient returns the engine's record of a patient: opaque bytes that the
// engine encodes. Patients with a record make up the partition's registry.
func (b *Batch) Patient(patient string) ([]byte, bool, error) {
	if err := checkLengths(patient); err != nil {
		return nil, false, err
	}
	return b.get(key(b.partition, kindPatient, patient))
}

// SetPatient stores the engine's record of a patient.
func (b *Batch) SetPatient(patient string, record []byte) error {
	if err := checkLengths(patient); err != nil {
		return err
	}
	return b.set(key(b.partition, kindPatient, patient), record)
}

// ScanPatients calls fn for each patient record of the partition, in key
// order: shorter ids first (ids are length-prefixed), then bytewise. fn must
// not keep record after it returns.
func (b *Batch) ScanPatients(fn func(patient string, record []byte) error) error {
	prefix := key(b.partition, kindPatient)
	return b.scanStrings(prefix, fn)
}

// Profile returns a patient's profile as published on vitals.patients.
func (b *Batch) Profile(patient string) ([]byte, bool, error) {
	if err := checkLengths(patient); err != nil {
		return nil, false, err
	}
	return b.get(key(b.partition, kindProfile, patient))
}

// SetProfile stores a patient's profile.
func (b *Batch) SetProfile(patient string, profile []byte) error {
	if err := checkLengths(patient); err != nil {
		return err
	}
	return b.set(key(b.partition, kindProfile, patient), profile)
}

// AlertState returns the stored state of a rule for a patient.
func (b *Batch) AlertState(patient, rule string) ([]byte, bool, error) {
	if err := checkLengths(patient, rule); err != nil {
		return nil, false, err
	}
	return b.get(key(b.partition, kindAlert, patient, rule))
}

// SetAlertState stores the state of a rule for a patient.
func (b *Batch) SetAlertState(patient, rule string, data []byte) error {
	if err := checkLengths(patient, rule); err != nil {
		return err
	}
	return b.set(key(b.partition, kindAlert, patient, rule), data)
}

// DeleteAlertState removes the state of a rule for a patient, which is how
// an alert returns to inactive.
func (b *Batch) DeleteAlertState(patient, rule string) error {
	if err := checkLengths(patient, rule); err != nil {
		return err
	}
	return b.delete(key(b.partition, kindAlert, patient, rule))
}

// ScanAlertStates calls fn for every stored alert state of the partition,
// in the same key order as ScanPatients. fn must not keep data after it
// returns.
func (b *Batch) ScanAlertStates(fn func(patient, rule string, data []byte) error) error {
	prefix := key(b.partition, kindAlert)
	it, err := b.newIter(prefix, prefixEnd(prefix))
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		rest := it.Key()[len(prefix):]
		patient, rest := readString(rest)
		rule, _ := readString(rest)
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(patient, rule, v); err != nil {
			return err
		}
	}
	return it.Error()
}

func (b *Batch) scanStrings(prefix []byte, fn func(id string, value []byte) error) error {
	it, err := b.newIter(prefix, prefixEnd(prefix))
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		id, _ := readString(it.Key()[len(prefix):])
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(id, v); err != nil {
			return err
		}
	}
	return it.Error()
}

func readString(b []byte) (string, []byte) {
	if len(b) < 2 {
		return "", nil
	}
	n := int(b[0])<<8 | int(b[1])
	if len(b) < 2+n {
		return "", nil
	}
	return string(b[2 : 2+n]), b[2+n:]
}
