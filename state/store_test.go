package state_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/state"
)

// t0 is 10:00 UTC on the test day, in Unix nanoseconds.
var t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC).UnixNano()

func at(offset time.Duration) int64 { return t0 + int64(offset) }

func openStore(tb testing.TB, dir string) *state.Store {
	tb.Helper()
	s, err := state.Open(state.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatalf("Open(%q): %v", dir, err)
	}
	return s
}

// newStore opens a store in a fresh directory that is closed when the test
// ends.
func newStore(tb testing.TB) *state.Store {
	tb.Helper()
	s := openStore(tb, tb.TempDir())
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func commit(tb testing.TB, b *state.Batch) {
	tb.Helper()
	if err := b.Commit(); err != nil {
		tb.Fatalf("Commit: %v", err)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func digest(tb testing.TB, s *state.Store, partition int) string {
	tb.Helper()
	d, err := s.Digest(partition)
	if err != nil {
		tb.Fatalf("Digest(%d): %v", partition, err)
	}
	return d
}

// writeAll writes one of each kind of state to the batch.
func writeAll(tb testing.TB, b *state.Batch) {
	tb.Helper()
	must(tb, b.AddSample("p1", "heart_rate", at(0), 1, 72))
	must(tb, b.SetPatient("p1", []byte("record")))
	must(tb, b.SetProfile("p1", []byte(`{"patient_id":"p1"}`)))
	must(tb, b.SetAlertState("p1", "tachycardia", []byte("firing")))
	_, err := b.MarkSeen("p1", at(0), [16]byte{1})
	must(tb, err)
	must(tb, b.SetOffset("vitals.readings", 43))
	b.AddCounter("accepted", 1)
}

func TestOpenNoDir(t *testing.T) {
	if _, err := state.Open(state.Options{}); err == nil {
		t.Error("Open without a directory succeeded")
	}
}

func TestBatchReadsOwnWrites(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	writeAll(t, b)

	record, ok, err := b.Patient("p1")
	must(t, err)
	if !ok {
		t.Fatal("Patient not found in its own batch")
	}
	if string(record) != "record" {
		t.Errorf("Patient = %q", record)
	}
	when, value, ok, err := b.Latest("p1", "heart_rate", at(time.Hour))
	must(t, err)
	if !ok {
		t.Fatal("Latest not found in its own batch")
	}
	if when != at(0) {
		t.Errorf("Latest at = %d, want %d", when, at(0))
	}
	if value != 72 {
		t.Errorf("Latest value = %v, want 72", value)
	}
	seen, err := b.MarkSeen("p1", at(0), [16]byte{1})
	must(t, err)
	if !seen {
		t.Error("MarkSeen = false for an id marked in the same batch")
	}
	if b.Empty() {
		t.Error("Empty = true after writes")
	}
	offsets, err := s.Offsets(1)
	must(t, err)
	if len(offsets) != 0 {
		t.Errorf("store Offsets before Commit = %v, want none", offsets)
	}
}

func TestBatchEmpty(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	if !b.Empty() {
		t.Error("Empty = false for a new batch")
	}
	b.AddCounter("accepted", 1)
	if b.Empty() {
		t.Error("Empty = true with a pending counter")
	}
}

func TestBatchCloseDiscards(t *testing.T) {
	s := newStore(t)
	empty := digest(t, s, 1)
	b := s.NewBatch(1, false)
	writeAll(t, b)
	b.Close()
	b.Close() // a second Close is safe

	if got := digest(t, s, 1); got != empty {
		t.Errorf("Digest after a discarded batch = %s, want the empty %s", got, empty)
	}
	r := s.NewBatch(1, false)
	defer r.Close()
	_, ok, err := r.Patient("p1")
	must(t, err)
	if ok {
		t.Error("Patient found after its batch was discarded")
	}
	_, _, ok, err = r.Latest("p1", "heart_rate", math.MaxInt64)
	must(t, err)
	if ok {
		t.Error("sample found after its batch was discarded")
	}
	counters, err := s.Counters(1)
	must(t, err)
	if len(counters) != 0 {
		t.Errorf("Counters = %v, want none", counters)
	}
	offsets, err := s.Offsets(1)
	must(t, err)
	if len(offsets) != 0 {
		t.Errorf("Offsets = %v, want none", offsets)
	}
}

func TestStorePersists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	b := s.NewBatch(3, false)
	writeAll(t, b)
	commit(t, b)
	before := digest(t, s, 3)
	must(t, s.Close())

	s = openStore(t, dir)
	defer s.Close()
	if got := digest(t, s, 3); got != before {
		t.Errorf("Digest after reopen = %s, want %s", got, before)
	}
	r := s.NewBatch(3, false)
	defer r.Close()
	record, ok, err := r.Patient("p1")
	must(t, err)
	if !ok {
		t.Fatal("Patient not found after reopen")
	}
	if string(record) != "record" {
		t.Errorf("Patient = %q", record)
	}
	_, value, ok, err := r.Latest("p1", "heart_rate", math.MaxInt64)
	must(t, err)
	if !ok {
		t.Fatal("sample not found after reopen")
	}
	if value != 72 {
		t.Errorf("Latest value = %v, want 72", value)
	}
	offsets, err := s.Offsets(3)
	must(t, err)
	if offsets["vitals.readings"] != 43 {
		t.Errorf("Offsets = %v, want vitals.readings 43", offsets)
	}
	counters, err := s.Counters(3)
	must(t, err)
	if counters["accepted"] != 1 {
		t.Errorf("Counters = %v, want accepted 1", counters)
	}
}

func TestCountersSum(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	b.AddCounter("accepted", 3)
	b.AddCounter("duplicates", 1)
	b.AddCounter("accepted", 2)
	commit(t, b)

	b = s.NewBatch(1, false)
	b.AddCounter("accepted", 4)
	b.AddCounter("rejected", -2)
	commit(t, b)

	b = s.NewBatch(1, false)
	b.AddCounter("accepted", 100)
	b.AddCounter("lost", 1)
	must(t, b.Prepare())
	b.Close()

	b = s.NewBatch(2, false)
	b.AddCounter("accepted", 7)
	commit(t, b)

	got, err := s.Counters(1)
	must(t, err)
	want := map[string]int64{"accepted": 9, "duplicates": 1, "rejected": -2}
	if len(got) != len(want) {
		t.Errorf("Counters(1) = %v, want %v", got, want)
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("Counters(1)[%s] = %d, want %d", name, got[name], n)
		}
	}
	other, err := s.Counters(2)
	must(t, err)
	if len(other) != 1 {
		t.Errorf("Counters(2) = %v, want only accepted", other)
	}
	if other["accepted"] != 7 {
		t.Errorf("Counters(2)[accepted] = %d, want 7", other["accepted"])
	}
}

func TestCountersPrepareTwice(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	b.AddCounter("accepted", 2)
	must(t, b.Prepare())
	b.AddCounter("accepted", 3)
	must(t, b.Prepare())
	commit(t, b)
	got, err := s.Counters(1)
	must(t, err)
	if got["accepted"] != 5 {
		t.Errorf("accepted = %d, want 5", got["accepted"])
	}
}

func TestOffsetsRoundTrip(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(4, false)
	must(t, b.SetOffset("vitals.readings", 0))
	must(t, b.SetOffset("vitals.patients", 1<<40))
	must(t, b.SetOffset("vitals.readings", 17))
	commit(t, b)
	b = s.NewBatch(4, false)
	must(t, b.SetOffset("vitals.rules", 5))
	commit(t, b)

	got, err := s.Offsets(4)
	must(t, err)
	want := map[string]int64{"vitals.readings": 17, "vitals.patients": 1 << 40, "vitals.rules": 5}
	if len(got) != len(want) {
		t.Errorf("Offsets = %v, want %v", got, want)
	}
	for topic, next := range want {
		if got[topic] != next {
			t.Errorf("Offsets[%s] = %d, want %d", topic, got[topic], next)
		}
	}
}

func TestPartitionIsolation(t *testing.T) {
	s := newStore(t)
	empty := digest(t, s, 2)
	b := s.NewBatch(1, false)
	writeAll(t, b)
	commit(t, b)

	if got := digest(t, s, 2); got != empty {
		t.Errorf("Digest(2) = %s, want the empty %s", got, empty)
	}
	if got := digest(t, s, 1); got == empty {
		t.Error("Digest(1) is the empty digest after writes")
	}
	counters, err := s.Counters(2)
	must(t, err)
	if len(counters) != 0 {
		t.Errorf("Counters(2) = %v", counters)
	}
	offsets, err := s.Offsets(2)
	must(t, err)
	if len(offsets) != 0 {
		t.Errorf("Offsets(2) = %v", offsets)
	}
	n, err := s.PatientCount(2)
	must(t, err)
	if n != 0 {
		t.Errorf("PatientCount(2) = %d", n)
	}

	r := s.NewBatch(2, false)
	defer r.Close()
	_, ok, err := r.Patient("p1")
	must(t, err)
	if ok {
		t.Error("partition 2 sees partition 1's patient")
	}
	_, ok, err = r.Profile("p1")
	must(t, err)
	if ok {
		t.Error("partition 2 sees partition 1's profile")
	}
	_, ok, err = r.AlertState("p1", "tachycardia")
	must(t, err)
	if ok {
		t.Error("partition 2 sees partition 1's alert state")
	}
	_, _, ok, err = r.Latest("p1", "heart_rate", math.MaxInt64)
	must(t, err)
	if ok {
		t.Error("partition 2 sees partition 1's sample")
	}
	samples := 0
	must(t, r.Range("p1", "heart_rate", math.MinInt64, math.MaxInt64, func(int64, float64) { samples++ }))
	if samples != 0 {
		t.Errorf("partition 2 Range found %d samples", samples)
	}
	seen, err := r.MarkSeen("p1", at(0), [16]byte{1})
	must(t, err)
	if seen {
		t.Error("partition 2 sees partition 1's dedupe entry")
	}
	patients := 0
	must(t, r.ScanPatients(func(string, []byte) error { patients++; return nil }))
	if patients != 0 {
		t.Errorf("partition 2 ScanPatients found %d", patients)
	}
	alerts := 0
	must(t, r.ScanAlertStates(func(string, string, []byte) error { alerts++; return nil }))
	if alerts != 0 {
		t.Errorf("partition 2 ScanAlertStates found %d", alerts)
	}
}

func TestPartitionDigestBounds(t *testing.T) {
	// Neighbors across a byte boundary of the partition number, and the
	// last partition, whose range must not wrap to partition 0.
	for _, p := range []int{0, 255, 256, 65535} {
		s := newStore(t)
		b := s.NewBatch(p, false)
		writeAll(t, b)
		commit(t, b)
		empty := digest(t, newStore(t), p)
		if digest(t, s, p) == empty {
			t.Errorf("Digest(%d) misses its own writes", p)
		}
		for _, other := range []int{p - 1, p + 1} {
			if other < 0 || other > 65535 {
				continue
			}
			if got := digest(t, s, other); got != empty {
				t.Errorf("Digest(%d) sees writes of partition %d", other, p)
			}
		}
	}
}

// applyWrites applies the same writes to s in batches of the given sizes.
func applyWrites(tb testing.TB, s *state.Store, groups []int, change func(b *state.Batch, step int) error) {
	tb.Helper()
	step := 0
	for _, n := range groups {
		b := s.NewBatch(1, false)
		for range n {
			must(tb, change(b, step))
			step++
		}
		commit(tb, b)
	}
}

func writeStep(b *state.Batch, step int) error {
	b.AddCounter("accepted", 1)
	if err := b.AddSample("p1", "spo2", at(time.Duration(10-step)*time.Minute), uint64(step), float64(90+step)); err != nil {
		return err
	}
	if err := b.SetPatient("p1", []byte{byte(step)}); err != nil {
		return err
	}
	return b.SetOffset("vitals.readings", int64(step+1))
}

func TestDigestBatchGrouping(t *testing.T) {
	one, many := newStore(t), newStore(t)
	applyWrites(t, one, []int{6}, writeStep)
	applyWrites(t, many, []int{1, 2, 3}, writeStep)
	if a, b := digest(t, one, 1), digest(t, many, 1); a != b {
		t.Errorf("Digest after one batch %s, after three %s", a, b)
	}
}

func TestDigestValueChange(t *testing.T) {
	base := func(b *state.Batch) {
		writeAll(t, b)
	}
	s := newStore(t)
	b := s.NewBatch(1, false)
	base(b)
	commit(t, b)
	want := digest(t, s, 1)

	changes := map[string]func(b *state.Batch) error{
		"sample value":  func(b *state.Batch) error { return b.AddSample("p1", "heart_rate", at(0), 1, 72.5) },
		"patient":       func(b *state.Batch) error { return b.SetPatient("p1", []byte("recorD")) },
		"profile":       func(b *state.Batch) error { return b.SetProfile("p1", []byte(`{"patient_id":"p2"}`)) },
		"alert state":   func(b *state.Batch) error { return b.SetAlertState("p1", "tachycardia", []byte("resolved")) },
		"alert deleted": func(b *state.Batch) error { return b.DeleteAlertState("p1", "tachycardia") },
		"offset":        func(b *state.Batch) error { return b.SetOffset("vitals.readings", 44) },
		"counter":       func(b *state.Batch) error { b.AddCounter("accepted", 1); return nil },
		"dedupe":        func(b *state.Batch) error { _, err := b.MarkSeen("p1", at(0), [16]byte{2}); return err },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			b := s.NewBatch(1, false)
			base(b)
			commit(t, b)
			b = s.NewBatch(1, false)
			must(t, change(b))
			commit(t, b)
			if digest(t, s, 1) == want {
				t.Error("Digest unchanged")
			}
		})
	}
}

