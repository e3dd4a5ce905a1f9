package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
)

func TestTimeEntriesThroughAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// Entries are a month old, within the filing limit of a year whenever
	// the test runs.
	now := time.Now().UTC()
	day := now.AddDate(0, -1, 0).Format(time.DateOnly)
	nextDay := now.AddDate(0, -1, 1).Format(time.DateOnly)
	_, secret := e.adminWithTOTP("admin@example.org")
	nurse := e.user("nurse@example.org", "clinician")
	colleague := e.user("colleague@example.org", "clinician")
	e.user("clerk@example.org", "billing")
	if _, err := e.db.CreatePatient(context.Background(), store.Patient{PatientID: "p1", CareTeam: []string{nurse.ID, colleague.ID}}); err != nil {
		t.Fatal(err)
	}
	nurseToken := e.login("nurse@example.org", "").AccessToken
	colleagueToken := e.login("colleague@example.org", "").AccessToken
	clerkToken := e.login("clerk@example.org", "").AccessToken
	adminToken := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	path := "/v1/patients/p1/time-entries"

	entry := map[string]any{"entry_id": "e1", "role": "clinical_staff", "program": "RPM", "started_at": day + "T09:00:00-05:00",
		"minutes": 25, "interactive": true}
	res := e.do("POST", path, nurseToken, entry)
	if res.status != http.StatusCreated {
		t.Fatalf("add: status %d: %s", res.status, res.body)
	}
	var stored store.TimeEntry
	res.decode(t, &stored)
	if stored.ID != "e1" || stored.StaffID != nurse.ID || stored.CreatedBy != nurse.ID || stored.Program != "rpm" ||
		stored.StartedAt.UTC().Format(time.RFC3339) != day+"T14:00:00Z" || stored.Minutes != 25 || !stored.Interactive {
		t.Errorf("stored = %+v, want e1 of the nurse, rpm, 14:00 UTC, 25 minutes, interactive", stored)
	}
	if res := e.do("POST", path, nurseToken, entry); res.status != http.StatusOK {
		t.Errorf("retry: status %d, want 200: %s", res.status, res.body)
	}
	entry["minutes"] = 30
	if res := e.do("POST", path, nurseToken, entry); res.status != http.StatusConflict {
		t.Errorf("other values under e1: status %d, want 409: %s", res.status, res.body)
	}

	invalid := map[string]any{"program": "rtm", "role": "nurse", "started_at": "yesterday", "minutes": 0}
	res = e.do("POST", path, nurseToken, invalid)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid entry: status %d, want 422: %s", res.status, res.body)
	}
	var fields []string
	for _, fe := range res.problem(t).Errors {
		fields = append(fields, fe.Field)
	}
	if got := strings.Join(fields, ","); got != "program,role,minutes,started_at" {
		t.Errorf("invalid fields = %s, want program,role,minutes,started_at", got)
	}
	future := now.Add(time.Hour).Format(time.RFC3339)
	res = e.do("POST", path, nurseToken, map[string]any{"program": "rpm", "started_at": future, "minutes": 5})
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("entry ending in the future: status %d, want 422", res.status)
	}
	old := now.AddDate(-1, 0, -1).Format(time.DateOnly) + "T10:00:00Z"
	res = e.do("POST", path, nurseToken, map[string]any{"program": "rpm", "started_at": old, "minutes": 5})
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("entry of more than a year ago: status %d, want 422: %s", res.status, res.body)
	}
	want := old + " is more than a year ago, past Medicare's filing limit; check the year"
	if errs := res.problem(t).Errors; len(errs) != 1 || errs[0].Field != "started_at" || errs[0].Message != want {
		t.Errorf("entry of more than a year ago: errors %+v, want started_at: %s", errs, want)
	}
	res = e.do("POST", path, nurseToken, map[string]any{"program": "rpm", "started_at": day + "T10:00:00Z", "minutes": 5, "staff_id": colleague.ID})
	if res.status != http.StatusForbidden {
		t.Errorf("clinician logging a colleague's time: status %d, want 403", res.status)
	}
	res = e.do("POST", path, adminToken, map[string]any{"entry_id": "e2", "program": "99091", "role": "physician",
		"started_at": nextDay + "T10:00:00Z", "minutes": 15, "staff_id": colleague.ID})
	if res.status != http.StatusCreated {
		t.Fatalf("administrator logging a colleague's time: status %d: %s", res.status, res.body)
	}
	if res := e.do("POST", path, clerkToken, map[string]any{"program": "rpm", "started_at": day + "T10:00:00Z", "minutes": 5}); res.status != http.StatusForbidden {
		t.Errorf("billing user logging time: status %d, want 403", res.status)
	}

	// Billing users read the entries; only the author or an administrator
	// deletes one.
	var list struct {
		Items []store.TimeEntry `json:"items"`
	}
	e.do("GET", path, clerkToken, nil).decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != "e2" || list.Items[1].ID != "e1" {
		t.Errorf("entries read by billing = %+v, want e2, e1", list.Items)
	}
	if res := e.do("DELETE", path+"/e1", colleagueToken, nil); res.status != http.StatusForbidden {
		t.Errorf("colleague deleting e1: status %d, want 403", res.status)
	}
	if res := e.do("DELETE", path+"/e1", nurseToken, nil); res.status != http.StatusNoContent {
		t.Errorf("author deleting e1: status %d, want 204: %s", res.status, res.body)
	}
	if res := e.do("DELETE", path+"/e1", nurseToken, nil); res.status != http.StatusNotFound {
		t.Errorf("second delete of e1: status %d, want 404", res.status)
	}
	list.Items = nil
	e.do("GET", path, nurseToken, nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != "e2" {
		t.Errorf("entries after the delete = %+v, want e2", list.Items)
	}

	// e1 added, e2 added, e1 deleted: three care events.
	var events int
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE topic = $1`, postgres.CareEventsTopic).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 3 {
		t.Errorf("outbox holds %d care events, want 3", events)
	}
}
