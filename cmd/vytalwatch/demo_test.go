package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/engine"
)

// runDemoOnce runs `vytalwatch demo --once` in process and returns its
// summary and alert events.
func runDemoOnce(t *testing.T, args ...string) (summary, []vytalwatch.AlertEvent) {
	t.Helper()
	dir := t.TempDir()
	sumPath, alertPath := filepath.Join(dir, "s.json"), filepath.Join(dir, "a.jsonl")
	args = append([]string{"demo", "--once", "--now", "2026-03-10T12:00:00Z", "--summary", sumPath, "--alerts", alertPath,
		"--data-dir", filepath.Join(dir, "state")}, args...)
	var stdout, stderr bytes.Buffer
	t.Setenv("VYTALWATCH_LOG_FORMAT", "json")
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("demo exited %d; stderr:\n%s", code, stderr.String())
	}
	var s summary
	data, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(alertPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []vytalwatch.AlertEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return s, events
}

// TestDemoMIMIC checks the demo on the bundled MIMIC-III data. The
// expected counts were derived from vitals.csv by a separate script with
// the same plausibility bounds. 163 values fall outside them: the zeros,
// 11647, 11, SpO2 7-45 and glucose 1350. Among the rest, 553 rows are exact
// duplicates (of the file's 554, one pair is out of range).
func TestDemoMIMIC(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 42,509 readings twice")
	}
	s, events := runDemoOnce(t)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"readings_in", s.ReadingsIn, 42509},
		{"readings_accepted", s.ReadingsAccepted, 41793},
		{"readings_rejected", s.ReadingsRejected, 163},
		{"rejected out_of_range", s.RejectedByReason["out_of_range"], 163},
		{"duplicates", s.Duplicates, 553},
		{"patients", int64(s.Patients), 48},
		{"alert events", int64(len(events)), s.AlertsFired + s.AlertsResolved + s.AlertsRenotified},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	fired := 0
	for _, n := range s.AlertsByRule {
		if n > 0 {
			fired++
		}
	}
	if fired < 5 {
		t.Errorf("alerts fired by %d rules, want at least 5: %v", fired, s.AlertsByRule)
	}
	ids := map[string]bool{}
	for _, ev := range events {
		if ids[ev.EventID] {
			t.Errorf("event %s written twice", ev.EventID)
		}
		ids[ev.EventID] = true
	}

	checkBacktestAgrees(t, s)

	_, again := runDemoOnce(t)
	if len(again) != len(events) {
		t.Fatalf("second run wrote %d events, first %d", len(again), len(events))
	}
	for _, ev := range again {
		if !ids[ev.EventID] {
			t.Errorf("second run has event %s (%s %s %s) that the first did not", ev.EventID, ev.RuleID, ev.Kind, ev.PatientID)
		}
	}
}

// TestDemoCGM runs the BIG IDEAs CGM data. The episode counts come from a
// direct simulation of the two rules over each participant's series
// (level 1: below 70, resolved at 80; level 2: below 54, resolved at 70).
func TestDemoCGM(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 36,898 readings")
	}
	s, _ := runDemoOnce(t, "--file", "bundled:cgm")
	checks := []struct {
		name      string
		got, want int64
	}{
		{"readings_in", s.ReadingsIn, 36898},
		{"readings_accepted", s.ReadingsAccepted, 36898},
		{"readings_rejected", s.ReadingsRejected, 0},
		{"duplicates", s.Duplicates, 0},
		{"patients", int64(s.Patients), 16},
		{"hypoglycemia fired", s.AlertsByRule["hypoglycemia"], 31},
		{"hypoglycemia-severe fired", s.AlertsByRule["hypoglycemia-severe"], 7},
		{"hyperglycemia fired", s.AlertsByRule["hyperglycemia"], 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestDemoFileFlag replays a CSV file given by path, with the optional
// device and measurement id columns.
func TestDemoFileFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.csv")
	csvText := "patient_id,time,metric,value,unit,source_row_id,device_id,measurement_id\n" +
		"a,2026-03-10T08:00:00Z,spo2,88,%,1,ox,m1\n" +
		"a,2026-03-10T08:00:00Z,spo2,88,%,2,ox,m1\n" +
		"a,2026-03-10T09:00:00Z,spo2,96,%,3,ox,m2\n" +
		"b,2026-03-10T08:00:00Z,heart_rate,abc,bpm,4,hr,m1\n"
	if err := os.WriteFile(path, []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	s, events := runDemoOnce(t, "--file", path)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"readings_in", s.ReadingsIn, 4},
		{"readings_accepted", s.ReadingsAccepted, 2},
		{"duplicates", s.Duplicates, 1},
		{"rejected value_not_numeric", s.RejectedByReason["value_not_numeric"], 1},
		{"alert events", int64(len(events)), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.RuleID+" "+ev.Kind)
	}
	if want := []string{"spo2-low fired", "spo2-low resolved"}; !slices.Equal(kinds, want) {
		t.Errorf("events = %q, want %q", kinds, want)
	}
}