// testKey builds a state key as keys.go lays it out: 'p', the partition as
// a big-endian uint16, the kind byte, then each part with a uint16 length.
func testKey(partition int, kind byte, parts ...string) []byte {
	k := []byte{'p', byte(partition >> 8), byte(partition), kind}
	for _, p := range parts {
		k = binary.BigEndian.AppendUint16(k, uint16(len(p)))
		k = append(k, p...)
	}
	return k
}

func TestChangesCoalesced(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, true)
	defer b.Close()
	must(t, b.SetPatient("p2", []byte("first")))
	must(t, b.SetPatient("p2", []byte("second")))
	must(t, b.SetAlertState("p1", "fever", []byte("firing")))
	must(t, b.DeleteAlertState("p1", "fever"))
	must(t, b.SetOffset("vitals.readings", 9))
	b.AddCounter("accepted", 2)
	b.AddCounter("accepted", 3)

	if got := b.Changes(); len(got) != 3 {
		t.Errorf("Changes before Prepare has %d entries, want 3 without the counter", len(got))
	}
	must(t, b.Prepare())
	want := []state.Change{
		{Key: testKey(1, 'a', "p1", "fever"), Deleted: true},
		{Key: testKey(1, 'c', "accepted"), Value: binary.BigEndian.AppendUint64(nil, 5)},
		{Key: testKey(1, 'o', "vitals.readings"), Value: binary.BigEndian.AppendUint64(nil, 9)},
		{Key: testKey(1, 'r', "p2"), Value: []byte("second")},
	}
	got := b.Changes()
	if len(got) != len(want) {
		t.Fatalf("Changes has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) {
			t.Errorf("Changes[%d].Key = %q, want %q", i, got[i].Key, want[i].Key)
		}
		if !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("Changes[%d].Value = %q, want %q", i, got[i].Value, want[i].Value)
		}
		if got[i].Deleted != want[i].Deleted {
			t.Errorf("Changes[%d].Deleted = %v, want %v", i, got[i].Deleted, want[i].Deleted)
		}
	}
	sorted := slices.IsSortedFunc(got, func(a, b state.Change) int { return bytes.Compare(a.Key, b.Key) })
	if !sorted {
		t.Error("Changes not in key order")
	}
}

