package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// billingCase is one edge case of billing/testdata/edge: input CSVs, the
// month and today, and the expected decisions per patient.
type billingCase struct {
	Month    string                     `yaml:"month"`
	Today    string                     `yaml:"today"`
	Patients string                     `yaml:"patients"`
	Readings string                     `yaml:"readings"`
	Entries  string                     `yaml:"entries"`
	Claims   string                     `yaml:"claims"`
	Expect   map[string]expectedPatient `yaml:"expect"`
}

type expectedPatient struct {
	Periods []expectedPeriod `yaml:"periods"`
	Month   expectedMonth    `yaml:"month"`
}

// expectedPeriod lists a period's decision. Flags, code and 99453 are
// always compared (absent means none); the other fields only when given.
type expectedPeriod struct {
	Start        string   `yaml:"start"`
	End          string   `yaml:"end"`
	Days         int      `yaml:"days"`
	Code         string   `yaml:"code"`
	Setup99453   bool     `yaml:"setup_99453"`
	Code99091    bool     `yaml:"code_99091"`
	Flags        []string `yaml:"flags"`
	Closed       *bool    `yaml:"closed"`
	Dates        []string `yaml:"dates"`
	Minutes99091 *int     `yaml:"minutes_99091"`
}

type expectedMonth struct {
	Minutes        int            `yaml:"minutes"`
	Interactive    bool           `yaml:"interactive"`
	Codes          []string       `yaml:"codes"`
	Units99458     int            `yaml:"units_99458"`
	Flags          []string       `yaml:"flags"`
	MinutesByStaff map[string]int `yaml:"minutes_by_staff"`
}

func loadBillingCases(t *testing.T) map[string]billingCase {
	t.Helper()
	files, err := filepath.Glob("../../billing/testdata/edge/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no billing edge cases: %v", err)
	}
	out := map[string]billingCase{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c billingCase
		if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".yaml")] = c
	}
	return out
}

// writeCaseFiles writes a case's CSVs and returns the report's arguments.
func writeCaseFiles(t *testing.T, c billingCase) []string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"billing", "report", "--json", "--month", c.Month, "--today", c.Today,
		"--patients", write("patients.csv", c.Patients), "--readings", write("readings.csv", c.Readings)}
	if c.Entries != "" {
		args = append(args, "--time-entries", write("entries.csv", c.Entries))
	}
	if c.Claims != "" {
		args = append(args, "--claims", write("claims.csv", c.Claims))
	}
	return args
}

func checkBillingReport(t *testing.T, want map[string]expectedPatient, got []billing.Report) {
	t.Helper()
	byID := map[string]billing.Report{}
	for _, r := range got {
		byID[r.PatientID] = r
	}
	for id, w := range want {
		r, ok := byID[id]
		if !ok {
			t.Errorf("patient %s missing from the report", id)
			continue
		}
		if len(r.Periods) != len(w.Periods) {
			t.Errorf("%s: %d periods, want %d: %+v", id, len(r.Periods), len(w.Periods), r.Periods)
		} else {
			for i, wp := range w.Periods {
				checkPeriod(t, id, wp, r.Periods[i])
			}
		}
		checkMonth(t, id, w.Month, r.Month)
	}
}

func checkPeriod(t *testing.T, id string, w expectedPeriod, p billing.DevicePeriod) {
	t.Helper()
	where := id + " period " + p.Start.String()
	if p.Start.String() != w.Start || p.End.String() != w.End {
		t.Errorf("%s: runs %s to %s, want %s to %s", where, p.Start, p.End, w.Start, w.End)
	}
	if p.DaysWithReadings != w.Days {
		t.Errorf("%s: %d days with readings, want %d", where, p.DaysWithReadings, w.Days)
	}
	if p.Code != w.Code {
		t.Errorf("%s: device code %q, want %q", where, p.Code, w.Code)
	}
	if p.Setup99453 != w.Setup99453 {
		t.Errorf("%s: 99453 %v, want %v", where, p.Setup99453, w.Setup99453)
	}
	if p.Code99091 != w.Code99091 {
		t.Errorf("%s: 99091 %v, want %v", where, p.Code99091, w.Code99091)
	}
	if !sameSet(p.Flags, w.Flags) {
		t.Errorf("%s: flags %v, want %v", where, p.Flags, w.Flags)
	}
	if w.Closed != nil && p.Closed != *w.Closed {
		t.Errorf("%s: closed %v, want %v", where, p.Closed, *w.Closed)
	}
	if w.Dates != nil {
		var dates []string
		for _, d := range p.Dates {
			dates = append(dates, d.String())
		}
		if !slices.Equal(dates, w.Dates) {
			t.Errorf("%s: dates %v, want %v", where, dates, w.Dates)
		}
	}
	if w.Minutes99091 != nil && p.Minutes99091 != *w.Minutes99091 {
		t.Errorf("%s: 99091 minutes %d, want %d", where, p.Minutes99091, *w.Minutes99091)
	}
}

