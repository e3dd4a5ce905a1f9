package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
)

func TestClinicianCreatesPatientOnOwnCareTeam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	nurse := e.user("nurse@example.org", "clinician")
	colleague := e.user("colleague@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken

	profile := map[string]any{"patient_id": "p1", "timezone": "America/Chicago", "birth_date": "1950-04-02",
		"conditions": []string{"hypertension"}, "enrollment_date": "2026-03-01"}
	res := e.do("POST", "/v1/patients", tk, profile)
	if res.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", res.status, res.body)
	}
	var p store.Patient
	res.decode(t, &p)
	if len(p.CareTeam) != 1 || p.CareTeam[0] != nurse.ID {
		t.Errorf("care team = %v, want the creating clinician only", p.CareTeam)
	}
	if p.Timezone != "America/Chicago" || p.BirthDate != "1950-04-02" || p.EnrollmentDate != "2026-03-01" {
		t.Errorf("patient = %+v, want the profile as sent", p)
	}
	withTeam := map[string]any{"patient_id": "p2", "care_team": []string{colleague.ID}}
	if res := e.do("POST", "/v1/patients", tk, withTeam); res.status != http.StatusForbidden {
		t.Errorf("clinician naming a care team: status %d, want 403", res.status)
	}
	bad := map[string]any{"patient_id": "p 3", "timezone": "Mars/Olympus", "birth_date": "2999-01-01", "conditions": []string{"High BP"}}
	res = e.do("POST", "/v1/patients", tk, bad)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid profile: status %d, want 422", res.status)
	}
	if errs := res.problem(t).Errors; len(errs) != 4 {
		t.Errorf("errors = %+v, want 4: patient_id, timezone, birth_date, conditions[0]", errs)
	}
	// Names are not part of a profile.
	if res := e.do("POST", "/v1/patients", tk, map[string]any{"patient_id": "p4", "name": "Jane Doe"}); res.status != http.StatusBadRequest {
		t.Errorf("profile with a name field: status %d, want 400", res.status)
	}

	res = e.do("PUT", "/v1/patients/p1", tk, map[string]any{"timezone": "Europe/Paris", "news2_scale2": true})
	if res.status != http.StatusOK {
		t.Fatalf("update: status %d: %s", res.status, res.body)
	}
	var up store.Patient
	res.decode(t, &up)
	if up.Timezone != "Europe/Paris" || !up.News2Scale2 || up.BirthDate != "" || len(up.Conditions) != 0 {
		t.Errorf("updated patient = %+v, want the new profile replacing the old", up)
	}
	// A month ago, within the filing limit of a year whenever the test runs.
	callDay := time.Now().UTC().AddDate(0, -1, 0).Format(time.DateOnly)
	entry := map[string]any{"entry_id": "call-1", "program": "rpm", "started_at": callDay + "T10:00:00-06:00", "minutes": 12, "interactive": true}
	res = e.do("POST", "/v1/patients/p1/time-entries", tk, entry)
	if res.status != http.StatusCreated {
		t.Errorf("time entry: status %d: %s", res.status, res.body)
	}
	// create, update and the time entry went to the outbox.
	if n, _ := e.db.PendingOutbox(context.Background()); n != 3 {
		t.Errorf("outbox holds %d records, want 3", n)
	}
	var key, value string
	err := e.db.Pool().QueryRow(context.Background(), `SELECT convert_from(key, 'UTF8'), convert_from(value, 'UTF8')
		FROM outbox WHERE topic = $1`, postgres.CareEventsTopic).Scan(&key, &value)
	if err != nil {
		t.Fatal(err)
	}
	wantValue := `{"kind":"time_entry","patient_id":"p1","entry":{"entry_id":"call-1","patient_id":"p1","staff_id":"` + nurse.ID +
		`","program":"rpm","started_at":"` + callDay + `T16:00:00Z","minutes":12,"interactive":true}}`
	if key != "p1" {
		t.Errorf("care event key = %q, want p1", key)
	}
	if value != wantValue {
		t.Errorf("care event = %s, want %s", value, wantValue)
	}
}

