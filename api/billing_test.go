package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/engine"
)

var march = billing.Month{Year: 2026, Month: time.March}

// billingNow is the server clock's start in billing tests: 10 April
// 2026, after every March period has ended.
var billingNow = time.Date(2026, time.April, 10, 12, 0, 0, 0, time.UTC)

// exportHeader is the header line of a billing export.
const exportHeader = "month,patient_id,status,code,units,period_start,period_end,days_with_readings,minutes,flags,approved_event_id,approved_by,approved_at,open\n"

// stepClock is the server's clock in billing tests. nextCode moves it on
// by one TOTP step, so every code a test sends is fresh and current.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// set moves the clock to now.
func (c *stepClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// nextCode moves the clock on by 30 seconds and returns the secret's
// code at the new time.
func (c *stepClock) nextCode(t *testing.T, secret string) string {
	t.Helper()
	c.mu.Lock()
	c.now = c.now.Add(30 * time.Second)
	at := c.now
	c.mu.Unlock()
	code, err := api.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// billingEnv is an API with a billing user, clerk@example.org, who
// logged in before enrolling TOTP, so the test spends no code on the
// login.
type billingEnv struct {
	*env
	clock  *stepClock
	clerk  store.User
	token  string
	secret string
}

// newBillingEnv returns a billingEnv whose clock starts at billingNow.
func newBillingEnv(t *testing.T) *billingEnv {
	t.Helper()
	return newBillingEnvAt(t, billingNow)
}

// newBillingEnvAt returns a billingEnv whose clock starts at now.
func newBillingEnvAt(t *testing.T, now time.Time) *billingEnv {
	t.Helper()
	clock := &stepClock{now: now}
	e := &billingEnv{env: newEnv(t, envOptions{now: clock.Now}), clock: clock}
	e.clerk = e.user("clerk@example.org", "billing")
	e.token = e.login("clerk@example.org", "").AccessToken
	e.secret = e.enrollTOTP(e.clerk)
	return e
}

// user creates a user whose password dates from an hour before the
// clock's start. The server rejects a token issued before the password's
// last change, and the fixed clock may lie before the database's now().
func (e *billingEnv) user(email, role string) store.User {
	e.t.Helper()
	u := e.env.user(email, role)
	changed := e.clock.Now().Add(-time.Hour)
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE users SET password_changed_at = $2 WHERE id = $1`, u.ID, changed); err != nil {
		e.t.Fatal(err)
	}
	u.PasswordChangedAt = changed
	return u
}

// seedSnapshot stores a March snapshot for a patient with days days with
// readings from 1 March, the episode start, as the billing sink would.
// It returns the snapshot's event id, snap-<patient>-<days>.
func seedSnapshot(t *testing.T, e *env, patient string, days int, computedAt time.Time, offset int64) string {
	t.Helper()
	rep := billing.Compute(marchInputs(patient, days, time.UTC), march, billing.Config{}, 0)
	return seedReport(t, e, fmt.Sprintf("snap-%s-%d", patient, days), rep, computedAt, offset)
}

// marchInputs returns the billing inputs of a patient in loc with days
// days with readings from 1 March, the episode start.
func marchInputs(patient string, days int, loc *time.Location) billing.Inputs {
	in := billing.Inputs{PatientID: patient, Location: loc, EpisodeStart: march.First(), HasEpisodeStart: true}
	for i := range days {
		in.Days = append(in.Days, billing.DayRecord{Date: march.First() + billing.Date(i)})
	}
	return in
}

// seedReport stores a March snapshot of a report with the event id, as
// the billing sink would, and returns the event id.
func seedReport(t *testing.T, e *env, eventID string, rep billing.Report, computedAt time.Time, offset int64) string {
	t.Helper()
	patient := rep.PatientID
	snap := billing.Snapshot{EventID: eventID, Kind: billing.SnapshotKind, PatientID: patient, Month: march, Report: rep, ComputedAt: computedAt}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	msg := engine.Message{Topic: engine.DefaultTopics().BillingEvents, Key: []byte(patient), Offset: offset, Value: data}
	if err := e.db.ApplyBillingEvents(context.Background(), []engine.Message{msg}); err != nil {
		t.Fatal(err)
	}
	return snap.EventID
}

// billingDetail is the response of a month's detail and of a review.
type billingDetail struct {
	store.BillingMonth
	Reviews []store.BillingReview `json:"reviews"`
}

type billingPage struct {
	Month      string               `json:"month"`
	Items      []store.BillingMonth `json:"items"`
	NextCursor string               `json:"next_cursor"`
}

// lineCodes returns the lines as "code xunits days=N minutes=M" strings.
func lineCodes(lines []billing.ClaimLine) string {
	parts := []string{}
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%s x%d days=%d minutes=%d", l.Code, l.Units, l.Days, l.Minutes))
	}
	return strings.Join(parts, ", ")
}

// patientIDs returns the rows' patient ids, comma-separated.
func patientIDs(rows []store.BillingMonth) string {
	ids := []string{}
	for _, r := range rows {
		ids = append(ids, r.PatientID)
	}
	return strings.Join(ids, ",")
}

const (
	lines16Days = "99454 x1 days=16 minutes=0, 99453 x1 days=16 minutes=0"
	lines15Days = "99445 x1 days=15 minutes=0, 99453 x1 days=15 minutes=0"
)

func TestBillingListApproveAndExport(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	t0 := time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)
	seedSnapshot(t, e.env, "p3", 16, t0, 1)
	seedSnapshot(t, e.env, "p1", 16, t0, 2)
	seedSnapshot(t, e.env, "p2", 3, t0, 3)

	// Two pages by patient id.
	var page billingPage
	res := e.do("GET", "/v1/billing/months/2026-03?limit=2", e.token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("list: status %d: %s", res.status, res.body)
	}
	res.decode(t, &page)
	if page.Month != "2026-03" {
		t.Errorf("page month = %q, want 2026-03", page.Month)
	}
	if got := patientIDs(page.Items); got != "p1,p2" {
		t.Fatalf("first page = %s, want p1,p2", got)
	}
	if page.NextCursor == "" {
		t.Fatal("first page has no next_cursor")
	}
	p1 := page.Items[0]
	if p1.Status != "pending" || p1.EventID != "snap-p1-16" || p1.Month != march {
		t.Errorf("p1 row = %s %s %s, want pending snap-p1-16 2026-03", p1.Status, p1.EventID, p1.Month)
	}
	if got := lineCodes(p1.Lines); got != lines16Days {
		t.Errorf("p1 lines = %s, want %s", got, lines16Days)
	}
	if p1.Flags == nil || len(p1.Flags) != 0 {
		t.Errorf("p1 flags = %#v, want an empty list", p1.Flags)
	}
	if p1.Report != nil || p1.Approval != nil {
		t.Errorf("listed p1 has report %v and approval %v, want neither", p1.Report, p1.Approval)
	}
	if got := lineCodes(page.Items[1].Lines); got != "99445 x1 days=3 minutes=0, 99453 x1 days=3 minutes=0" {
		t.Errorf("p2 lines = %s, want 99445 and 99453 for 3 days", got)
	}
	page = billingPage{}
	e.do("GET", "/v1/billing/months/2026-03?limit=2&cursor="+url.QueryEscape(p1Cursor(t, e)), e.token, nil).decode(t, &page)
	if got := patientIDs(page.Items); got != "p2,p3" {
		t.Errorf("page after p1 = %s, want p2,p3", got)
	}
	if page.NextCursor != "" {
		t.Errorf("last page next_cursor = %q, want none", page.NextCursor)
	}

	// Approve p1 and reject p3.
	code := e.clock.nextCode(t, e.secret)
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p1/approve", e.token, map[string]string{"event_id": "snap-p1-16"}, "X-TOTP-Code", code)
	if res.status != http.StatusOK {
		t.Fatalf("approve: status %d: %s", res.status, res.body)
	}
	var approved billingDetail
	res.decode(t, &approved)
	if approved.Status != "approved" || approved.Approval == nil {
		t.Fatalf("approved = %s with approval %v, want approved", approved.Status, approved.Approval)
	}
	a := approved.Approval
	if a.EventID != "snap-p1-16" || a.By != e.clerk.ID || a.ByEmail != "clerk@example.org" || lineCodes(a.Lines) != lines16Days {
		t.Errorf("approval = %s by %s %s lines %s, want snap-p1-16 by the clerk with %s", a.EventID, a.By, a.ByEmail, lineCodes(a.Lines), lines16Days)
	}
	if a.Report != nil {
		t.Error("an approved row repeats the report as the approved report, want it only for corrections")
	}
	if len(approved.Reviews) != 1 || approved.Reviews[0].Action != "approve" || approved.Reviews[0].UserEmail != "clerk@example.org" {
		t.Errorf("reviews = %+v, want one approval by the clerk", approved.Reviews)
	}
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p3/reject", e.token, map[string]string{"event_id": "snap-p3-16", "reason": "  no consent on file "})
	if res.status != http.StatusOK {
		t.Fatalf("reject: status %d: %s", res.status, res.body)
	}
	var rejected billingDetail
	res.decode(t, &rejected)
	if rejected.Status != "rejected" || rejected.Rejection == nil || rejected.Rejection.Reason != "no consent on file" || rejected.Rejection.ByEmail != "clerk@example.org" {
		t.Errorf("rejected = %s %+v, want rejected by the clerk for no consent on file", rejected.Status, rejected.Rejection)
	}

	// The status filter.
	for status, want := range map[string]string{"approved": "p1", "pending": "p2", "rejected": "p3", "correction": ""} {
		page = billingPage{}
		e.do("GET", "/v1/billing/months/2026-03?status="+status, e.token, nil).decode(t, &page)
		if got := patientIDs(page.Items); got != want {
			t.Errorf("status %s lists %q, want %q", status, got, want)
		}
	}

	// The export has p1's two lines only.
	res = e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("export: status %d: %s", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("export content type = %q, want text/csv; charset=utf-8", ct)
	}
	if cd := res.header.Get("Content-Disposition"); cd != `attachment; filename="billing-2026-03.csv"` {
		t.Errorf("export content disposition = %q", cd)
	}
	at := a.At.UTC().Format(time.RFC3339)
	want := exportHeader +
		"2026-03,p1,approved,99454,1,2026-03-01,2026-03-30,16,,,snap-p1-16,clerk@example.org," + at + ",false\n" +
		"2026-03,p1,approved,99453,1,2026-03-01,2026-03-30,16,,,snap-p1-16,clerk@example.org," + at + ",false\n"
	if string(res.body) != want {
		t.Errorf("export =\n%q\nwant\n%q", res.body, want)
	}

	// Reads and reviews are audited per patient; the login came first.
	var actions []string
	for _, r := range e.auditRecords()[1:] {
		patient := "-"
		if r.PatientID != nil {
			patient = *r.PatientID
		}
		actions = append(actions, r.Action+" "+patient+" "+r.Outcome)
		if r.ResourceType != "billing_month" || r.ResourceID != "2026-03" || r.ActorRole != "billing" {
			t.Errorf("audit record %s on %s %s by %s, want billing_month 2026-03 by billing", r.Action, r.ResourceType, r.ResourceID, r.ActorRole)
		}
	}
	wantActions := []string{
		"billing.month.list p1 allowed", "billing.month.list p2 allowed", // first page
		"billing.month.list p1 allowed",                                  // p1Cursor's page of one
		"billing.month.list p2 allowed", "billing.month.list p3 allowed", // second page
		"billing.month.approve p1 allowed", "billing.month.reject p3 allowed",
	}
	if got := strings.Join(actions[:len(wantActions)], "; "); got != strings.Join(wantActions, "; ") {
		t.Errorf("audit =\n%s\nwant\n%s", got, strings.Join(wantActions, "; "))
	}
	if last := actions[len(actions)-1]; last != "billing.month.export p1 allowed" {
		t.Errorf("last audit record = %s, want the export of p1", last)
	}
}

// p1Cursor returns the cursor that continues a listing after p1, taken
// from a page of one row.
func p1Cursor(t *testing.T, e *billingEnv) string {
	t.Helper()
	var page billingPage
	e.do("GET", "/v1/billing/months/2026-03?limit=1", e.token, nil).decode(t, &page)
	if patientIDs(page.Items) != "p1" || page.NextCursor == "" {
		t.Fatalf("page of one = %s cursor %q, want p1 and a cursor", patientIDs(page.Items), page.NextCursor)
	}
	return page.NextCursor
}

func TestBillingApproveNeedsFreshTOTP(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	seedSnapshot(t, e.env, "p1", 16, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 1)
	approve := map[string]string{"event_id": "snap-p1-16"}
	path := "/v1/billing/months/2026-03/patients/p1/approve"

	// A billing user without TOTP gets the steps to enroll.
	e.user("plain@example.org", "billing")
	plain := e.login("plain@example.org", "").AccessToken
	res := e.do("POST", path, plain, approve, "X-TOTP-Code", "123456")
	if res.status != http.StatusForbidden {
		t.Fatalf("approve without TOTP enrolled: status %d, want 403: %s", res.status, res.body)
	}
	if p := res.problem(t); !strings.Contains(p.Detail, "POST /v1/auth/totp/enroll") || !strings.Contains(p.Detail, "POST /v1/auth/totp/confirm") {
		t.Errorf("detail %q does not say how to enroll", p.Detail)
	}

	res = e.do("POST", path, e.token, approve)
	if res.status != http.StatusForbidden {
		t.Fatalf("approve without a code: status %d, want 403: %s", res.status, res.body)
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/step-up-required" || !strings.Contains(p.Detail, "X-TOTP-Code") {
		t.Errorf("problem = %s %q, want step-up-required naming X-TOTP-Code", p.Type, p.Detail)
	}
	res = e.do("POST", path, e.token, approve, "X-TOTP-Code", wrongCode(t, e.secret, e.clock.Now()))
	if res.status != http.StatusForbidden {
		t.Fatalf("approve with a wrong code: status %d, want 403: %s", res.status, res.body)
	}
	if p := res.problem(t); !strings.Contains(p.Detail, "wrong, expired or already used") {
		t.Errorf("detail %q, want wrong, expired or already used", p.Detail)
	}
	if b, _ := e.db.GetBillingMonth(context.Background(), march, "p1"); b.Status != "pending" {
		t.Errorf("after refused approvals the month is %s, want pending", b.Status)
	}

	// A code works once.
	code := e.clock.nextCode(t, e.secret)
	if res := e.do("POST", path, e.token, approve, "X-TOTP-Code", code); res.status != http.StatusOK {
		t.Fatalf("approve with a fresh code: status %d: %s", res.status, res.body)
	}
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p1/reject", e.token, map[string]string{"event_id": "snap-p1-16", "reason": "duplicate"},
		"X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("reject: status %d: %s", res.status, res.body)
	}
	res = e.do("POST", path, e.token, approve, "X-TOTP-Code", code)
	if res.status != http.StatusForbidden {
		t.Errorf("approve with a used code: status %d, want 403: %s", res.status, res.body)
	}

	// The refusals are audited as denied.
	denied := 0
	for _, r := range e.auditRecords() {
		if r.Action == "billing.month.approve" && r.Outcome == store.OutcomeDenied {
			denied++
		}
	}
	if denied != 4 {
		t.Errorf("%d denied approvals audited, want 4 (not enrolled, no code, wrong code, used code)", denied)
	}
}

func TestBillingRejectOfApprovalNeedsFreshTOTP(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)
	for i, p := range []string{"p1", "p2", "p3", "p4", "p5"} {
		seedSnapshot(t, e.env, p, 15, t0, int64(i))
	}
	for _, p := range []string{"p1", "p5"} {
		if _, err := e.db.ApproveBillingMonth(ctx, march, p, e.clerk.ID, "snap-"+p+"-15"); err != nil {
			t.Fatal(err)
		}
	}
	// A late reading turns p5 into a correction.
	seedSnapshot(t, e.env, "p5", 16, t0.Add(time.Hour), 5)
	reject := func(patient, eventID string, headers ...string) response {
		t.Helper()
		return e.do("POST", "/v1/billing/months/2026-03/patients/"+patient+"/reject", e.token,
			map[string]string{"event_id": eventID, "reason": "no consent on file"}, headers...)
	}
	status := func(patient string) string {
		t.Helper()
		b, err := e.db.GetBillingMonth(ctx, march, patient)
		if err != nil {
			t.Fatal(err)
		}
		return b.Status
	}

	// An approval and a correction need a code to be rejected.
	res := reject("p1", "snap-p1-15")
	if res.status != http.StatusForbidden {
		t.Fatalf("reject of an approval without a code: status %d, want 403: %s", res.status, res.body)
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/step-up-required" || !strings.Contains(p.Detail, "X-TOTP-Code") {
		t.Errorf("problem = %s %q, want step-up-required naming X-TOTP-Code", p.Type, p.Detail)
	}
	res = reject("p1", "snap-p1-15", "X-TOTP-Code", wrongCode(t, e.secret, e.clock.Now()))
	if res.status != http.StatusForbidden || !strings.Contains(res.problem(t).Detail, "wrong, expired or already used") {
		t.Errorf("reject of an approval with a wrong code: status %d %s, want 403 wrong, expired or already used", res.status, res.body)
	}
	if res := reject("p5", "snap-p5-16"); res.status != http.StatusForbidden {
		t.Errorf("reject of a correction without a code: status %d, want 403: %s", res.status, res.body)
	}
	if got := status("p1"); got != "approved" {
		t.Errorf("after refused rejections p1 is %s, want approved", got)
	}
	if got := status("p5"); got != "correction" {
		t.Errorf("after a refused rejection p5 is %s, want correction", got)
	}
	want := exportHeader + "2026-03,p1,approved,99445,1,2026-03-01,2026-03-30,15,,,snap-p1-15,clerk@example.org,"
	if res := e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil); !strings.HasPrefix(string(res.body), want) {
		t.Errorf("export after refused rejections =\n%s\nwant it to start with\n%s", res.body, want)
	}

	// A user without TOTP gets the steps to enroll.
	e.user("plain@example.org", "billing")
	plain := e.login("plain@example.org", "").AccessToken
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p1/reject", plain, map[string]string{"event_id": "snap-p1-15", "reason": "x"})
	if res.status != http.StatusForbidden || !strings.Contains(res.problem(t).Detail, "POST /v1/auth/totp/enroll") {
		t.Errorf("reject of an approval without TOTP enrolled: status %d %s, want 403 with how to enroll", res.status, res.body)
	}

	// Pending months are rejected without a code, and a code sent along
	// is not used up: it approves p4 afterwards.
	if res := reject("p2", "snap-p2-15"); res.status != http.StatusOK {
		t.Errorf("reject of a pending month without a code: status %d: %s", res.status, res.body)
	}
	code := e.clock.nextCode(t, e.secret)
	if res := reject("p3", "snap-p3-15", "X-TOTP-Code", code); res.status != http.StatusOK {
		t.Errorf("reject of a pending month with a code: status %d: %s", res.status, res.body)
	}
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p4/approve", e.token, map[string]string{"event_id": "snap-p4-15"}, "X-TOTP-Code", code)
	if res.status != http.StatusOK {
		t.Errorf("approve with the code sent to a pending rejection: status %d, want 200: %s", res.status, res.body)
	}

	// With a fresh code, the approval and the correction are rejected.
	res = reject("p1", "snap-p1-15", "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("reject of an approval with a fresh code: status %d: %s", res.status, res.body)
	}
	var rejected billingDetail
	res.decode(t, &rejected)
	if rejected.Status != "rejected" || rejected.Approval != nil || rejected.Rejection == nil || rejected.Rejection.Reason != "no consent on file" {
		t.Errorf("rejected p1 = %s approval %+v rejection %+v, want rejected for no consent on file", rejected.Status, rejected.Approval, rejected.Rejection)
	}
	if res := reject("p5", "snap-p5-16", "X-TOTP-Code", e.clock.nextCode(t, e.secret)); res.status != http.StatusOK {
		t.Errorf("reject of a correction with a fresh code: status %d: %s", res.status, res.body)
	}
	if got := status("p5"); got != "rejected" {
		t.Errorf("p5 is %s, want rejected", got)
	}

	var actions []string
	for _, r := range e.auditRecords() {
		if r.Action == "billing.month.reject" {
			actions = append(actions, *r.PatientID+" "+r.Outcome)
		}
	}
	wantActions := "p1 denied, p1 denied, p5 denied, p1 denied, p2 allowed, p3 allowed, p1 allowed, p5 allowed"
	if got := strings.Join(actions, ", "); got != wantActions {
		t.Errorf("reject audit = %s, want %s", got, wantActions)
	}
}

// wrongCode returns a code of a step ten or more ahead of now, which
// differs from the codes of the three steps the server accepts at now.
func wrongCode(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	code := func(steps int) string {
		c, err := api.TOTPCode(secret, now.Add(time.Duration(steps)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	accepted := []string{code(-1), code(0), code(1)}
	for steps := 10; ; steps++ {
		if c := code(steps); !slices.Contains(accepted, c) {
			return c
		}
	}
}

func TestBillingStaleSnapshotConflicts(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	t0 := time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)
	seedSnapshot(t, e.env, "p1", 15, t0, 1)
	var seen billingDetail
	e.do("GET", "/v1/billing/months/2026-03/patients/p1", e.token, nil).decode(t, &seen)
	if seen.EventID != "snap-p1-15" {
		t.Fatalf("detail event_id = %s, want snap-p1-15", seen.EventID)
	}
	// A reading arrives while the reviewer looks at the page.
	seedSnapshot(t, e.env, "p1", 16, t0.Add(time.Hour), 2)

	code := e.clock.nextCode(t, e.secret)
	path := "/v1/billing/months/2026-03/patients/p1/approve"
	res := e.do("POST", path, e.token, map[string]string{"event_id": seen.EventID}, "X-TOTP-Code", code)
	if res.status != http.StatusConflict {
		t.Fatalf("approve of a stale snapshot: status %d, want 409: %s", res.status, res.body)
	}
	p := res.problem(t)
	if !strings.Contains(p.Detail, "newer snapshot (event_id snap-p1-16)") || !strings.Contains(p.Detail, "reload it with GET /v1/billing/months/2026-03/patients/p1") {
		t.Errorf("detail %q, want the newer event id and how to reload", p.Detail)
	}
	res = e.do("POST", "/v1/billing/months/2026-03/patients/p1/reject", e.token, map[string]string{"event_id": seen.EventID, "reason": "x"})
	if res.status != http.StatusConflict {
		t.Errorf("reject of a stale snapshot: status %d, want 409: %s", res.status, res.body)
	}

	// The conflict did not use up the code.
	res = e.do("POST", path, e.token, map[string]string{"event_id": "snap-p1-16"}, "X-TOTP-Code", code)
	if res.status != http.StatusOK {
		t.Fatalf("approve of the newest snapshot: status %d: %s", res.status, res.body)
	}
	res = e.do("POST", path, e.token, map[string]string{"event_id": "snap-p1-16"}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusConflict || !strings.Contains(res.problem(t).Detail, "is already approved") {
		t.Errorf("second approval: status %d %s, want 409 already approved", res.status, res.body)
	}
}

func TestBillingCorrectionKeepsApproval(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	t0 := time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)
	seedSnapshot(t, e.env, "p1", 15, t0, 1)
	path := "/v1/billing/months/2026-03/patients/p1"
	res := e.do("POST", path+"/approve", e.token, map[string]string{"event_id": "snap-p1-15"}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("approve: status %d: %s", res.status, res.body)
	}
	var approved billingDetail
	res.decode(t, &approved)

	// A late reading makes 16 days.
	seedSnapshot(t, e.env, "p1", 16, t0.Add(24*time.Hour), 2)
	var got billingDetail
	res = e.do("GET", path, e.token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("detail: status %d: %s", res.status, res.body)
	}
	res.decode(t, &got)
	if got.Status != "correction" {
		t.Errorf("status = %s, want correction", got.Status)
	}
	if got.EventID != "snap-p1-16" || lineCodes(got.Lines) != lines16Days {
		t.Errorf("newest = %s %s, want snap-p1-16 with %s", got.EventID, lineCodes(got.Lines), lines16Days)
	}
	if got.Report == nil || got.Report.Periods[0].DaysWithReadings != 16 {
		t.Errorf("newest report = %+v, want 16 days", got.Report)
	}
	if got.Approval == nil {
		t.Fatal("the correction lost its approval")
	}
	if got.Approval.EventID != "snap-p1-15" || lineCodes(got.Approval.Lines) != lines15Days || !got.Approval.At.Equal(approved.Approval.At) {
		t.Errorf("approval = %s %s at %v, want snap-p1-15 with %s at %v", got.Approval.EventID, lineCodes(got.Approval.Lines), got.Approval.At,
			lines15Days, approved.Approval.At)
	}
	if got.Approval.Report == nil || got.Approval.Report.Periods[0].DaysWithReadings != 15 {
		t.Errorf("approved report = %+v, want the approved 15 days", got.Approval.Report)
	}
	var page billingPage
	e.do("GET", "/v1/billing/months/2026-03?status=correction", e.token, nil).decode(t, &page)
	if patientIDs(page.Items) != "p1" {
		t.Errorf("corrections = %s, want p1", patientIDs(page.Items))
	}

	// The export keeps the approved values and marks the row as a
	// correction.
	at := approved.Approval.At.UTC().Format(time.RFC3339)
	want := exportHeader +
		"2026-03,p1,correction,99445,1,2026-03-01,2026-03-30,15,,,snap-p1-15,clerk@example.org," + at + ",false\n" +
		"2026-03,p1,correction,99453,1,2026-03-01,2026-03-30,15,,,snap-p1-15,clerk@example.org," + at + ",false\n"
	if res := e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil); string(res.body) != want {
		t.Errorf("export =\n%q\nwant\n%q", res.body, want)
	}

	// Re-approval approves the new values.
	res = e.do("POST", path+"/approve", e.token, map[string]string{"event_id": "snap-p1-16"}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("re-approve: status %d: %s", res.status, res.body)
	}
	var again billingDetail
	res.decode(t, &again)
	if again.Status != "approved" || again.Approval.EventID != "snap-p1-16" || lineCodes(again.Approval.Lines) != lines16Days {
		t.Errorf("re-approved = %s %s %s, want approved snap-p1-16 with %s", again.Status, again.Approval.EventID, lineCodes(again.Approval.Lines), lines16Days)
	}
	if len(again.Reviews) != 2 || again.Reviews[0].EventID != "snap-p1-15" || again.Reviews[1].EventID != "snap-p1-16" {
		t.Errorf("reviews = %+v, want approvals of snap-p1-15 then snap-p1-16", again.Reviews)
	}
	at = again.Approval.At.UTC().Format(time.RFC3339)
	want = exportHeader +
		"2026-03,p1,approved,99454,1,2026-03-01,2026-03-30,16,,,snap-p1-16,clerk@example.org," + at + ",false\n" +
		"2026-03,p1,approved,99453,1,2026-03-01,2026-03-30,16,,,snap-p1-16,clerk@example.org," + at + ",false\n"
	if res := e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil); string(res.body) != want {
		t.Errorf("export after re-approval =\n%q\nwant\n%q", res.body, want)
	}

	// The same snapshot delivered again changes nothing.
	seedSnapshot(t, e.env, "p1", 16, t0.Add(24*time.Hour), 3)
	var replayed billingDetail
	e.do("GET", path, e.token, nil).decode(t, &replayed)
	if replayed.Status != "approved" || !replayed.UpdatedAt.Equal(again.UpdatedAt) {
		t.Errorf("after a replay: %s updated %v, want approved updated %v", replayed.Status, replayed.UpdatedAt, again.UpdatedAt)
	}
}

func TestBillingExportGuardsFormulas(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	ctx := context.Background()
	// Patient ids come from device data; these would run as formulas.
	patients := []string{"=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "p1"}
	for i, p := range patients {
		id := seedSnapshot(t, e.env, p, 2, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), int64(i))
		if _, err := e.db.ApproveBillingMonth(ctx, march, p, e.clerk.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	res := e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil)
	if res.status != http.StatusOK {
		t.Fatalf("export: status %d: %s", res.status, res.body)
	}
	// Rows sort by patient id: tab, CR, "+", "-", "=", "@", then p1.
	approvedAt := map[string]string{}
	for _, p := range patients {
		b, err := e.db.GetBillingMonth(ctx, march, p)
		if err != nil {
			t.Fatal(err)
		}
		approvedAt[p] = b.Approval.At.UTC().Format(time.RFC3339)
	}
	want := exportHeader
	for _, row := range []struct{ patient, cell, event string }{
		{"\tx", "'\tx", "snap-\tx-2"},
		{"\rx", "\"'\rx\"", "\"snap-\rx-2\""},
		{"+1", "'+1", "snap-+1-2"},
		{"-1", "'-1", "snap--1-2"},
		{"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"", "\"snap-=HYPERLINK(\"\"http://x\"\")-2\""},
		{"@SUM(A1)", "'@SUM(A1)", "snap-@SUM(A1)-2"},
		{"p1", "p1", "snap-p1-2"},
	} {
		for _, code := range []string{"99445", "99453"} {
			want += "2026-03," + row.cell + ",approved," + code + ",1,2026-03-01,2026-03-30,2,,," + row.event + ",clerk@example.org," + approvedAt[row.patient] + ",false\n"
		}
	}
	if string(res.body) != want {
		t.Errorf("export =\n%q\nwant\n%q", res.body, want)
	}
}

func TestBillingRoutesCheckRoleAndInput(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	seedSnapshot(t, e.env, "p1", 16, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 1)
	e.user("nurse@example.org", "clinician")
	nurse := e.login("nurse@example.org", "").AccessToken
	routes := []struct{ method, path string }{
		{"GET", "/v1/billing/months/2026-03"},
		{"GET", "/v1/billing/months/2026-03/export.csv"},
		{"POST", "/v1/billing/months/2026-03/approve"},
		{"GET", "/v1/billing/months/2026-03/patients/p1"},
		{"POST", "/v1/billing/months/2026-03/patients/p1/approve"},
		{"POST", "/v1/billing/months/2026-03/patients/p1/reject"},
	}
	for _, r := range routes {
		res := e.do(r.method, r.path, nurse, map[string]string{"event_id": "snap-p1-16", "reason": "x"})
		if res.status != http.StatusForbidden {
			t.Errorf("clinician %s %s: status %d, want 403", r.method, r.path, res.status)
		}
	}

	for _, month := range []string{"2026-13", "2026-3", "1999-12", "march"} {
		res := e.do("GET", "/v1/billing/months/"+month, e.token, nil)
		if res.status != http.StatusBadRequest {
			t.Errorf("month %s: status %d, want 400", month, res.status)
			continue
		}
		if d := res.problem(t).Detail; !strings.Contains(d, `"`+month+`"`) || !strings.Contains(d, "such as 2026-03") {
			t.Errorf("month %s: detail %q, want the value and an example", month, d)
		}
	}
	bad := []struct {
		query string
		field string
	}{{"status=paid", "status"}, {"limit=0", "limit"}, {"cursor=***", "cursor"}}
	for _, b := range bad {
		res := e.do("GET", "/v1/billing/months/2026-03?"+b.query, e.token, nil)
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", b.query, res.status)
			continue
		}
		if errs := res.problem(t).Errors; len(errs) != 1 || errs[0].Field != b.field {
			t.Errorf("%s: errors %+v, want one on %s", b.query, errs, b.field)
		}
	}

	if res := e.do("GET", "/v1/billing/months/2026-03/patients/p2", e.token, nil); res.status != http.StatusNotFound {
		t.Errorf("missing month of p2: status %d, want 404", res.status)
	}
	reject := "/v1/billing/months/2026-03/patients/p1/reject"
	res := e.do("POST", reject, e.token, map[string]string{"event_id": "snap-p1-16", "reason": "   "})
	if res.status != http.StatusUnprocessableEntity || len(res.problem(t).Errors) != 1 || res.problem(t).Errors[0].Field != "reason" {
		t.Errorf("reject with a blank reason: status %d %s, want 422 on reason", res.status, res.body)
	}
	res = e.do("POST", reject, e.token, map[string]string{"reason": "duplicate"})
	if res.status != http.StatusUnprocessableEntity || len(res.problem(t).Errors) != 1 || res.problem(t).Errors[0].Field != "event_id" {
		t.Errorf("reject without event_id: status %d %s, want 422 on event_id", res.status, res.body)
	}
	res = e.do("POST", reject, e.token, map[string]string{"event_id": "snap-p1-16", "reason": strings.Repeat("é", 1001)})
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("reject with a reason of 1001 characters: status %d, want 422", res.status)
	}
	approve := "/v1/billing/months/2026-03/patients/p1/approve"
	res = e.do("POST", approve, e.token, map[string]string{"event_id": "snap-p1-16", "reason": "x"}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("approve with a reason: status %d, want 422", res.status)
	}
	if b, _ := e.db.GetBillingMonth(context.Background(), march, "p1"); b.Status != "pending" {
		t.Errorf("after invalid reviews the month is %s, want pending", b.Status)
	}
}