func checkMonth(t *testing.T, id string, w expectedMonth, m billing.MonthFigures) {
	t.Helper()
	if m.Minutes != w.Minutes {
		t.Errorf("%s month: %d minutes, want %d", id, m.Minutes, w.Minutes)
	}
	if m.Interactive != w.Interactive {
		t.Errorf("%s month: interactive %v, want %v", id, m.Interactive, w.Interactive)
	}
	if !slices.Equal(m.Codes, w.Codes) && !(len(m.Codes) == 0 && len(w.Codes) == 0) {
		t.Errorf("%s month: codes %v, want %v", id, m.Codes, w.Codes)
	}
	if m.Units99458 != w.Units99458 {
		t.Errorf("%s month: %d 99458 units, want %d", id, m.Units99458, w.Units99458)
	}
	if !sameSet(m.Flags, w.Flags) {
		t.Errorf("%s month: flags %v, want %v", id, m.Flags, w.Flags)
	}
	for staff, minutes := range w.MinutesByStaff {
		if m.MinutesByStaff[staff] != minutes {
			t.Errorf("%s month: staff %s has %d minutes, want %d", id, staff, m.MinutesByStaff[staff], minutes)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// TestBillingReportEdgeCases runs every case of billing/testdata/edge
// through `vytalwatch billing report`.
func TestBillingReportEdgeCases(t *testing.T) {
	for name, c := range loadBillingCases(t) {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(writeCaseFiles(t, c), &stdout, &stderr); code != 0 {
				t.Fatalf("billing report exited %d: %s", code, stderr.String())
			}
			var out billingReportOutput
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("decode report: %v\n%s", err, stdout.String())
			}
			checkBillingReport(t, c.Expect, out.Patients)
		})
	}
}

