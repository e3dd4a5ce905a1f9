package state_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/state"
)

func markSeen(tb testing.TB, b *state.Batch, patient string, measuredAt int64, id [16]byte) bool {
	tb.Helper()
	seen, err := b.MarkSeen(patient, measuredAt, id)
	if err != nil {
		tb.Fatalf("MarkSeen: %v", err)
	}
	return seen
}

func TestMarkSeen(t *testing.T) {
	s := newStore(t)
	id := [16]byte{0xab, 1}
	b := s.NewBatch(1, false)
	if markSeen(t, b, "p1", at(0), id) {
		t.Error("first MarkSeen = true")
	}
	if !markSeen(t, b, "p1", at(0), id) {
		t.Error("second MarkSeen = false")
	}
	if markSeen(t, b, "p2", at(0), id) {
		t.Error("MarkSeen on another patient = true")
	}
	if markSeen(t, b, "p1", at(0), [16]byte{0xab, 2}) {
		t.Error("MarkSeen of another id = true")
	}
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	if !markSeen(t, b, "p1", at(0), id) {
		t.Error("MarkSeen after commit = false")
	}
}

func TestMarkSeenDiscarded(t *testing.T) {
	s := newStore(t)
	id := [16]byte{7}
	b := s.NewBatch(1, false)
	markSeen(t, b, "p1", at(0), id)
	b.Close()
	b = s.NewBatch(1, false)
	defer b.Close()
	if markSeen(t, b, "p1", at(0), id) {
		t.Error("MarkSeen = true for an id of a discarded batch")
	}
}

func TestExpireSeen(t *testing.T) {
	s := newStore(t)
	day := func(n int, clock time.Duration) int64 { return at(time.Duration(n)*24*time.Hour + clock) }
	entries := []struct {
		measuredAt int64
		id         [16]byte
		kept       bool
	}{
		{day(-2, 0), [16]byte{1}, false},
		{day(-1, 13*time.Hour+59*time.Minute), [16]byte{2}, false}, // 23:59 the day before
		{day(0, -10*time.Hour), [16]byte{3}, true},                 // 00:00 on the cutoff day
		{day(0, 13*time.Hour), [16]byte{4}, true},                  // 23:00 on the cutoff day
		{day(1, 0), [16]byte{5}, true},
	}
	b := s.NewBatch(1, false)
	for _, e := range entries {
		markSeen(t, b, "p1", e.measuredAt, e.id)
		markSeen(t, b, "p2", e.measuredAt, e.id)
	}
	commit(t, b)

	b = s.NewBatch(1, false)
	n, err := b.ExpireSeen("p1", 0, at(2*time.Hour)) // 12:00 on the cutoff day
	must(t, err)
	if n != 2 {
		t.Errorf("ExpireSeen removed %d, want 2", n)
	}
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	for i, e := range entries {
		if got := markSeen(t, b, "p1", e.measuredAt, e.id); got != e.kept {
			t.Errorf("p1 entry %d: seen = %v, want %v", i, got, e.kept)
		}
		if !markSeen(t, b, "p2", e.measuredAt, e.id) {
			t.Errorf("p2 entry %d removed by ExpireSeen of p1", i)
		}
	}
}

func TestPatientRecords(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	must(t, b.SetPatient("p1", []byte("one")))
	must(t, b.SetPatient("p1", []byte("uno")))
	must(t, b.SetPatient("p2", nil))
	must(t, b.SetProfile("p1", []byte(`{"patient_id":"p1"}`)))
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	record, ok, err := b.Patient("p1")
	must(t, err)
	if !ok {
		t.Fatal("Patient(p1) not found")
	}
	if string(record) != "uno" {
		t.Errorf("Patient(p1) = %q, want uno", record)
	}
	_, ok, err = b.Patient("p3")
	must(t, err)
	if ok {
		t.Error("Patient(p3) found")
	}
	profile, ok, err := b.Profile("p1")
	must(t, err)
	if !ok {
		t.Fatal("Profile(p1) not found")
	}
	if string(profile) != `{"patient_id":"p1"}` {
		t.Errorf("Profile(p1) = %q", profile)
	}
	_, ok, err = b.Profile("p2")
	must(t, err)
	if ok {
		t.Error("Profile(p2) found")
	}
	n, err := s.PatientCount(1)
	must(t, err)
	if n != 2 {
		t.Errorf("PatientCount = %d, want 2", n)
	}
}