// TestDemoKeepsGoodRowsOfABadFile checks that a row that is not valid CSV,
// a bad value and a mistyped year cost only their own rows. The others are
// read, rebased on the patient's real times, and fire their alert. The
// rejections file locates each bad row with a message that names the fix.
func TestDemoKeepsGoodRowsOfABadFile(t *testing.T) {
	dir := t.TempDir()
	path, rejPath := filepath.Join(dir, "v.csv"), filepath.Join(dir, "rejections.jsonl")
	csvText := "patient_id,time,metric,value,unit,source_row_id\n" +
		"a,2026-03-01T10:00:00Z,spo2,88,%,1\n" +
		"a,2026-03-01T10:01:00Z,spo2,87\n" +
		"a,2026-03-01T10:02:00Z,spo2,8\"6,%,3\n" +
		"a,2026-03-01T10:03:00Z,spo2,abc,%,4\n" +
		"a,2096-03-01T10:04:00Z,spo2,97,%,5\n" +
		"a,2026-03-01T10:05:00Z,spo2,96,%,6\n"
	if err := os.WriteFile(path, []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	s, events := runDemoOnce(t, "--file", path, "--rejections", rejPath)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"readings_in", s.ReadingsIn, 6},
		{"readings_accepted", s.ReadingsAccepted, 2},
		{"readings_rejected", s.ReadingsRejected, 4},
		{"rejected malformed_row", s.RejectedByReason["malformed_row"], 2},
		{"rejected value_not_numeric", s.RejectedByReason["value_not_numeric"], 1},
		{"rejected timestamp_in_future", s.RejectedByReason["timestamp_in_future"], 1},
		{"alert events", int64(len(events)), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	data, err := os.ReadFile(rejPath)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"line":3,"reason":"malformed_row","message":"it has 4 fields, but the header has 6; give the row one field per header column, empty where there is no value"}
{"line":4,"reason":"malformed_row","message":"bare \" in non-quoted-field at line 4, column 30; put a field that contains quotes or commas in double quotes, and double each quote inside it"}
{"line":5,"source_row_id":"4","patient_id":"a","reason":"value_not_numeric","field":"value","value":"\"abc\"","message":"value \"abc\" for spo2 is not a JSON number; send a number such as 72"}
{"line":6,"source_row_id":"5","patient_id":"a","reason":"timestamp_in_future","field":"measured_at","value":"2096-03-10T11:59:00Z","message":"measured_at 2096-03-10T11:59:00Z is 613631h59m0s ahead of received_at 2026-03-10T12:00:00Z (at most 10m0s allowed); check the device clock","time_in_file":"2096-03-01T10:04:00Z"}
`
	if string(data) != want {
		t.Errorf("rejections file:\n%s\nwant:\n%s", data, want)
	}
}

// TestDemoBadFlags checks that flag mistakes exit 2 with a message.
func TestDemoBadFlags(t *testing.T) {
	cases := [][]string{
		{"demo", "--now", "yesterday"},
		{"demo", "--partitions", "0"},
		{"demo", "extra"},
		{"nosuchcommand"},
	}
	for _, args := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v exited %d, want 2; stderr %q", args, code, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("%v printed no error", args)
		}
	}
}

// TestDemoRejectsReusedDataDir checks that a second demo on the same state
// directory stops with advice instead of resuming offsets that the new,
// empty broker never had.
func TestDemoRejectsReusedDataDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.csv")
	csvText := "patient_id,time,metric,value,unit,source_row_id\na,2026-03-10T08:00:00Z,spo2,97,%,1\n"
	if err := os.WriteFile(path, []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"demo", "--once", "--file", path, "--data-dir", filepath.Join(dir, "d")}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("first run exited %d; stderr:\n%s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(args, &stdout, &stderr); code != 2 {
		t.Fatalf("second run exited %d, want 2; stderr:\n%s", code, stderr.String())
	}
	if want := "contains the state of an earlier demo run"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", stderr.String(), want)
	}
}

// TestDemoUnwritableOutputs checks that an output file that cannot be
// written stops the demo before it replays anything.
func TestDemoUnwritableOutputs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "out.json")
	for _, flagName := range []string{"--summary", "--alerts"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"demo", "--once", flagName, missing}, &stdout, &stderr); code != 2 {
			t.Errorf("%s %s exited %d, want 2; stderr:\n%s", flagName, missing, code, stderr.String())
		}
		if want := flagName + " " + missing + " cannot be written"; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not say %q", stderr.String(), want)
		}
		if strings.Contains(stderr.String(), "input replayed") {
			t.Errorf("%s: the demo replayed its input before finding the output unwritable", flagName)
		}
	}
}

// checkBacktestAgrees runs `rules backtest` over the same data and checks
// that every rule that does not depend on the clock fired and resolved as
// often as in the demo.
func checkBacktestAgrees(t *testing.T, s summary) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"rules", "backtest", "pack:standard", "--file", "bundled:mimic", "--rebase", "--now", "2026-03-10T12:00:00Z", "--json"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("backtest exited %d: %s", code, stderr.String())
	}
	var rep engine.BacktestReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, r := range rep.Rules {
		if r.ClockDependent {
			continue
		}
		compared++
		if int64(r.Fired) != s.AlertsByRule[r.RuleID] {
			t.Errorf("rule %s: backtest fired %d, demo %d", r.RuleID, r.Fired, s.AlertsByRule[r.RuleID])
		}
		if int64(r.Resolved) != s.ResolvedByRule[r.RuleID] {
			t.Errorf("rule %s: backtest resolved %d, demo %d", r.RuleID, r.Resolved, s.ResolvedByRule[r.RuleID])
		}
	}
	if compared < 9 {
		t.Errorf("compared %d rules, want the 9 rules that do not depend on the clock", compared)
	}
}