// engineBillingReports streams a case's profiles, readings, time entries
// and claims through the engine and returns the latest snapshot of each
// expected patient's month.
func engineBillingReports(t *testing.T, c billingCase) []billing.Report {
	t.Helper()
	month, err := billing.ParseMonth(c.Month)
	if err != nil {
		t.Fatal(err)
	}
	off, err := engine.NewOffline(engine.Config{}, rules.MustSet(nil), engine.OfflineOptions{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	patients, err := csv.ReadPatients(strings.NewReader(c.Patients))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range patients {
		if err := off.Profile(vytalwatch.PatientProfile{PatientID: p.PatientID, Timezone: p.Timezone, EnrollmentDate: p.EpisodeStart}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(c.Readings))
	if err != nil {
		t.Fatal(err)
	}
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Each reading arrives when it was measured, so none is late.
		measured, _ := time.Parse(time.RFC3339Nano, row.Time)
		if err := off.Reading(row.PatientID, csv.Payload(row, measured), measured); err != nil {
			t.Fatal(err)
		}
	}
	if c.Entries != "" {
		entries, err := csv.ReadTimeEntries(strings.NewReader(c.Entries))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := off.CareEvent(billing.CareEvent{Kind: billing.CareTimeEntry, PatientID: e.PatientID, Entry: &e}, e.StartedAt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.Claims != "" {
		claims, err := csv.ReadClaims(strings.NewReader(c.Claims))
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range claims {
			if err := off.CareEvent(billing.CareEvent{Kind: billing.CareClaim, PatientID: cl.PatientID, Claim: &cl.Claim}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := off.Flush(); err != nil {
		t.Fatal(err)
	}
	if dead := off.DeadLetters(); len(dead) > 0 {
		t.Logf("dead letters: %+v", dead)
	}
	var out []billing.Report
	for id := range c.Expect {
		snap, ok := off.Snapshot(id, month)
		if !ok {
			t.Fatalf("the engine sent no snapshot for %s in %s", id, month)
		}
		out = append(out, snap.Report)
	}
	return out
}

// TestBillingEngineEdgeCases runs every case of billing/testdata/edge
// through the engine: the same decisions as the report, from the stream.
// Whether a period is closed depends on the clock, which snapshots leave
// out, so that field is not compared here.
func TestBillingEngineEdgeCases(t *testing.T) {
	for name, c := range loadBillingCases(t) {
		t.Run(name, func(t *testing.T) {
			want := map[string]expectedPatient{}
			for id, p := range c.Expect {
				periods := make([]expectedPeriod, len(p.Periods))
				for i, per := range p.Periods {
					per.Closed = nil
					periods[i] = per
				}
				want[id] = expectedPatient{Periods: periods, Month: p.Month}
			}
			checkBillingReport(t, want, engineBillingReports(t, c))
		})
	}
}

// TestBillingReportExample checks the README's example in
// examples/billing: p1 has 17 days and 45 minutes with a live call, p2 has
// 9 days (the last at 23:30 on 31 March in New York, 1 April in UTC) and
// 12 minutes without one.
func TestBillingReportExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "billing")
	args := []string{"billing", "report", "--month", "2026-03", "--today", "2026-04-15", "--json",
		"--readings", filepath.Join(dir, "readings.csv"),
		"--time-entries", filepath.Join(dir, "time-entries.csv"),
		"--patients", filepath.Join(dir, "patients.csv")}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("billing report exited %d: %s", code, stderr.String())
	}
	var out billingReportOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("decode report: %v\n%s", err, stdout.String())
	}
	if len(out.Patients) != 2 {
		t.Fatalf("report has %d patients, want 2", len(out.Patients))
	}
	p1, p2 := out.Patients[0], out.Patients[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"p1 days", p1.Periods[0].DaysWithReadings, 17},
		{"p1 device code", p1.Periods[0].Code, billing.Code99454},
		{"p1 setup", p1.Periods[0].Setup99453, true},
		{"p1 minutes", p1.Month.Minutes, 45},
		{"p1 management codes", strings.Join(p1.Month.Codes, " "), "99457 99458"},
		{"p2 days", p2.Periods[0].DaysWithReadings, 9},
		{"p2 device code", p2.Periods[0].Code, billing.Code99445},
		{"p2 management codes", len(p2.Month.Codes), 0},
		{"p2 flags", strings.Join(p2.Month.Flags, " "), billing.FlagNoInteractive},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// A reading measured after the report is made counts no day, as the
// engine rejects it as in the future; an old one still counts.
func TestBillingObservationsRejectFutureReadings(t *testing.T) {
	rows := []csv.Row{
		{PatientID: "px", Time: "2026-03-24T10:00:00Z", Metric: "heart_rate", Value: "70", Unit: "bpm", SourceRowID: "1"},
		{PatientID: "px", Time: "2027-03-24T10:00:00Z", Metric: "heart_rate", Value: "70", Unit: "bpm", SourceRowID: "2"},
	}
	asOf := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	obs := observationsOf(rows, asOf)["px"]
	if len(obs) != 1 {
		t.Fatalf("observations = %+v, want only the 2026 reading", obs)
	}
	if got := obs[0].MeasuredAt.UTC().Format(time.RFC3339); got != "2026-03-24T10:00:00Z" {
		t.Errorf("observation measured at %s, want 2026-03-24T10:00:00Z", got)
	}
}

// A patient with time entries but no row in the patients file is still
// reported, with a warning that names the patient and the fix.
func TestBillingReportWarnsOfUnlistedPatient(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"r.csv": "patient_id,time,metric,value,unit,source_row_id\n",
		"t.csv": "entry_id,patient_id,staff_id,program,started_at,minutes,interactive\ne1,p9,rn1,rpm,2026-03-10T10:00:00Z,25,true\n",
		"p.csv": "patient_id,timezone,episode_start\np1,UTC,2026-03-01\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"billing", "report", "--month", "2026-03", "--today", "2026-04-15", "--json",
		"--readings", filepath.Join(dir, "r.csv"), "--time-entries", filepath.Join(dir, "t.csv"), "--patients", filepath.Join(dir, "p.csv")}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("billing report exited %d: %s", code, stderr.String())
	}
	want := "warning: " + filepath.Join(dir, "p.csv") + ": no row for p9; their days count in each reading's own offset and their minutes in UTC, " +
		"with no enrollment date. Add a row patient_id,timezone,episode_start for each.\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestBillingReportRejectsTodayBeforeMonth(t *testing.T) {
	args := []string{"billing", "report", "--month", "2026-03", "--today", "2026-02-01",
		"--readings", "r.csv", "--patients", "p.csv"}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
	}
	want := "--today 2026-02-01 is before the month 2026-03, so no reading of it could have arrived yet; give a date in or after the month"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
	}
}
