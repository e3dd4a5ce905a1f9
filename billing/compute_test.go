package billing_test

import (
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

func date(s string) billing.Date {
	d, err := billing.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestPeriodOf(t *testing.T) {
	start := date("2026-01-15")
	cases := []struct {
		day         string
		index       int
		first, last string
	}{
		{"2026-01-15", 0, "2026-01-15", "2026-02-13"},
		{"2026-02-13", 0, "2026-01-15", "2026-02-13"},
		{"2026-02-14", 1, "2026-02-14", "2026-03-15"},
		{"2026-03-16", 2, "2026-03-16", "2026-04-14"},
		{"2026-01-14", -1, "2025-12-16", "2026-01-14"},
	}
	for _, c := range cases {
		idx, first, last := billing.PeriodOf(start, date(c.day))
		if idx != c.index {
			t.Errorf("%s: index %d, want %d", c.day, idx, c.index)
		}
		if first.String() != c.first || last.String() != c.last {
			t.Errorf("%s: period %s..%s, want %s..%s", c.day, first, last, c.first, c.last)
		}
	}
}

func TestDateOfZone(t *testing.T) {
	la, _ := time.LoadLocation("America/Los_Angeles")
	at := time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC) // 23:30 PST on Mar 3
	if got := billing.DateOf(at, la).String(); got != "2026-03-03" {
		t.Errorf("local date %s, want 2026-03-03", got)
	}
	if got := billing.DateOf(at, time.UTC).String(); got != "2026-03-04" {
		t.Errorf("UTC date %s, want 2026-03-04", got)
	}
}

func TestMonthBounds(t *testing.T) {
	feb, _ := billing.ParseMonth("2026-02")
	if feb.First().String() != "2026-02-01" || feb.Last().String() != "2026-02-28" {
		t.Errorf("February 2026 runs %s..%s", feb.First(), feb.Last())
	}
	if dec, _ := billing.ParseMonth("2026-12"); dec.Next().String() != "2027-01" {
		t.Errorf("the month after 2026-12 is %s", dec.Next())
	}
}

func TestDaysOfExcludes(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	obs := []billing.Observation{
		{MeasuredAt: at("2026-03-02T14:00:00Z"), Metric: "systolic_bp"},
		{MeasuredAt: at("2026-03-03T14:00:00Z"), Metric: "battery_percentage"},
		{MeasuredAt: at("2026-03-04T14:00:00Z"), Metric: "weight_kg", Manual: true},
		{MeasuredAt: at("2026-03-05T14:00:00Z"), Metric: "spo2", Estimated: true},
		{MeasuredAt: at("2026-03-05T16:00:00Z"), Metric: "spo2", Estimated: true},
		{MeasuredAt: at("2026-03-06T14:00:00Z"), Metric: "spo2", Estimated: true},
		{MeasuredAt: at("2026-03-06T15:00:00Z"), Metric: "heart_rate"},
	}
	days := billing.DaysOf(obs, ny)
	want := []billing.DayRecord{
		{Date: date("2026-03-02")},
		{Date: date("2026-03-05"), Estimated: true},
		{Date: date("2026-03-06")},
	}
	if len(days) != len(want) {
		t.Fatalf("days %+v, want %+v", days, want)
	}
	for i := range want {
		if days[i] != want[i] {
			t.Errorf("day %d: %+v, want %+v", i, days[i], want[i])
		}
	}
}

func TestLateFlagReachesPeriod(t *testing.T) {
	in := billing.Inputs{PatientID: "p1", EpisodeStart: date("2026-03-01"), HasEpisodeStart: true,
		Days: []billing.DayRecord{{Date: date("2026-03-02")}, {Date: date("2026-03-29"), Late: true}}}
	m, _ := billing.ParseMonth("2026-03")
	rep := billing.Compute(in, m, billing.Config{}, date("2026-04-02"))
	p := rep.Periods[0]
	if len(p.Flags) != 1 || p.Flags[0] != billing.FlagLateReading {
		t.Errorf("flags %v, want [%s]", p.Flags, billing.FlagLateReading)
	}
	if !p.Closed {
		t.Error("the period ended before today but is not closed")
	}
}

func TestPrefer99091(t *testing.T) {
	start := time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC)
	in := billing.Inputs{PatientID: "p1", EpisodeStart: date("2026-03-01"), HasEpisodeStart: true,
		Entries: []billing.TimeEntry{
			{ID: "a", StaffID: "md", Program: billing.Program99091, StartedAt: start, Minutes: 35},
			{ID: "b", StaffID: "rn", Program: billing.ProgramRPM, StartedAt: start.Add(24 * time.Hour), Minutes: 22, Interactive: true},
		}}
	m, _ := billing.ParseMonth("2026-03")
	rep := billing.Compute(in, m, billing.Config{Prefer99091: true}, date("2026-04-15"))
	if !rep.Periods[0].Code99091 {
		t.Error("99091 not billed with the practice preferring it")
	}
	if len(rep.Month.Codes) != 0 {
		t.Errorf("management codes %v billed with 99091", rep.Month.Codes)
	}
}

func TestCap99458Configurable(t *testing.T) {
	in := billing.Inputs{PatientID: "p1", Entries: []billing.TimeEntry{
		{ID: "a", StaffID: "rn", Program: billing.ProgramRPM, StartedAt: time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC), Minutes: 80, Interactive: true},
	}, Days: []billing.DayRecord{{Date: date("2026-03-05")}}}
	m, _ := billing.ParseMonth("2026-03")
	rep := billing.Compute(in, m, billing.Config{MaxUnits99458: 2}, date("2026-04-15"))
	if rep.Month.Units99458 != 2 {
		t.Errorf("%d units with a cap of 2", rep.Month.Units99458)
	}
	if len(rep.Month.Flags) != 1 || rep.Month.Flags[0] != billing.Flag99458Capped {
		t.Errorf("flags %v, want [%s]", rep.Month.Flags, billing.Flag99458Capped)
	}
}