func TestAdminSetsCareTeam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	nurse := e.user("nurse@example.org", "clinician")
	clerk := e.user("clerk@example.org", "billing")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	if res := e.do("POST", "/v1/patients", admin, map[string]any{"patient_id": "p1"}); res.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", res.status, res.body)
	}
	nurseToken := e.login("nurse@example.org", "").AccessToken
	if res := e.do("GET", "/v1/patients/p1", nurseToken, nil); res.status != http.StatusNotFound {
		t.Errorf("nurse before joining the care team: status %d, want 404", res.status)
	}
	if res := e.do("PUT", "/v1/patients/p1/care-team", admin, map[string]any{"user_ids": []string{clerk.ID}}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("billing user on a care team: status %d, want 422", res.status)
	}
	if res := e.do("PUT", "/v1/patients/p1/care-team", admin, map[string]any{"user_ids": []string{nurse.ID}}); res.status != http.StatusOK {
		t.Fatalf("set care team: status %d: %s", res.status, res.body)
	}
	if res := e.do("GET", "/v1/patients/p1", nurseToken, nil); res.status != http.StatusOK {
		t.Errorf("nurse on the care team: status %d, want 200", res.status)
	}
	if res := e.do("PUT", "/v1/patients/p1/care-team", nurseToken, map[string]any{"user_ids": []string{}}); res.status != http.StatusForbidden {
		t.Errorf("clinician setting a care team: status %d, want 403", res.status)
	}
}

func TestAlertListFiltersAndActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	nurse := e.user("nurse@example.org", "clinician")
	other := e.user("other@example.org", "clinician")
	ctx := context.Background()
	for _, id := range []string{"p1", "p2"} {
		if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: id, CareTeam: []string{nurse.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		patient := "p1"
		if i%2 == 1 {
			patient = "p2"
		}
		seedAlert(t, e, id, patient, t0.Add(time.Duration(i)*time.Minute))
	}
	tk := e.login("nurse@example.org", "").AccessToken
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	e.do("GET", "/v1/alerts?patient_id=p1&limit=2", tk, nil).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].ID != "a5" || page.Items[1].ID != "a3" || page.NextCursor == "" {
		t.Fatalf("first page = %+v, want a5, a3 and a cursor", page)
	}
	cursor := page.NextCursor
	page.NextCursor = ""
	e.do("GET", "/v1/alerts?patient_id=p1&limit=2&cursor="+cursor, tk, nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != "a1" || page.NextCursor != "" {
		t.Errorf("second page = %+v, want a1 and no cursor", page)
	}
	e.do("GET", "/v1/alerts?since=2026-03-10T10:03:00Z", tk, nil).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].ID != "a5" || page.Items[1].ID != "a4" {
		t.Errorf("since 10:03 = %+v, want a5, a4", page)
	}

	if res := e.do("POST", "/v1/alerts/a1/acknowledge", tk, nil); res.status != http.StatusOK {
		t.Fatalf("acknowledge: status %d: %s", res.status, res.body)
	}
	if res := e.do("POST", "/v1/alerts/a1/acknowledge", tk, nil); res.status != http.StatusOK {
		t.Errorf("second acknowledge: status %d, want 200", res.status)
	}
	if res := e.do("POST", "/v1/alerts/a1/resolve", tk, nil); res.status != http.StatusOK {
		t.Errorf("resolve: status %d, want 200", res.status)
	}
	if res := e.do("POST", "/v1/alerts/a1/acknowledge", tk, nil); res.status != http.StatusConflict {
		t.Errorf("acknowledge of a resolved alert: status %d, want 409", res.status)
	}
	e.do("GET", "/v1/alerts?status=resolved", tk, nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != "a1" {
		t.Errorf("resolved alerts = %+v, want a1", page.Items)
	}
	// Acknowledged and resolved: two events in the outbox, one each.
	if n, _ := e.db.PendingOutbox(ctx); n != 4 {
		t.Errorf("outbox holds %d records, want 4 (two profiles, acknowledged, resolved)", n)
	}

	if res := e.do("POST", "/v1/alerts/a2/assign", tk, map[string]any{"user_id": other.ID}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("assign to a clinician off the care team: status %d, want 422", res.status)
	}
	res := e.do("POST", "/v1/alerts/a2/assign", tk, map[string]any{"user_id": nurse.ID})
	var a store.Alert
	res.decode(t, &a)
	if res.status != http.StatusOK || a.Assignee == nil || *a.Assignee != nurse.ID {
		t.Errorf("assign: status %d assignee %v, want the nurse", res.status, a.Assignee)
	}
	res = e.do("POST", "/v1/alerts/a2/assign", tk, map[string]any{"user_id": nil})
	a = store.Alert{}
	res.decode(t, &a)
	if res.status != http.StatusOK || a.Assignee != nil {
		t.Errorf("unassign: status %d assignee %v, want none", res.status, a.Assignee)
	}
}

