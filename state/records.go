package state

import (
	"encoding/binary"
	"sort"
	"time"
)

// dayNumber returns the UTC day number of a time in Unix nanoseconds.
// Times before 1970 count as day 0.
func dayNumber(unixNanos int64) uint32 {
	return uint32(max(unixNanos, 0) / int64(24*time.Hour))
}

// hourNumber returns the UTC hour number of a time in Unix nanoseconds.
func hourNumber(unixNanos int64) uint32 {
	return uint32(max(unixNanos, 0) / int64(time.Hour))
}

// Dedupe entries are kept in buckets: one key per patient and UTC hour of
// measurement, whose value is the sorted list of the 8-byte prefixes of
// the identities seen. A bucket is read once and then served from the
// partition cache, where a key per reading would cost a random lookup per
// reading. At 8 bytes an identity, a 1 Hz wearable fills 28 KiB an hour.
func dedupeKey(partition int, patient string, hour uint32) []byte {
	k := key(partition, kindDedupe, patient)
	return binary.BigEndian.AppendUint32(k, hour)
}

// MarkSeen records a reading identity for a patient and reports whether it
// had been recorded before, which makes the reading a duplicate. Two
// identities collide only if their first 8 bytes (of a SHA-256) match
// within one patient-hour.
func (b *Batch) MarkSeen(patient string, measuredAt int64, id [16]byte) (seen bool, err error) {
	if err := checkLengths(patient); err != nil {
		return false, err
	}
	k := dedupeKey(b.partition, patient, hourNumber(measuredAt))
	bucket, _, err := b.get(k)
	if err != nil {
		return false, err
	}
	short := binary.BigEndian.Uint64(id[:8])
	n := len(bucket) / 8
	i := sort.Search(n, func(i int) bool { return binary.BigEndian.Uint64(bucket[i*8:]) >= short })
	if i < n && binary.BigEndian.Uint64(bucket[i*8:]) == short {
		return true, nil
	}
	grown := make([]byte, 0, len(bucket)+8)
	grown = append(grown, bucket[:i*8]...)
	grown = binary.BigEndian.AppendUint64(grown, short)
	grown = append(grown, bucket[i*8:]...)
	b.setDeferred(k, grown)
	return false, nil
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
	upper := binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), dayNumber(before)*24)
	lower := prefix
	if from > 0 && from < before {
		lower = binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), dayNumber(from)*24)
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
	// Buckets created in this batch are not written yet, so the iterator
	// does not see them; dropping them here keeps the outcome independent
	// of where batch boundaries fall.
	for k := range b.deferred {
		if k >= string(lower) && k < string(upper) {
			delete(b.deferred, k)
			doomed = append(doomed, []byte(k))
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
