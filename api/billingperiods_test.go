package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

// openLine is a claim line as the review shows it.
type openLine struct {
	billing.ClaimLine
	Open bool `json:"open"`
}

// openRow is a billing row as the review shows it, with open lines.
type openRow struct {
	PatientID string     `json:"patient_id"`
	Status    string     `json:"status"`
	EventID   string     `json:"event_id"`
	Timezone  string     `json:"timezone"`
	Lines     []openLine `json:"lines"`
	OpenLines int        `json:"open_lines"`
	Report    *billing.Report
	Approval  *struct {
		Timezone string     `json:"timezone"`
		Lines    []openLine `json:"lines"`
	} `json:"approval"`
}

// summary returns the row as "patient zone open_lines=N code:open|closed ...".
func (r openRow) summary() string {
	parts := []string{r.PatientID, r.Timezone, fmt.Sprintf("open_lines=%d", r.OpenLines)}
	for _, l := range r.Lines {
		parts = append(parts, l.Code+":"+openWord(l.Open))
	}
	return strings.Join(parts, " ")
}

func openWord(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

// closedPeriods returns the report's periods as "start..end closed=B".
func closedPeriods(rep *billing.Report) string {
	if rep == nil {
		return "no report"
	}
	var parts []string
	for _, p := range rep.Periods {
		parts = append(parts, fmt.Sprintf("%s..%s closed=%t", p.Start, p.End, p.Closed))
	}
	return strings.Join(parts, ", ")
}

// listOpenRows returns the summaries of March's rows, one a line.
func listOpenRows(t *testing.T, e *billingEnv) string {
	t.Helper()
	var page struct {
		Items []openRow `json:"items"`
	}
	res := e.do("GET", "/v1/billing/months/2026-03", e.token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("list: status %d: %s", res.status, res.body)
	}
	res.decode(t, &page)
	var lines []string
	for _, r := range page.Items {
		lines = append(lines, r.summary())
	}
	return strings.Join(lines, "\n")
}

// seedOpenPeriodRows stores March snapshots of 16 days from 1 March
// (device lines for 1 to 30 March) for:
//
//	p1 in America/New_York;
//	p2 in UTC;
//	p3 in UTC with 25 live RPM minutes on 5 March, which bill 99457 for
//	   the whole month;
//	p4 in a time zone that does not exist.
func seedOpenPeriodRows(t *testing.T, e *billingEnv) {
	t.Helper()
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	computedAt := time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC)
	seedReport(t, e.env, "snap-p1", billing.Compute(marchInputs("p1", 16, newYork), march, billing.Config{}, 0), computedAt, 1)
	seedReport(t, e.env, "snap-p2", billing.Compute(marchInputs("p2", 16, time.UTC), march, billing.Config{}, 0), computedAt, 2)
	in := marchInputs("p3", 16, time.UTC)
	in.Entries = []billing.TimeEntry{{ID: "e1", PatientID: "p3", StaffID: "nurse", Program: billing.ProgramRPM,
		StartedAt: time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC), Minutes: 25, Interactive: true}}
	seedReport(t, e.env, "snap-p3", billing.Compute(in, march, billing.Config{}, 0), computedAt, 3)
	unknown := billing.Compute(marchInputs("p4", 16, time.UTC), march, billing.Config{}, 0)
	unknown.Timezone = "Mars/Olympus"
	seedReport(t, e.env, "snap-p4", unknown, computedAt, 4)
}