func TestIngestRejectsPerReading(t *testing.T) {
	t.Parallel()
	prod := &memProducer{}
	e := newEnv(t, envOptions{producer: prod})
	key, _ := createDeviceKey(t, e)
	now := time.Now().UTC().Format(time.RFC3339)
	body := []map[string]any{
		{"patient_id": "p1", "metric": "spo2", "value": 95, "unit": "%", "measured_at": now},
		{"patient_id": "p1", "metric": "heart_rate", "value": 900, "unit": "bpm", "measured_at": now},
		{"patient_id": "p2", "metric": "weight_kg", "value": 180, "unit": "[lb_av]", "measured_at": now},
	}
	res := e.do("POST", "/v1/ingest/readings", "ApiKey "+key, body)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", res.status, res.body)
	}
	var doc struct {
		api.Problem
		Rejections []struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
			Field  string `json:"field"`
		} `json:"rejections"`
	}
	res.decode(t, &doc)
	if len(doc.Rejections) != 1 || doc.Rejections[0].Index != 1 || doc.Rejections[0].Reason != "out_of_range" || doc.Rejections[0].Field != "value" {
		t.Errorf("rejections = %+v, want reading 1 out_of_range on value", doc.Rejections)
	}
	if prod.records != 2 {
		t.Errorf("produced %d readings, want the 2 accepted", prod.records)
	}
	records := e.auditRecords()
	last := records[len(records)-2:]
	for i, p := range []string{"p1", "p2"} {
		if last[i].Action != "readings.ingest" || last[i].PatientID == nil || *last[i].PatientID != p || last[i].ActorKeyID == nil || last[i].ActorRole != "device" {
			t.Errorf("audit %d = %+v, want readings.ingest for %s by the device key", i, last[i], p)
		}
	}
}

// createDeviceKey creates a device API key through the store and returns
// the key and its id.
func createDeviceKey(t *testing.T, e *env) (string, string) {
	t.Helper()
	_, secret := e.adminWithTOTP("keys-admin@example.org")
	admin := e.login("keys-admin@example.org", totpCode(t, secret, 0)).AccessToken
	res := e.do("POST", "/v1/api-keys", admin, map[string]string{"name": "gateway"})
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	res.decode(t, &k)
	return k.Key, k.ID
}

// A client that escapes more of a path than it must, as
// encodeURIComponent escapes a colon, reaches the same patient.
func TestEscapedPatientIDInPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	if res := e.do("POST", "/v1/patients", admin, map[string]any{"patient_id": "mrn:42"}); res.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", res.status, res.body)
	}
	res := e.do("GET", "/v1/patients/mrn%3A42", admin, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /v1/patients/mrn%%3A42: status %d: %s", res.status, res.body)
	}
	var p struct {
		PatientID string `json:"patient_id"`
	}
	res.decode(t, &p)
	if p.PatientID != "mrn:42" {
		t.Errorf("patient_id = %q, want mrn:42", p.PatientID)
	}
	// Escaped twice, the id is mrn%3A42, which no patient has.
	if res := e.do("GET", "/v1/patients/mrn%253A42", admin, nil); res.status != http.StatusNotFound {
		t.Errorf("GET /v1/patients/mrn%%253A42: status %d, want 404: %s", res.status, res.body)
	}
}
