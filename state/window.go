package state

import (
	"encoding/binary"
	"time"
)

// MetricMeta summarizes one patient's window of one metric.
type MetricMeta struct {
	// LatestAt and LatestValue are of the newest sample by event time; among
	// samples with the same time, the one with the highest sequence number.
	LatestAt    int64
	LatestSeq   uint64
	LatestValue float64
	// OldestAt is a lower bound of the oldest stored sample's time.
	OldestAt int64
}

func encodeMeta(m MetricMeta) []byte {
	b := make([]byte, 0, 32)
	b = binary.BigEndian.AppendUint64(b, uint64(m.LatestAt))
	b = binary.BigEndian.AppendUint64(b, m.LatestSeq)
	b = append(b, encodeFloat(m.LatestValue)...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.OldestAt))
	return b
}

func decodeMeta(b []byte) MetricMeta {
	return MetricMeta{
		LatestAt:    int64(binary.BigEndian.Uint64(b[0:])),
		LatestSeq:   binary.BigEndian.Uint64(b[8:]),
		LatestValue: decodeFloat(b[16:]),
		OldestAt:    int64(binary.BigEndian.Uint64(b[24:])),
	}
}

func sampleKey(partition int, patient, metric string, at int64, seq uint64) []byte {
	k := key(partition, kindSample, patient, metric)
	k = appendTime(k, at)
	return binary.BigEndian.AppendUint64(k, seq)
}

// Meta returns the window metadata of a patient's metric.
func (b *Batch) Meta(patient, metric string) (MetricMeta, bool, error) {
	if err := checkLengths(patient, metric); err != nil {
		return MetricMeta{}, false, err
	}
	v, ok, err := b.get(key(b.partition, kindMeta, patient, metric))
	if err != nil || !ok {
		return MetricMeta{}, false, err
	}
	return decodeMeta(v), true, nil
}

// AddSample inserts a sample into a patient's window of a metric at its
// event time, so a late sample lands in place. seq breaks ties between
// samples with the same time; pass the input offset so replays give the
// same keys.
func (b *Batch) AddSample(patient, metric string, at int64, seq uint64, value float64) error {
	if err := checkLengths(patient, metric); err != nil {
		return err
	}
	if err := b.set(sampleKey(b.partition, patient, metric, at, seq), encodeFloat(value)); err != nil {
		return err
	}
	meta, ok, err := b.Meta(patient, metric)
	if err != nil {
		return err
	}
	if !ok {
		meta = MetricMeta{LatestAt: at, LatestSeq: seq, LatestValue: value, OldestAt: at}
	} else {
		if at > meta.LatestAt || (at == meta.LatestAt && seq >= meta.LatestSeq) {
			meta.LatestAt, meta.LatestSeq, meta.LatestValue = at, seq, value
		}
		if at < meta.OldestAt {
			meta.OldestAt = at
		}
	}
	return b.set(key(b.partition, kindMeta, patient, metric), encodeMeta(meta))
}

// Latest returns the newest sample of a patient's metric at or before
// asOf (Unix nanoseconds).
func (b *Batch) Latest(patient, metric string, asOf int64) (at int64, value float64, ok bool, err error) {
	meta, found, err := b.Meta(patient, metric)
	if err != nil || !found {
		return 0, 0, false, err
	}
	if meta.LatestAt <= asOf {
		return meta.LatestAt, meta.LatestValue, true, nil
	}
	prefix := key(b.partition, kindSample, patient, metric)
	it, err := b.newIter(prefix, prefixEnd(prefix))
	if err != nil {
		return 0, 0, false, err
	}
	defer it.Close()
	upper := appendTime(append([]byte(nil), prefix...), asOf+1)
	if !it.SeekLT(upper) {
		return 0, 0, false, it.Error()
	}
	k := it.Key()
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, 0, false, err
	}
	return decodeTime(k[len(prefix):]), decodeFloat(v), true, nil
}

// Range calls fn for each sample of a patient's metric with from <= at <=
// to, in time order.
func (b *Batch) Range(patient, metric string, from, to int64, fn func(at int64, value float64)) error {
	if err := checkLengths(patient, metric); err != nil {
		return err
	}
	prefix := key(b.partition, kindSample, patient, metric)
	lower := appendTime(append([]byte(nil), prefix...), from)
	upper := prefixEnd(prefix)
	if to < (1<<63)-1 {
		upper = appendTime(append([]byte(nil), prefix...), to+1)
	}
	it, err := b.newIter(lower, upper)
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		fn(decodeTime(it.Key()[len(prefix):]), decodeFloat(v))
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return err
	}
	return it.Close()
}

// ExpireSamples deletes a patient's samples of a metric that are older
// than retention before the newest one. It does the work only once the
// window holds noticeably more than retention (a quarter more, at least an
// hour), so that steady input does not delete on every sample.
func (b *Batch) ExpireSamples(patient, metric string, retention time.Duration) (int, error) {
	meta, ok, err := b.Meta(patient, metric)
	if err != nil || !ok {
		return 0, err
	}
	slack := retention / 4
	if slack < time.Hour {
		slack = time.Hour
	}
	cutoff := meta.LatestAt - int64(retention)
	if meta.OldestAt >= cutoff-int64(slack) {
		return 0, nil
	}
	prefix := key(b.partition, kindSample, patient, metric)
	// Every stored sample is at or after OldestAt; starting there skips the
	// deletion markers of earlier expiries.
	lower := appendTime(append([]byte(nil), prefix...), meta.OldestAt)
	upper := appendTime(append([]byte(nil), prefix...), cutoff)
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
	meta.OldestAt = cutoff
	return len(doomed), b.set(key(b.partition, kindMeta, patient, metric), encodeMeta(meta))
}
