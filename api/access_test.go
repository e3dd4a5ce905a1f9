package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
)

// seedAlert stores a fired alert as the alert sink would.
func seedAlert(t *testing.T, e *env, id, patient string, at time.Time) {
	t.Helper()
	_, err := e.db.Pool().Exec(context.Background(), `INSERT INTO alerts (id, patient_id, rule_id, rule_version, rule_name, severity, status, fired_at)
		VALUES ($1, $2, 'spo2-low', 1, 'SpO2 low', 'high', 'open', $3)`, id, patient, at)
	if err != nil {
		t.Fatal(err)
	}
}

func TestClinicianOutsideCareTeamGets404(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	mine := e.user("mine@example.org", "clinician")
	e.user("other@example.org", "clinician")
	ctx := context.Background()
	if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: "p1", CareTeam: []string{mine.ID}}); err != nil {
		t.Fatal(err)
	}
	seedAlert(t, e, "a1", "p1", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	other := e.login("other@example.org", "").AccessToken

	paths := []struct{ method, path, action string }{
		{"GET", "/v1/patients/p1", "patient.read"},
		{"GET", "/v1/patients/p1/alerts", "patient.alerts.list"},
		{"GET", "/v1/patients/p1/readings/latest", "patient.readings.latest"},
		{"GET", "/v1/alerts/a1", "alert.read"},
		{"POST", "/v1/alerts/a1/acknowledge", "alert.acknowledge"},
	}
	for _, p := range paths {
		res := e.do(p.method, p.path, other, nil)
		if res.status != http.StatusNotFound {
			t.Errorf("%s %s by another clinician: status %d, want 404: %s", p.method, p.path, res.status, res.body)
		}
	}
	// A patient that does not exist gets the same response.
	if res := e.do("GET", "/v1/patients/nobody", other, nil); res.status != http.StatusNotFound {
		t.Errorf("missing patient: status %d, want 404", res.status)
	}
	if res := e.do("GET", "/v1/alerts", other, nil); res.status != http.StatusOK || string(res.body) != "{\"items\":[]}\n" {
		t.Errorf("alert list of another clinician = %d %s, want 200 with no items", res.status, res.body)
	}

	records := e.auditRecords()
	if len(records) != 7 {
		t.Fatalf("audit log has %d records, want 7 (the login, six denials): %+v", len(records), records)
	}
	for i, p := range paths {
		r := records[1+i]
		if r.Action != p.action || r.Outcome != store.OutcomeDenied {
			t.Errorf("record %d = %s %s, want %s denied", i, r.Action, r.Outcome, p.action)
		}
		if r.PatientID == nil || *r.PatientID != "p1" {
			t.Errorf("record %d patient = %v, want p1", i, r.PatientID)
		}
		if r.ActorRole != "clinician" || r.ActorUserID == nil || r.IP != "127.0.0.1" || r.RequestID == "" {
			t.Errorf("record %d actor %v role %s ip %s request %q, want the clinician from 127.0.0.1 with a request id", i, r.ActorUserID, r.ActorRole, r.IP, r.RequestID)
		}
	}
	if r := records[6]; r.Action != "patient.read" || r.Outcome != store.OutcomeDenied || r.PatientID == nil || *r.PatientID != "nobody" {
		t.Errorf("last record = %s %s %v, want patient.read denied for nobody", r.Action, r.Outcome, r.PatientID)
	}
	if a, _ := e.db.GetAlert(ctx, "a1"); a.Status != store.StatusOpen {
		t.Errorf("alert a1 status = %s after a denied acknowledge, want open", a.Status)
	}
}

func TestPatientReadsAreAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	nurse := e.user("nurse@example.org", "clinician")
	ctx := context.Background()
	for _, id := range []string{"p1", "p2"} {
		if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: id, CareTeam: []string{nurse.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	seedAlert(t, e, "a1", "p1", t0)
	seedAlert(t, e, "a2", "p1", t0.Add(time.Minute))
	seedAlert(t, e, "a3", "p2", t0.Add(2*time.Minute))
	tk := e.login("nurse@example.org", "").AccessToken

	reads := []struct {
		path     string
		action   string
		patients []string
	}{
		{"/v1/patients/p1", "patient.read", []string{"p1"}},
		{"/v1/patients/p1/alerts", "patient.alerts.list", []string{"p1"}},
		{"/v1/patients/p1/readings/latest", "patient.readings.latest", []string{"p1"}},
		{"/v1/alerts/a3", "alert.read", []string{"p2"}},
		// One record per patient on the page: p2 (a3), then p1 (a2, a1).
		{"/v1/alerts", "alert.list", []string{"p2", "p1"}},
		{"/v1/patients", "patient.list", []string{"p1", "p2"}},
	}
	for _, r := range reads {
		if res := e.do("GET", r.path, tk, nil, "User-Agent", "audit-test/1"); res.status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", r.path, res.status, res.body)
		}
	}
	records := e.auditRecords()[1:] // after the login
	want := 0
	for _, r := range reads {
		want += len(r.patients)
	}
	if len(records) != want {
		t.Fatalf("audit log has %d read records, want %d: %+v", len(records), want, records)
	}
	i := 0
	for _, r := range reads {
		for _, p := range r.patients {
			got := records[i]
			i++
			if got.Action != r.action || got.Outcome != store.OutcomeAllowed {
				t.Errorf("GET %s: record %s %s, want %s allowed", r.path, got.Action, got.Outcome, r.action)
			}
			if got.PatientID == nil || *got.PatientID != p {
				t.Errorf("GET %s: record patient %v, want %s", r.path, got.PatientID, p)
			}
			if got.ActorUserID == nil || *got.ActorUserID != nurse.ID || got.ActorRole != "clinician" {
				t.Errorf("GET %s: record actor %v %s, want %s clinician", r.path, got.ActorUserID, got.ActorRole, nurse.ID)
			}
			if got.UserAgent != "audit-test/1" || got.IP != "127.0.0.1" || got.RequestID == "" {
				t.Errorf("GET %s: record from %s %q request %q, want 127.0.0.1 audit-test/1 with a request id", r.path, got.IP, got.UserAgent, got.RequestID)
			}
		}
	}
}

func TestInviteUsableOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken

	res := e.do("POST", "/v1/invites", admin, map[string]string{"role": "clinician"})
	if res.status != http.StatusCreated {
		t.Fatalf("create invite: status %d: %s", res.status, res.body)
	}
	var inv struct {
		Code string `json:"code"`
		Role string `json:"role"`
	}
	res.decode(t, &inv)
	register := func(code, email string) response {
		return e.do("POST", "/v1/auth/register", "", map[string]string{"invite_code": code, "email": email, "password": testPassword})
	}
	res = register(inv.Code, "new@example.org")
	if res.status != http.StatusCreated {
		t.Fatalf("first registration: status %d: %s", res.status, res.body)
	}
	var u store.User
	res.decode(t, &u)
	if u.Role != "clinician" {
		t.Errorf("registered role %q, want clinician from the invite", u.Role)
	}
	res = register(inv.Code, "second@example.org")
	if res.status != http.StatusUnprocessableEntity {
		t.Errorf("second registration with the code: status %d, want 422", res.status)
	}
	if p := res.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "invite_code" {
		t.Errorf("problem errors = %+v, want one on invite_code", p.Errors)
	}

	// An expired invite is refused too.
	res = e.do("POST", "/v1/invites", admin, map[string]string{"role": "billing", "expires_in": "1h"})
	res.decode(t, &inv)
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE invites SET expires_at = now() - interval '1 second' WHERE role = 'billing'`); err != nil {
		t.Fatal(err)
	}
	if res := register(inv.Code, "late@example.org"); res.status != http.StatusUnprocessableEntity {
		t.Errorf("registration with an expired invite: status %d, want 422", res.status)
	}

	// An admin invite needs a fresh TOTP code.
	if res := e.do("POST", "/v1/invites", admin, map[string]string{"role": "admin"}); res.status != http.StatusForbidden {
		t.Errorf("admin invite without X-TOTP-Code: status %d, want 403", res.status)
	}
	res = e.do("POST", "/v1/invites", admin, map[string]string{"role": "admin"}, "X-TOTP-Code", totpCode(t, secret, 1))
	if res.status != http.StatusCreated {
		t.Errorf("admin invite with a fresh code: status %d, want 201: %s", res.status, res.body)
	}
}

func TestAPIKeyExpiryAndRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{producer: &memProducer{}})
	_, secret := e.adminWithTOTP("admin@example.org")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	reading := map[string]any{"patient_id": "p1", "metric": "spo2", "value": 97, "unit": "%", "measured_at": time.Now().UTC().Format(time.RFC3339)}

	res := e.do("POST", "/v1/api-keys", admin, map[string]string{"name": "gateway"})
	if res.status != http.StatusCreated {
		t.Fatalf("create key: status %d: %s", res.status, res.body)
	}
	var old struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	res.decode(t, &old)
	if res := e.do("POST", "/v1/ingest/readings", "ApiKey "+old.Key, reading); res.status != http.StatusAccepted {
		t.Fatalf("ingest with a new key: status %d: %s", res.status, res.body)
	}

	res = e.do("POST", "/v1/api-keys/"+old.ID+"/rotate", admin, map[string]string{"overlap": "1h"}, "X-TOTP-Code", totpCode(t, secret, 1))
	if res.status != http.StatusCreated {
		t.Fatalf("rotate: status %d: %s", res.status, res.body)
	}
	var next struct {
		Key         string `json:"key"`
		RotatedFrom string `json:"rotated_from"`
	}
	res.decode(t, &next)
	if next.RotatedFrom != old.ID {
		t.Errorf("rotated_from = %q, want %q", next.RotatedFrom, old.ID)
	}
	for name, key := range map[string]string{"old key in overlap": old.Key, "new key": next.Key} {
		if res := e.do("POST", "/v1/ingest/readings", "ApiKey "+key, reading); res.status != http.StatusAccepted {
			t.Errorf("%s: status %d, want 202", name, res.status)
		}
	}
	// The overlap ends.
	if _, err := e.db.Pool().Exec(context.Background(), `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if res := e.do("POST", "/v1/ingest/readings", "ApiKey "+old.Key, reading); res.status != http.StatusUnauthorized {
		t.Errorf("expired key: status %d, want 401", res.status)
	}
	if res := e.do("POST", "/v1/ingest/readings", "ApiKey "+next.Key, reading); res.status != http.StatusAccepted {
		t.Errorf("successor after the overlap: status %d, want 202", res.status)
	}
	if res := e.do("POST", "/v1/ingest/readings", "ApiKey "+next.Key[:len(next.Key)-1]+"x", reading); res.status != http.StatusUnauthorized {
		t.Errorf("key with a wrong secret: status %d, want 401", res.status)
	}
	// A device key reaches nothing but ingest.
	if res := e.do("GET", "/v1/alerts", "ApiKey "+next.Key, nil); res.status != http.StatusForbidden {
		t.Errorf("device key on /v1/alerts: status %d, want 403", res.status)
	}
}

// memProducer keeps produced records in memory, for tests that do not
// read them back from Kafka.
type memProducer struct{ records int }

func (p *memProducer) Produce(_ context.Context, records []engine.Record) error {
	p.records += len(records)
	return nil
}
