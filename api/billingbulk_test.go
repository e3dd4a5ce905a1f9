package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
)

const bulkApprovePath = "/v1/billing/months/2026-03/approve"

// bulkRow is one row of a bulk approval request.
type bulkRow struct {
	PatientID string `json:"patient_id"`
	EventID   string `json:"event_id"`
	AllowOpen bool   `json:"allow_open,omitempty"`
}

// bulkResponse is the response of a bulk approval.
type bulkResponse struct {
	Month    string `json:"month"`
	Approved int    `json:"approved"`
	Failed   int    `json:"failed"`
	Results  []struct {
		PatientID string       `json:"patient_id"`
		EventID   string       `json:"event_id"`
		Outcome   string       `json:"outcome"`
		Problem   *api.Problem `json:"problem"`
	} `json:"results"`
}

// outcomes returns the results as "patient event outcome" lines, with the
// problem's type, status and detail for a failed row.
func (b bulkResponse) outcomes() string {
	var lines []string
	for _, r := range b.Results {
		line := r.PatientID + " " + r.EventID + " " + r.Outcome
		if r.Problem != nil {
			line += fmt.Sprintf(" %s %d %s", strings.TrimPrefix(r.Problem.Type, "https://vytalwatch.dev/problems/"), r.Problem.Status, r.Problem.Detail)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// approveAudit returns the patients and outcomes of the approval audit
// records, oldest first.
func approveAudit(e *billingEnv) string {
	var parts []string
	for _, r := range e.auditRecords() {
		if r.Action == "billing.month.approve" {
			parts = append(parts, *r.PatientID+" "+r.Outcome)
		}
	}
	return strings.Join(parts, ", ")
}

func TestBillingBulkApproveEachRow(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC)
	seedSnapshot(t, e.env, "p1", 16, t0, 1)
	// p2's reviewer saw 15 days, but a 16th arrived since.
	seedSnapshot(t, e.env, "p2", 15, t0, 2)
	seedSnapshot(t, e.env, "p2", 16, t0.Add(time.Hour), 3)
	seedSnapshot(t, e.env, "p3", 16, t0, 4)
	seedSnapshot(t, e.env, "p4", 3, t0, 5)
	if _, err := e.db.ApproveBillingMonth(ctx, march, "p3", e.clerk.ID, "snap-p3-16"); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"rows": []bulkRow{
		{PatientID: "p1", EventID: "snap-p1-16"},
		{PatientID: "p2", EventID: "snap-p2-15"},
		{PatientID: "p3", EventID: "snap-p3-16"},
		{PatientID: "p5", EventID: "snap-p5-16"},
		{PatientID: "p4", EventID: "snap-p4-3"},
	}}

	// Without a code nothing is approved, and the rows that would have
	// been are audited as denied.
	res := e.do("POST", bulkApprovePath, e.token, body)
	if res.status != http.StatusForbidden {
		t.Fatalf("bulk approve without a code: status %d, want 403: %s", res.status, res.body)
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/step-up-required" || !strings.Contains(p.Detail, "X-TOTP-Code") {
		t.Errorf("problem = %s %q, want step-up-required naming X-TOTP-Code", p.Type, p.Detail)
	}
	if got, want := approveAudit(e), "p1 denied, p4 denied"; got != want {
		t.Errorf("approval audit = %s, want %s", got, want)
	}
	if b, _ := e.db.GetBillingMonth(ctx, march, "p1"); b.Status != "pending" {
		t.Errorf("after the refused request p1 is %s, want pending", b.Status)
	}

	// One code approves the good rows; each other row fails alone.
	res = e.do("POST", bulkApprovePath, e.token, body, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("bulk approve: status %d: %s", res.status, res.body)
	}
	var got bulkResponse
	res.decode(t, &got)
	if got.Month != "2026-03" || got.Approved != 2 || got.Failed != 3 {
		t.Errorf("response month %s approved %d failed %d, want 2026-03, 2 and 3", got.Month, got.Approved, got.Failed)
	}
	want := strings.Join([]string{
		"p1 snap-p1-16 approved",
		"p2 snap-p2-15 failed conflict 409 the billing month 2026-03 of patient p2 has a newer snapshot (event_id snap-p2-16) than the one reviewed (snap-p2-15); " +
			"reload it with GET /v1/billing/months/2026-03/patients/p2 and review it again",
		"p3 snap-p3-16 failed conflict 409 the billing month 2026-03 of patient p3 is already approved",
		`p5 snap-p5-16 failed not-found 404 no billing month 2026-03 for patient "p5"; list the month's patients with GET /v1/billing/months/2026-03`,
		"p4 snap-p4-3 approved",
	}, "\n")
	if got := got.outcomes(); got != want {
		t.Errorf("results =\n%s\nwant\n%s", got, want)
	}
	titles := map[int]string{http.StatusConflict: "Conflict", http.StatusNotFound: "Not found"}
	for _, r := range got.Results {
		if r.Problem == nil {
			continue
		}
		if r.Problem.Title != titles[r.Problem.Status] {
			t.Errorf("%s problem title = %q, want %q", r.PatientID, r.Problem.Title, titles[r.Problem.Status])
		}
		if r.Problem.Instance == "" {
			t.Errorf("%s problem has no instance, want the request id", r.PatientID)
		}
	}
	for patient, status := range map[string]string{"p1": "approved", "p2": "pending", "p3": "approved", "p4": "approved"} {
		b, err := e.db.GetBillingMonth(ctx, march, patient)
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != status {
			t.Errorf("%s is %s, want %s", patient, b.Status, status)
		}
		if patient != "p3" && b.Approval != nil && b.Approval.By != e.clerk.ID {
			t.Errorf("%s approved by %s, want the clerk", patient, b.Approval.By)
		}
	}
	reviews, err := e.db.BillingReviews(ctx, march, "p4")
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 1 || reviews[0].Action != "approve" || reviews[0].EventID != "snap-p4-3" || reviews[0].UserEmail != "clerk@example.org" {
		t.Errorf("p4 reviews = %+v, want one approval of snap-p4-3 by the clerk", reviews)
	}
	if got, want := approveAudit(e), "p1 denied, p4 denied, p1 allowed, p4 allowed"; got != want {
		t.Errorf("approval audit = %s, want %s", got, want)
	}

	// A request whose rows all fail their checks does not use up the
	// code: the same code then approves p2 alone.
	code := e.clock.nextCode(t, e.secret)
	res = e.do("POST", bulkApprovePath, e.token, body, "X-TOTP-Code", code)
	if res.status != http.StatusOK {
		t.Fatalf("bulk approve of done rows: status %d: %s", res.status, res.body)
	}
	got = bulkResponse{}
	res.decode(t, &got)
	if got.Approved != 0 || got.Failed != 5 {
		t.Errorf("bulk approve of done rows: approved %d failed %d, want 0 and 5", got.Approved, got.Failed)
	}
	res = e.do("POST", bulkApprovePath, e.token, map[string]any{"rows": []bulkRow{{PatientID: "p2", EventID: "snap-p2-16"}}}, "X-TOTP-Code", code)
	got = bulkResponse{}
	res.decode(t, &got)
	if res.status != http.StatusOK || got.outcomes() != "p2 snap-p2-16 approved" {
		t.Errorf("bulk approve of p2 with the unused code: status %d %s, want p2 approved", res.status, res.body)
	}
	// A used code is refused for the whole request.
	seedSnapshot(t, e.env, "p6", 16, t0, 6)
	res = e.do("POST", bulkApprovePath, e.token, map[string]any{"rows": []bulkRow{{PatientID: "p6", EventID: "snap-p6-16"}}}, "X-TOTP-Code", code)
	if res.status != http.StatusForbidden || !strings.Contains(res.problem(t).Detail, "wrong, expired or already used") {
		t.Errorf("bulk approve with a used code: status %d %s, want 403 wrong, expired or already used", res.status, res.body)
	}
	if b, _ := e.db.GetBillingMonth(ctx, march, "p6"); b.Status != "pending" {
		t.Errorf("after a used code p6 is %s, want pending", b.Status)
	}

	res = e.do("GET", "/v1/billing/months/2026-03/export.csv", e.token, nil)
	var patients []string
	for _, line := range strings.Split(strings.TrimSpace(string(res.body)), "\n")[1:] {
		patients = append(patients, strings.Split(line, ",")[1])
	}
	if got, want := strings.Join(patients, ","), "p1,p1,p2,p2,p3,p3,p4,p4"; got != want {
		t.Errorf("exported patients = %s, want %s", got, want)
	}
}

func TestBillingBulkApproves48RowsWithOneCode(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	var rows []bulkRow
	for i := range 48 {
		patient := fmt.Sprintf("p%02d", i)
		eventID := seedSnapshot(t, e.env, patient, 16, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), int64(i))
		rows = append(rows, bulkRow{PatientID: patient, EventID: eventID})
	}
	res := e.do("POST", bulkApprovePath, e.token, map[string]any{"rows": rows}, "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	if res.status != http.StatusOK {
		t.Fatalf("bulk approve: status %d: %s", res.status, res.body)
	}
	var got bulkResponse
	res.decode(t, &got)
	if got.Approved != 48 || got.Failed != 0 || len(got.Results) != 48 {
		t.Fatalf("approved %d failed %d with %d results, want 48, 0 and 48", got.Approved, got.Failed, len(got.Results))
	}
	for i, r := range got.Results {
		if r.PatientID != rows[i].PatientID || r.Outcome != "approved" {
			t.Errorf("result %d = %s %s, want %s approved", i, r.PatientID, r.Outcome, rows[i].PatientID)
		}
	}
	var page billingPage
	e.do("GET", "/v1/billing/months/2026-03?status=approved&limit=100", e.token, nil).decode(t, &page)
	if len(page.Items) != 48 {
		t.Errorf("%d approved rows listed, want 48", len(page.Items))
	}
	audited := 0
	for _, r := range e.auditRecords() {
		if r.Action == "billing.month.approve" && r.Outcome == store.OutcomeAllowed {
			audited++
		}
	}
	if audited != 48 {
		t.Errorf("%d approvals audited, want 48", audited)
	}
}