func TestBillingOpenPeriodsByPatientZone(t *testing.T) {
	t.Parallel()
	// 03:58 UTC on 31 March is 23:58 on 30 March in New York (EDT) and
	// 15:58 on 30 March at UTC-12.
	e := newBillingEnvAt(t, time.Date(2026, 3, 31, 3, 58, 0, 0, time.UTC))
	seedOpenPeriodRows(t, e)

	want := strings.Join([]string{
		"p1 America/New_York open_lines=2 99454:open 99453:open",
		"p2 UTC open_lines=0 99454:closed 99453:closed",
		"p3 UTC open_lines=1 99454:closed 99453:closed 99457:open",
		"p4 Mars/Olympus open_lines=2 99454:open 99453:open",
	}, "\n")
	if got := listOpenRows(t, e); got != want {
		t.Errorf("list =\n%s\nwant\n%s", got, want)
	}

	// The detail has the same lines, and its report's periods are closed
	// as of the clock: the second period runs 31 March to 29 April.
	for patient, want := range map[string]struct{ summary, periods string }{
		"p1": {"p1 America/New_York open_lines=2 99454:open 99453:open", "2026-03-01..2026-03-30 closed=false, 2026-03-31..2026-04-29 closed=false"},
		"p2": {"p2 UTC open_lines=0 99454:closed 99453:closed", "2026-03-01..2026-03-30 closed=true, 2026-03-31..2026-04-29 closed=false"},
	} {
		var row openRow
		res := e.do("GET", "/v1/billing/months/2026-03/patients/"+patient, e.token, nil)
		if res.status != http.StatusOK {
			t.Fatalf("detail of %s: status %d: %s", patient, res.status, res.body)
		}
		res.decode(t, &row)
		if got := row.summary(); got != want.summary {
			t.Errorf("detail of %s = %s, want %s", patient, got, want.summary)
		}
		if got := closedPeriods(row.Report); got != want.periods {
			t.Errorf("report periods of %s = %s, want %s", patient, got, want.periods)
		}
	}

	// Approval of a row with open lines needs allow_open. The refusal
	// comes before the TOTP check, so the code is still good after it.
	approve := func(patient string, allowOpen bool, code string) response {
		t.Helper()
		body := map[string]any{"event_id": "snap-" + patient}
		if allowOpen {
			body["allow_open"] = true
		}
		return e.do("POST", "/v1/billing/months/2026-03/patients/"+patient+"/approve", e.token, body, "X-TOTP-Code", code)
	}
	code := e.clock.nextCode(t, e.secret)
	refusals := map[string]string{
		"p1": "the billing month 2026-03 of patient p1 has claim lines whose period has not ended: 99454 ends on 2026-03-30, 99453 ends on 2026-03-30 " +
			`(dates in America/New_York). Approve it after the period ends on 2026-03-30, or send "allow_open": true to approve it now`,
		"p3": "the billing month 2026-03 of patient p3 has claim lines whose period has not ended: 99457 ends on 2026-03-31 " +
			`(dates in UTC). Approve it after the period ends on 2026-03-31, or send "allow_open": true to approve it now`,
		"p4": "the billing month 2026-03 of patient p4 has claim lines whose period has not ended: 99454 ends on 2026-03-30, 99453 ends on 2026-03-30 " +
			`(dates in UTC-12, because the report's time zone "Mars/Olympus" is unknown). Approve it after the period ends on 2026-03-30, ` +
			`or send "allow_open": true to approve it now`,
	}
	for _, patient := range []string{"p1", "p3", "p4"} {
		res := approve(patient, false, code)
		if res.status != http.StatusConflict {
			t.Errorf("approve %s without allow_open: status %d, want 409: %s", patient, res.status, res.body)
			continue
		}
		if got := res.problem(t).Detail; got != refusals[patient] {
			t.Errorf("approve %s without allow_open: detail\n%s\nwant\n%s", patient, got, refusals[patient])
		}
	}
	res := approve("p1", true, code)
	if res.status != http.StatusOK {
		t.Fatalf("approve p1 with allow_open: status %d: %s", res.status, res.body)
	}
	var approved openRow
	res.decode(t, &approved)
	if approved.Status != "approved" || approved.Approval == nil {
		t.Fatalf("approved p1 = %s with approval %v, want approved", approved.Status, approved.Approval)
	}
	if approved.Approval.Timezone != "America/New_York" || len(approved.Approval.Lines) != 2 || !approved.Approval.Lines[0].Open {
		t.Errorf("p1 approval = %+v, want two open lines in America/New_York", approved.Approval)
	}
	if res := approve("p2", false, e.clock.nextCode(t, e.secret)); res.status != http.StatusOK {
		t.Errorf("approve p2, whose lines are closed, without allow_open: status %d: %s", res.status, res.body)
	}

	// A bulk approval checks allow_open per row.
	res = e.do("POST", bulkApprovePath, e.token, map[string]any{"rows": []bulkRow{
		{PatientID: "p3", EventID: "snap-p3"},
		{PatientID: "p4", EventID: "snap-p4", AllowOpen: true},
	}}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	var bulk bulkResponse
	res.decode(t, &bulk)
	wantBulk := "p3 snap-p3 failed conflict 409 " + refusals["p3"] + "\np4 snap-p4 approved"
	if res.status != http.StatusOK || bulk.outcomes() != wantBulk {
		t.Errorf("bulk approve: status %d, results\n%s\nwant\n%s", res.status, bulk.outcomes(), wantBulk)
	}

	// The export marks the approved lines whose period is open.
	exportOpen := func() string {
		t.Helper()
		res := e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil)
		if res.status != http.StatusOK {
			t.Fatalf("export: status %d: %s", res.status, res.body)
		}
		var cells []string
		for _, line := range strings.Split(strings.TrimSpace(string(res.body)), "\n")[1:] {
			fields := strings.Split(line, ",")
			cells = append(cells, fields[1]+" "+fields[3]+" "+fields[6]+" open="+fields[len(fields)-1])
		}
		return strings.Join(cells, "\n")
	}
	want = strings.Join([]string{
		"p1 99454 2026-03-30 open=true", "p1 99453 2026-03-30 open=true",
		"p2 99454 2026-03-30 open=false", "p2 99453 2026-03-30 open=false",
		"p4 99454 2026-03-30 open=true", "p4 99453 2026-03-30 open=true",
	}, "\n")
	if got := exportOpen(); got != want {
		t.Errorf("export =\n%s\nwant\n%s", got, want)
	}

	// At 04:01 UTC it is 31 March in New York, and 30 March has passed
	// there; at UTC-12 it has not.
	e.clock.set(time.Date(2026, 3, 31, 4, 1, 0, 0, time.UTC))
	want = strings.Join([]string{
		"p1 America/New_York open_lines=0 99454:closed 99453:closed",
		"p2 UTC open_lines=0 99454:closed 99453:closed",
		"p3 UTC open_lines=1 99454:closed 99453:closed 99457:open",
		"p4 Mars/Olympus open_lines=2 99454:open 99453:open",
	}, "\n")
	if got := listOpenRows(t, e); got != want {
		t.Errorf("list at 04:01 UTC =\n%s\nwant\n%s", got, want)
	}
	want = strings.Join([]string{
		"p1 99454 2026-03-30 open=false", "p1 99453 2026-03-30 open=false",
		"p2 99454 2026-03-30 open=false", "p2 99453 2026-03-30 open=false",
		"p4 99454 2026-03-30 open=true", "p4 99453 2026-03-30 open=true",
	}, "\n")
	if got := exportOpen(); got != want {
		t.Errorf("export at 04:01 UTC =\n%s\nwant\n%s", got, want)
	}

	// On 1 April every March line has ended, at UTC-12 too: 12:00 UTC on
	// 1 April is midnight there.
	// The access token has expired by then, so the clerk logs in again.
	e.clock.set(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
	e.token = e.login("clerk@example.org", e.clock.nextCode(t, e.secret)).AccessToken
	if res := approve("p3", false, e.clock.nextCode(t, e.secret)); res.status != http.StatusOK {
		t.Errorf("approve p3 on 1 April without allow_open: status %d: %s", res.status, res.body)
	}
}
