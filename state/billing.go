package state

import (
	"encoding/binary"
)

// Billing day flags.
const (
	// DayEstimated: every qualifying reading of the day had a time the
	// device estimated.
	DayEstimated byte = 1 << iota
	// DayLate: the day's first reading arrived after its device period
	// had ended.
	DayLate
)

// BillingDay returns the flags of one of a patient's days with data, a
// date counted in days since 1970-01-01 in the patient's zone.
func (b *Batch) BillingDay(patient string, date int32) (flags byte, ok bool, err error) {
	if err := checkLengths(patient); err != nil {
		return 0, false, err
	}
	v, ok, err := b.get(dayKey(b.partition, patient, date))
	if err != nil || !ok || len(v) == 0 {
		return 0, ok, err
	}
	return v[0], true, nil
}

// SetBillingDay records a day with data and its flags.
func (b *Batch) SetBillingDay(patient string, date int32, flags byte) error {
	if err := checkLengths(patient); err != nil {
		return err
	}
	return b.set(dayKey(b.partition, patient, date), []byte{flags})
}

// BillingDays calls fn for each of a patient's days with data in
// [from, to], in date order.
func (b *Batch) BillingDays(patient string, from, to int32, fn func(date int32, flags byte)) error {
	if err := checkLengths(patient); err != nil {
		return err
	}
	prefix := key(b.partition, kindDay, patient)
	lower := binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), uint32(from)^(1<<31))
	upper := prefixEnd(prefix)
	if to < 1<<31-1 {
		upper = binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), uint32(to+1)^(1<<31))
	}
	it, err := b.newIter(lower, upper)
	if err != nil {
		return err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		date := int32(binary.BigEndian.Uint32(k[len(prefix):]) ^ (1 << 31))
		var flags byte
		if v, err := it.ValueAndErr(); err != nil {
			return err
		} else if len(v) > 0 {
			flags = v[0]
		}
		fn(date, flags)
	}
	return it.Error()
}

func dayKey(partition int, patient string, date int32) []byte {
	k := key(partition, kindDay, patient)
	return binary.BigEndian.AppendUint32(k, uint32(date)^(1<<31))
}

// SetCareEvent stores one of a patient's care events (a time entry or a
// claim) under its id; a later event with the id replaces it.
func (b *Batch) SetCareEvent(patient, id string, data []byte) error {
	if err := checkLengths(patient, id); err != nil {
		return err
	}
	return b.set(key(b.partition, kindCare, patient, id), data)
}

// DeleteCareEvent removes a care event.
func (b *Batch) DeleteCareEvent(patient, id string) error {
	if err := checkLengths(patient, id); err != nil {
		return err
	}
	return b.delete(key(b.partition, kindCare, patient, id))
}

// CareEvents calls fn for each of a patient's care events, in id order.
func (b *Batch) CareEvents(patient string, fn func(id string, data []byte) error) error {
	if err := checkLengths(patient); err != nil {
		return err
	}
	prefix := key(b.partition, kindCare, patient)
	return b.scanStrings(prefix, fn)
}

// SentHash returns the hash of the last billing snapshot sent for a
// patient and scope, such as a month.
func (b *Batch) SentHash(patient, scope string) ([]byte, bool, error) {
	if err := checkLengths(patient, scope); err != nil {
		return nil, false, err
	}
	return b.get(key(b.partition, kindSent, patient, scope))
}

// SetSentHash records the hash of a billing snapshot sent.
func (b *Batch) SetSentHash(patient, scope string, hash []byte) error {
	if err := checkLengths(patient, scope); err != nil {
		return err
	}
	return b.set(key(b.partition, kindSent, patient, scope), hash)
}

// CareEvent returns one of a patient's care events.
func (b *Batch) CareEvent(patient, id string) ([]byte, bool, error) {
	if err := checkLengths(patient, id); err != nil {
		return nil, false, err
	}
	return b.get(key(b.partition, kindCare, patient, id))
}