func TestChangesExpiredSamples(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	for i := range 4 {
		must(t, b.AddSample("p1", "spo2", at(time.Duration(i)*time.Hour), uint64(i), 95))
	}
	commit(t, b)
	b = s.NewBatch(1, true)
	defer b.Close()
	n, err := b.ExpireSamples("p1", "spo2", time.Hour)
	must(t, err)
	if n != 2 {
		t.Fatalf("ExpireSamples deleted %d, want 2", n)
	}
	deleted := 0
	for _, c := range b.Changes() {
		if c.Deleted {
			deleted++
		}
	}
	if deleted != 2 {
		t.Errorf("Changes has %d deletions, want 2", deleted)
	}
}

func TestChangesOff(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	writeAll(t, b)
	must(t, b.Prepare())
	if got := b.Changes(); len(got) != 0 {
		t.Errorf("Changes with recording off = %+v, want none", got)
	}
}

func BenchmarkBatchCommit(b *testing.B) {
	s := newStore(b)
	var offset int64
	for b.Loop() {
		batch := s.NewBatch(1, false)
		must(b, batch.AddSample("p1", "heart_rate", at(time.Duration(offset)*time.Second), uint64(offset), 72))
		must(b, batch.SetPatient("p1", []byte("record")))
		must(b, batch.SetOffset("vitals.readings", offset+1))
		batch.AddCounter("accepted", 1)
		must(b, batch.Commit())
		offset++
	}
}