func TestBillingBulkApproveChecksInput(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	seedSnapshot(t, e.env, "p1", 16, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 1)
	code := e.clock.nextCode(t, e.secret)
	many := make([]bulkRow, 501)
	for i := range many {
		many[i] = bulkRow{PatientID: fmt.Sprintf("p%d", i), EventID: "x"}
	}
	cases := []struct {
		name string
		body any
		want []api.FieldError
	}{
		{"no rows", map[string]any{"rows": []bulkRow{}}, []api.FieldError{{Field: "rows", Message: `must list 1 to 500 rows, each {"patient_id": ..., "event_id": ...}`}}},
		{"rows left out", map[string]any{}, []api.FieldError{{Field: "rows", Message: `must list 1 to 500 rows, each {"patient_id": ..., "event_id": ...}`}}},
		{"501 rows", map[string]any{"rows": many}, []api.FieldError{{Field: "rows", Message: "lists 501 rows; send at most 500 in one request, and the rest in further requests"}}},
		{"patient twice", map[string]any{"rows": []bulkRow{
			{PatientID: "p1", EventID: "a"}, {PatientID: "p2", EventID: "b"}, {PatientID: "p1", EventID: "c"}, {PatientID: "p1", EventID: "d"},
		}}, []api.FieldError{
			{Field: "rows[2].patient_id", Message: `repeats patient "p1" of rows[0]; list each patient once`},
			{Field: "rows[3].patient_id", Message: `repeats patient "p1" of rows[0]; list each patient once`},
		}},
		{"ids missing", map[string]any{"rows": []bulkRow{{PatientID: "p1", EventID: "a"}, {}}}, []api.FieldError{
			{Field: "rows[1].patient_id", Message: "is required: the patient whose month to approve"},
			{Field: "rows[1].event_id", Message: "is required: the event_id of the snapshot you reviewed, from GET /v1/billing/months/{month}/patients/{patientID}"},
		}},
		{"ids too long", map[string]any{"rows": []bulkRow{{PatientID: strings.Repeat("p", 201), EventID: strings.Repeat("e", 257)}}}, []api.FieldError{
			{Field: "rows[0].patient_id", Message: "is 201 bytes long; patient ids are at most 200 bytes"},
			{Field: "rows[0].event_id", Message: "must be at most 256 bytes; send the event_id of the snapshot you reviewed"},
		}},
	}
	for _, c := range cases {
		res := e.do("POST", bulkApprovePath, e.token, c.body, "X-TOTP-Code", code)
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422: %s", c.name, res.status, res.body)
			continue
		}
		if got, want := fmt.Sprint(res.problem(t).Errors), fmt.Sprint(c.want); got != want {
			t.Errorf("%s: errors\n%s\nwant\n%s", c.name, got, want)
		}
	}
	res := e.do("POST", bulkApprovePath, e.token, `{"rows": [{"patient_id": "p1", "event_id": "snap-p1-16", "reason": "x"}]}`, "X-TOTP-Code", code)
	if res.status != http.StatusBadRequest || !strings.Contains(res.problem(t).Detail, `unknown field "reason"`) {
		t.Errorf("row with a reason: status %d %s, want 400 naming the unknown field", res.status, res.body)
	}
	if res := e.do("POST", "/v1/billing/months/2026-13/approve", e.token, map[string]any{"rows": []bulkRow{{PatientID: "p1", EventID: "snap-p1-16"}}},
		"X-TOTP-Code", code); res.status != http.StatusBadRequest {
		t.Errorf("month 2026-13: status %d, want 400", res.status)
	}

	// The refused requests did not use up the code.
	res = e.do("POST", bulkApprovePath, e.token, map[string]any{"rows": []bulkRow{{PatientID: "p1", EventID: "snap-p1-16"}}}, "X-TOTP-Code", code)
	var got bulkResponse
	res.decode(t, &got)
	if res.status != http.StatusOK || got.outcomes() != "p1 snap-p1-16 approved" {
		t.Errorf("approve after refused requests: status %d %s, want p1 approved", res.status, res.body)
	}
}