func TestScanPatientsOrder(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	for _, p := range []string{"ab", "b", "aa", "c"} {
		must(t, b.SetPatient(p, []byte("r-"+p)))
	}
	var got []string
	must(t, b.ScanPatients(func(patient string, record []byte) error {
		if string(record) != "r-"+patient {
			t.Errorf("record of %s = %q", patient, record)
		}
		got = append(got, patient)
		return nil
	}))
	// Ids are length-prefixed in keys, so shorter ids come first.
	want := []string{"b", "c", "aa", "ab"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ScanPatients order = %q, want %q", got, want)
	}
}

func TestScanStopsOnError(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	must(t, b.SetPatient("p1", nil))
	must(t, b.SetPatient("p2", nil))
	stop := errors.New("stop")
	calls := 0
	err := b.ScanPatients(func(string, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) {
		t.Errorf("ScanPatients error = %v, want %v", err, stop)
	}
	if calls != 1 {
		t.Errorf("fn called %d times after an error, want 1", calls)
	}
}

type alertEntry struct{ patient, rule, data string }

func scanAlerts(tb testing.TB, b *state.Batch) []alertEntry {
	tb.Helper()
	var out []alertEntry
	must(tb, b.ScanAlertStates(func(patient, rule string, data []byte) error {
		out = append(out, alertEntry{patient, rule, string(data)})
		return nil
	}))
	return out
}

func checkAlerts(t *testing.T, got, want []alertEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("ScanAlertStates found %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].patient != want[i].patient {
			t.Errorf("entry %d patient = %.40q (%d bytes), want %.40q (%d bytes)", i, got[i].patient, len(got[i].patient), want[i].patient, len(want[i].patient))
		}
		if got[i].rule != want[i].rule {
			t.Errorf("entry %d rule = %q, want %q", i, got[i].rule, want[i].rule)
		}
		if got[i].data != want[i].data {
			t.Errorf("entry %d data = %q, want %q", i, got[i].data, want[i].data)
		}
	}
}

func TestScanAlertStates(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	must(t, b.SetAlertState("p1", "fever", []byte("a")))
	must(t, b.SetAlertState("p1", "hypoxia", []byte("b")))
	must(t, b.SetAlertState("p2", "fever", []byte("c")))
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	must(t, b.DeleteAlertState("p1", "hypoxia"))
	must(t, b.SetAlertState("p2", "bradycardia", []byte("d")))
	checkAlerts(t, scanAlerts(t, b), []alertEntry{
		{"p1", "fever", "a"},
		{"p2", "fever", "c"},
		{"p2", "bradycardia", "d"},
	})
	data, ok, err := b.AlertState("p2", "fever")
	must(t, err)
	if !ok {
		t.Fatal("AlertState(p2, fever) not found")
	}
	if string(data) != "c" {
		t.Errorf("AlertState(p2, fever) = %q", data)
	}
	_, ok, err = b.AlertState("p1", "hypoxia")
	must(t, err)
	if ok {
		t.Error("AlertState(p1, hypoxia) found after delete")
	}
}

