package state_test

import (
	"math"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/state"
)

type sample struct {
	at    int64
	value float64
}

func rangeAll(tb testing.TB, b *state.Batch, patient, metric string, from, to int64) []sample {
	tb.Helper()
	var out []sample
	err := b.Range(patient, metric, from, to, func(at int64, value float64) {
		out = append(out, sample{at, value})
	})
	if err != nil {
		tb.Fatalf("Range: %v", err)
	}
	return out
}

func checkSamples(t *testing.T, got, want []sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// lateWindow commits samples at 10:00, 10:20 and then 10:10, in that
// arrival order.
func lateWindow(t *testing.T) *state.Store {
	t.Helper()
	s := newStore(t)
	b := s.NewBatch(1, false)
	must(t, b.AddSample("p1", "heart_rate", at(0), 1, 70))
	must(t, b.AddSample("p1", "heart_rate", at(20*time.Minute), 2, 90))
	commit(t, b)
	b = s.NewBatch(1, false)
	must(t, b.AddSample("p1", "heart_rate", at(10*time.Minute), 3, 80))
	commit(t, b)
	return s
}

func TestRangeLateSample(t *testing.T) {
	s := lateWindow(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	got := rangeAll(t, b, "p1", "heart_rate", math.MinInt64, math.MaxInt64)
	checkSamples(t, got, []sample{{at(0), 70}, {at(10 * time.Minute), 80}, {at(20 * time.Minute), 90}})
}

func TestRangeInclusive(t *testing.T) {
	s := lateWindow(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	cases := []struct {
		name     string
		from, to int64
		want     []sample
	}{
		{"both ends", at(10 * time.Minute), at(20 * time.Minute), []sample{{at(10 * time.Minute), 80}, {at(20 * time.Minute), 90}}},
		{"one instant", at(10 * time.Minute), at(10 * time.Minute), []sample{{at(10 * time.Minute), 80}}},
		{"ends excluded", at(10*time.Minute) + 1, at(20*time.Minute) - 1, nil},
		{"before all", at(-time.Hour), at(-time.Nanosecond), nil},
		{"from after to", at(20 * time.Minute), at(0), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkSamples(t, rangeAll(t, b, "p1", "heart_rate", tc.from, tc.to), tc.want)
		})
	}
}

func TestLatestAsOf(t *testing.T) {
	s := lateWindow(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	cases := []struct {
		name      string
		asOf      int64
		found     bool
		wantAt    int64
		wantValue float64
	}{
		{"10:15", at(15 * time.Minute), true, at(10 * time.Minute), 80},
		{"10:10 exactly", at(10 * time.Minute), true, at(10 * time.Minute), 80},
		{"10:20 less 1ns", at(20*time.Minute) - 1, true, at(10 * time.Minute), 80},
		{"10:00 exactly", at(0), true, at(0), 70},
		{"09:00", at(-time.Hour), false, 0, 0},
		{"10:00 less 1ns", at(0) - 1, false, 0, 0},
		{"far future", math.MaxInt64, true, at(20 * time.Minute), 90},
		{"10:20 exactly", at(20 * time.Minute), true, at(20 * time.Minute), 90},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			when, value, ok, err := b.Latest("p1", "heart_rate", tc.asOf)
			must(t, err)
			if ok != tc.found {
				t.Fatalf("found = %v, want %v", ok, tc.found)
			}
			if when != tc.wantAt {
				t.Errorf("at = %d, want %d", when, tc.wantAt)
			}
			if value != tc.wantValue {
				t.Errorf("value = %v, want %v", value, tc.wantValue)
			}
		})
	}
}

func TestLatestUnknownMetric(t *testing.T) {
	s := lateWindow(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	_, _, ok, err := b.Latest("p1", "spo2", math.MaxInt64)
	must(t, err)
	if ok {
		t.Error("Latest found a metric without samples")
	}
	_, _, ok, err = b.Latest("p2", "heart_rate", math.MaxInt64)
	must(t, err)
	if ok {
		t.Error("Latest found a patient without samples")
	}
}

func TestMetaLateSample(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	must(t, b.AddSample("p1", "heart_rate", at(0), 1, 70))
	must(t, b.AddSample("p1", "heart_rate", at(20*time.Minute), 2, 90))
	must(t, b.AddSample("p1", "heart_rate", at(10*time.Minute), 3, 80))
	must(t, b.AddSample("p1", "heart_rate", at(-10*time.Minute), 4, 60))
	meta, ok, err := b.Meta("p1", "heart_rate")
	must(t, err)
	if !ok {
		t.Fatal("Meta not found")
	}
	want := state.MetricMeta{LatestAt: at(20 * time.Minute), LatestSeq: 2, LatestValue: 90, OldestAt: at(-10 * time.Minute)}
	if meta != want {
		t.Errorf("Meta = %+v, want %+v", meta, want)
	}
}

func TestSameTimeSeq(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	must(t, b.AddSample("p1", "spo2", at(0), 5, 91))
	must(t, b.AddSample("p1", "spo2", at(0), 7, 93))
	must(t, b.AddSample("p1", "spo2", at(0), 6, 92))

	got := rangeAll(t, b, "p1", "spo2", at(0), at(0))
	checkSamples(t, got, []sample{{at(0), 91}, {at(0), 92}, {at(0), 93}})

	_, value, ok, err := b.Latest("p1", "spo2", at(0))
	must(t, err)
	if !ok {
		t.Fatal("Latest not found")
	}
	if value != 93 {
		t.Errorf("Latest value = %v, want 93 of seq 7", value)
	}

	// With a newer sample present, Latest as of 10:00 seeks the window
	// instead of reading the metadata, and must still pick seq 7.
	must(t, b.AddSample("p1", "spo2", at(time.Minute), 8, 97))
	_, value, ok, err = b.Latest("p1", "spo2", at(30*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("Latest as of 10:00:30 not found")
	}
	if value != 93 {
		t.Errorf("Latest value as of 10:00:30 = %v, want 93 of seq 7", value)
	}
}

func TestWindowKeysSeparate(t *testing.T) {
	// Patient "a" with metric "bc" and patient "ab" with metric "c" must
	// not share a window.
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	must(t, b.AddSample("a", "bc", at(0), 1, 1))
	must(t, b.AddSample("ab", "c", at(0), 1, 2))
	must(t, b.AddSample("a", "b", at(0), 1, 3))
	checkSamples(t, rangeAll(t, b, "a", "bc", math.MinInt64, math.MaxInt64), []sample{{at(0), 1}})
	checkSamples(t, rangeAll(t, b, "ab", "c", math.MinInt64, math.MaxInt64), []sample{{at(0), 2}})
	checkSamples(t, rangeAll(t, b, "a", "b", math.MinInt64, math.MaxInt64), []sample{{at(0), 3}})
}

func TestWindowNegativeTimes(t *testing.T) {
	// Times before 1970 sort before later ones.
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	early := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	must(t, b.AddSample("p1", "weight_kg", at(0), 2, 80))
	must(t, b.AddSample("p1", "weight_kg", early, 1, 70))
	checkSamples(t, rangeAll(t, b, "p1", "weight_kg", math.MinInt64, math.MaxInt64), []sample{{early, 70}, {at(0), 80}})
	when, _, ok, err := b.Latest("p1", "weight_kg", 0)
	must(t, err)
	if !ok {
		t.Fatal("Latest as of 1970 not found")
	}
	if when != early {
		t.Errorf("Latest at = %d, want %d", when, early)
	}
}

// addEvery adds one sample every step from start to end inclusive, with
// the value the sample's minute offset from 10:00.
func addEvery(t *testing.T, b *state.Batch, start, end, step time.Duration) {
	t.Helper()
	seq := uint64(0)
	for d := start; d <= end; d += step {
		seq++
		must(t, b.AddSample("p1", "resp_rate", at(d), seq, d.Minutes()))
	}
}

func TestExpireSamples(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	addEvery(t, b, 0, 3*time.Hour, 15*time.Minute)
	commit(t, b)

	b = s.NewBatch(1, false)
	n, err := b.ExpireSamples("p1", "resp_rate", time.Hour)
	must(t, err)
	if n != 8 {
		t.Errorf("ExpireSamples deleted %d, want 8 (10:00 to 11:45)", n)
	}
	commit(t, b)

	b = s.NewBatch(1, false)
	defer b.Close()
	got := rangeAll(t, b, "p1", "resp_rate", math.MinInt64, math.MaxInt64)
	checkSamples(t, got, []sample{
		{at(120 * time.Minute), 120}, {at(135 * time.Minute), 135}, {at(150 * time.Minute), 150},
		{at(165 * time.Minute), 165}, {at(180 * time.Minute), 180},
	})
	meta, _, err := b.Meta("p1", "resp_rate")
	must(t, err)
	if meta.OldestAt != at(2*time.Hour) {
		t.Errorf("OldestAt = %d, want %d", meta.OldestAt, at(2*time.Hour))
	}
	if meta.LatestAt != at(3*time.Hour) {
		t.Errorf("LatestAt = %d, want %d", meta.LatestAt, at(3*time.Hour))
	}
}

func TestExpireSamplesSlack(t *testing.T) {
	// With a retention of 1h the slack is 1h, so nothing goes until the
	// window spans more than 2h.
	cases := []struct {
		name    string
		span    time.Duration
		deleted int
	}{
		{"1h45m", 105 * time.Minute, 0},
		{"2h exactly", 2 * time.Hour, 0},
		{"2h and 1ns", 2*time.Hour + 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			b := s.NewBatch(1, false)
			defer b.Close()
			must(t, b.AddSample("p1", "resp_rate", at(0), 1, 10))
			// The middle sample sits exactly at the cutoff, which is kept.
			must(t, b.AddSample("p1", "resp_rate", at(tc.span-time.Hour), 2, 11))
			must(t, b.AddSample("p1", "resp_rate", at(tc.span), 3, 12))
			n, err := b.ExpireSamples("p1", "resp_rate", time.Hour)
			must(t, err)
			if n != tc.deleted {
				t.Errorf("ExpireSamples deleted %d, want %d", n, tc.deleted)
			}
			left := len(rangeAll(t, b, "p1", "resp_rate", math.MinInt64, math.MaxInt64))
			if left != 3-tc.deleted {
				t.Errorf("%d samples left, want %d", left, 3-tc.deleted)
			}
		})
	}
}

func TestExpireSamplesUnknown(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	n, err := b.ExpireSamples("p1", "resp_rate", time.Hour)
	must(t, err)
	if n != 0 {
		t.Errorf("ExpireSamples on an empty window deleted %d", n)
	}
}

func TestExpireSamplesOtherMetric(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch(1, false)
	defer b.Close()
	addEvery(t, b, 0, 3*time.Hour, 15*time.Minute)
	must(t, b.AddSample("p1", "spo2", at(0), 1, 95))
	_, err := b.ExpireSamples("p1", "resp_rate", time.Hour)
	must(t, err)
	checkSamples(t, rangeAll(t, b, "p1", "spo2", math.MinInt64, math.MaxInt64), []sample{{at(0), 95}})
}

// dayWindow commits 1440 samples, one a minute over 24 hours.
func dayWindow(b *testing.B) *state.Store {
	s := newStore(b)
	batch := s.NewBatch(1, false)
	for i := range 1440 {
		must(b, batch.AddSample("p1", "heart_rate", at(time.Duration(i)*time.Minute), uint64(i), float64(60+i%40)))
	}
	must(b, batch.Commit())
	return s
}

func BenchmarkAddSample(b *testing.B) {
	s := newStore(b)
	batch := s.NewBatch(1, false)
	defer batch.Close()
	i := 0
	for b.Loop() {
		must(b, batch.AddSample("p1", "heart_rate", at(time.Duration(i)*time.Second), uint64(i), 72))
		i++
	}
}

func BenchmarkLatest(b *testing.B) {
	s := dayWindow(b)
	batch := s.NewBatch(1, false)
	defer batch.Close()
	b.Run("metadata", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok, err := batch.Latest("p1", "heart_rate", math.MaxInt64); err != nil || !ok {
				b.Fatalf("Latest: %v %v", ok, err)
			}
		}
	})
	b.Run("seek", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok, err := batch.Latest("p1", "heart_rate", at(12*time.Hour)); err != nil || !ok {
				b.Fatalf("Latest: %v %v", ok, err)
			}
		}
	})
}

func BenchmarkRange24h(b *testing.B) {
	s := dayWindow(b)
	batch := s.NewBatch(1, false)
	defer batch.Close()
	for b.Loop() {
		n := 0
		must(b, batch.Range("p1", "heart_rate", math.MinInt64, math.MaxInt64, func(int64, float64) { n++ }))
		if n != 1440 {
			b.Fatalf("Range found %d samples, want 1440", n)
		}
	}
}