// 500 rows with the longest ids, every byte escaped, fit the bulk body
// limit: the request is read, and each unknown row fails alone.
func TestBillingBulkApproveLargestBodyFits(t *testing.T) {
	t.Parallel()
	e := newBillingEnv(t)
	escaped := func(prefix string, n int) string {
		var b strings.Builder
		b.WriteString(prefix)
		for b.Len() < n*6 {
			b.WriteString(`\u0061`)
		}
		return b.String()
	}
	var body strings.Builder
	body.WriteString(`{"rows": [`)
	for i := range 500 {
		if i > 0 {
			body.WriteString(",")
		}
		id := fmt.Sprintf("%03d", i)
		fmt.Fprintf(&body, `{"patient_id": "%s%s", "event_id": "%s", "allow_open": true}`, id, escaped("", 197), escaped("", 256))
	}
	body.WriteString("]}")
	if body.Len() <= 1<<20 {
		t.Fatalf("body is %d bytes, want more than the default 1 MiB limit", body.Len())
	}
	res := e.do("POST", bulkApprovePath, e.token, body.String(), "X-TOTP-Code", e.clock.nextCode(t, e.secret))
	var got bulkResponse
	res.decode(t, &got)
	if res.status != http.StatusOK || got.Approved != 0 || got.Failed != 500 {
		t.Errorf("status %d, approved %d, failed %d; want 200 with 500 failed rows", res.status, got.Approved, got.Failed)
	}
}