func TestUnusualIDs(t *testing.T) {
	odd := "a\x00\xff\x00"
	long := strings.Repeat("x", 60000)
	s := newStore(t)
	b := s.NewBatch(1, false)
	must(t, b.SetAlertState(odd, "fever", []byte("odd")))
	must(t, b.SetAlertState(long, "fever", []byte("long")))
	must(t, b.SetAlertState("a", "\x00\xff", []byte("rule")))
	must(t, b.SetPatient(odd, []byte("odd")))
	must(t, b.SetPatient(long, []byte("long")))
	must(t, b.AddSample(long, "spo2", at(0), 1, 95))
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	checkAlerts(t, scanAlerts(t, b), []alertEntry{
		{"a", "\x00\xff", "rule"},
		{odd, "fever", "odd"},
		{long, "fever", "long"},
	})
	var patients []string
	must(t, b.ScanPatients(func(patient string, _ []byte) error {
		patients = append(patients, patient)
		return nil
	}))
	if len(patients) != 2 {
		t.Fatalf("ScanPatients found %d, want 2", len(patients))
	}
	if patients[0] != odd {
		t.Errorf("first patient = %q, want %q", patients[0], odd)
	}
	if patients[1] != long {
		t.Errorf("second patient has %d bytes, want 60000", len(patients[1]))
	}
	_, value, ok, err := b.Latest(long, "spo2", at(0))
	must(t, err)
	if !ok {
		t.Fatal("Latest of the long id not found")
	}
	if value != 95 {
		t.Errorf("Latest of the long id = %v, want 95", value)
	}
}

func TestKeyTooLong(t *testing.T) {
	long := strings.Repeat("x", 70000)
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	calls := map[string]func() error{
		"SetPatient":        func() error { return b.SetPatient(long, nil) },
		"Patient":           func() error { _, _, err := b.Patient(long); return err },
		"SetProfile":        func() error { return b.SetProfile(long, nil) },
		"Profile":           func() error { _, _, err := b.Profile(long); return err },
		"SetAlertState":     func() error { return b.SetAlertState(long, "r", nil) },
		"SetAlertStateRule": func() error { return b.SetAlertState("p1", long, nil) },
		"AlertState":        func() error { _, _, err := b.AlertState(long, "r"); return err },
		"DeleteAlertState":  func() error { return b.DeleteAlertState(long, "r") },
		"AddSample":         func() error { return b.AddSample(long, "spo2", 0, 0, 1) },
		"AddSampleMetric":   func() error { return b.AddSample("p1", long, 0, 0, 1) },
		"Meta":              func() error { _, _, err := b.Meta(long, "spo2"); return err },
		"Latest":            func() error { _, _, _, err := b.Latest(long, "spo2", 0); return err },
		"Range":             func() error { return b.Range(long, "spo2", 0, 1, func(int64, float64) {}) },
		"ExpireSamples":     func() error { _, err := b.ExpireSamples(long, "spo2", time.Hour); return err },
		"MarkSeen":          func() error { _, err := b.MarkSeen(long, 0, [16]byte{}); return err },
		"ExpireSeen":        func() error { _, err := b.ExpireSeen(long, 0, 0); return err },
		"SetOffset":         func() error { return b.SetOffset(long, 1) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, state.ErrKeyTooLong) {
				t.Errorf("error = %v, want ErrKeyTooLong", err)
			}
		})
	}
	if !b.Empty() {
		t.Error("rejected calls left writes in the batch")
	}
}

func TestCounterNameTooLong(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	b.AddCounter(strings.Repeat("c", 70000), 1)
	if err := b.Commit(); !errors.Is(err, state.ErrKeyTooLong) {
		t.Errorf("Commit error = %v, want ErrKeyTooLong", err)
	}
	counters, err := s.Counters(1)
	must(t, err)
	if len(counters) != 0 {
		t.Errorf("Counters = %d entries after a failed commit, want none", len(counters))
	}
}

func TestKeyMaxLength(t *testing.T) {
	// 65535 bytes is the longest id a key field holds.
	max := strings.Repeat("y", 65535)
	s := newStore(t)
	b := s.NewBatch(1, false)
	must(t, b.SetPatient(max, []byte("max")))
	commit(t, b)
	b = s.NewBatch(1, false)
	defer b.Close()
	record, ok, err := b.Patient(max)
	must(t, err)
	if !ok {
		t.Fatal("Patient with a 65535-byte id not found")
	}
	if string(record) != "max" {
		t.Errorf("Patient = %q, want max", record)
	}
}
