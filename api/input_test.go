package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
)

const (
	typeMalformed  = "https://vytalwatch.dev/problems/malformed-request"
	typeValidation = "https://vytalwatch.dev/problems/validation"
)

// checkProblem checks a response's status, problem type, detail and
// field errors; name identifies the request in failures.
func checkProblem(t *testing.T, name string, res response, status int, typ, detail string, fieldErrors ...api.FieldError) {
	t.Helper()
	if res.status != status {
		t.Errorf("%s: status %d, want %d: %s", name, res.status, status, res.body)
		return
	}
	p := res.problem(t)
	if p.Type != typ {
		t.Errorf("%s: type %q, want %q", name, p.Type, typ)
	}
	if p.Detail != detail {
		t.Errorf("%s: detail %q, want %q", name, p.Detail, detail)
	}
	if !slices.Equal(p.Errors, fieldErrors) {
		t.Errorf("%s: errors %+v, want %+v", name, p.Errors, fieldErrors)
	}
}

// nulCursor returns a base64url cursor whose decoded text contains NUL.
func nulCursor(text string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(text))
}

func TestNULAndInvalidUTF8Answer4xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	e.user("nurse@example.org", "clinician")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	nurse := e.login("nurse@example.org", "").AccessToken

	nulDetail := "contains the NUL character (U+0000) at byte 0; remove it from the value"
	requests := []struct {
		path, token, detail string
	}{
		{"/v1/patients/%00", nurse, `the path "/v1/patients/\x00" contains the NUL character (U+0000) at byte 13; remove it from the path`},
		{"/v1/alerts/%00", nurse, `the path "/v1/alerts/\x00" contains the NUL character (U+0000) at byte 11; remove it from the path`},
		{"/v1/rules/%00", nurse, `the path "/v1/rules/\x00" contains the NUL character (U+0000) at byte 10; remove it from the path`},
		{"/v1/patients/%FF%FE", nurse, `the path "/v1/patients/\xff\xfe" contains invalid UTF-8 at byte 13; remove it from the path`},
		{"/v1/patients/p%0A1", nurse, `the path "/v1/patients/p\n1" contains the control character U+000A at byte 14; remove it from the path`},
		{"/v1/alerts?rule_id=%00", nurse, "query parameter rule_id " + nulDetail},
		{"/v1/alerts?patient_id=%FF", nurse, "query parameter patient_id contains invalid UTF-8 at byte 0; remove it from the value"},
		{"/v1/audit?action=%00", admin, "query parameter action " + nulDetail},
		{"/v1/audit?patient_id=%00", admin, "query parameter patient_id " + nulDetail},
		{"/v1/patients?x%00=1", nurse, `the query parameter name "x\x00" contains the NUL character (U+0000) at byte 1; remove it`},
	}
	for _, r := range requests {
		checkProblem(t, "GET "+r.path, e.do("GET", r.path, r.token, nil), http.StatusBadRequest, typeMalformed, r.detail)
	}
	res := e.do("GET", "/v1/me", nurse, nil, "X-TOTP-Code", "12\xff")
	checkProblem(t, "X-TOTP-Code with invalid UTF-8", res, http.StatusBadRequest, typeMalformed,
		"header X-TOTP-Code contains invalid UTF-8 at byte 2; send it as printable ASCII")

	nul := "the NUL character (U+0000) at byte 1"
	bodies := []struct {
		method, path, token, body string
		field, found              string
	}{
		{"POST", "/v1/auth/login", "", `{"email":"a\u0000b@x","password":"xxxxxxxxxxxxxxxx"}`, "email", nul},
		{"POST", "/v1/rules", nurse, `{"id":"nulname","name":"x\u0000","severity":"high","metrics":["spo2"],"condition":"last(\"spo2\") < 92","message":"m"}`, "name", nul},
		{"POST", "/v1/api-keys", admin, `{"name":"k\u0000"}`, "name", nul},
		{"POST", "/v1/patients", nurse, `{"patient_id":"p1","conditions":["ok","x\u0000"]}`, "conditions[1]", nul},
		{"POST", "/v1/patients", nurse, `{"patient_id":"p1","thresholds":{"x\u0000":1}}`, `thresholds."x\x00"`, nul},
		{"POST", "/v1/rules/validate", nurse, `{"id":"a","name":"x\u001b[31m","severity":"high","metrics":["spo2"],"condition":"true"}`, "name",
			"the control character U+001B at byte 1"},
	}
	for _, b := range bodies {
		message := "contains " + b.found + "; remove it, because text may not contain NUL or control characters other than tab, line feed and carriage return"
		res := e.do(b.method, b.path, b.token, b.body)
		checkProblem(t, b.method+" "+b.path+" "+b.body, res, http.StatusUnprocessableEntity, typeValidation,
			b.field+": "+message, api.FieldError{Field: b.field, Message: message})
	}
	// Line breaks and tabs are text; a rule condition may span lines.
	multiLine := `{"id":"a","name":"two\tparts","severity":"high","metrics":["spo2"],"condition":"last(\"spo2\")\n< 92"}`
	if res := e.do("POST", "/v1/rules/validate", nurse, multiLine); res.status != http.StatusOK {
		t.Errorf("rule with a tab and a line feed: status %d, want 200: %s", res.status, res.body)
	}
	res = e.do("POST", "/v1/rules", nurse, "{\"id\":\"badutf\",\"name\":\"x\xff\",\"severity\":\"high\",\"metrics\":[\"spo2\"],\"condition\":\"true\"}")
	checkProblem(t, "rule name with invalid UTF-8", res, http.StatusBadRequest, typeMalformed,
		"field name contains invalid UTF-8; send the body as UTF-8")

	cursorError := api.FieldError{Field: "cursor", Message: "must be the next_cursor of a previous page"}
	alertCursor := nulCursor(`{"t":"2026-12-04T19:57:11Z","id":"x\u0000"}`)
	cursors := []struct{ path, token string }{
		{"/v1/alerts?cursor=" + alertCursor, nurse},
		{"/v1/patients/p1/alerts?cursor=" + alertCursor, admin},
		{"/v1/patients?cursor=" + nulCursor("p\x00"), nurse},
		{"/v1/patients?cursor=" + nulCursor("p\xff"), nurse},
		{"/v1/billing/months/2026-03?cursor=" + nulCursor("p\x00"), admin},
	}
	for _, c := range cursors {
		checkProblem(t, "GET "+c.path, e.do("GET", c.path, c.token, nil), http.StatusUnprocessableEntity, typeValidation,
			"cursor: must be the next_cursor of a previous page", cursorError)
	}
}

func TestAuditSanitizesUserAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	nurse := e.user("nurse@example.org", "clinician")
	if _, err := e.db.CreatePatient(context.Background(), store.Patient{PatientID: "10006", CareTeam: []string{nurse.ID}}); err != nil {
		t.Fatal(err)
	}
	tk := e.login("nurse@example.org", "").AccessToken
	agents := []struct{ sent, stored string }{
		{"a\xffb", "a\ufffdb"},
		{"tab\there", "tabhere"},
		// Cut at 256 bytes, before the two-byte é that would straddle it.
		{strings.Repeat("x", 255) + "é", strings.Repeat("x", 255)},
	}
	for _, a := range agents {
		res := e.do("GET", "/v1/patients/10006", tk, nil, "User-Agent", a.sent)
		if res.status != http.StatusOK {
			t.Fatalf("read with User-Agent %q: status %d, want 200: %s", a.sent, res.status, res.body)
		}
		records := e.auditRecords()
		last := records[len(records)-1]
		if last.Action != "patient.read" || last.Outcome != store.OutcomeAllowed || last.PatientID == nil || *last.PatientID != "10006" {
			t.Errorf("User-Agent %q: last audit record %s %s %v, want patient.read allowed for 10006", a.sent, last.Action, last.Outcome, last.PatientID)
		}
		if last.UserAgent != a.stored {
			t.Errorf("User-Agent %q: stored %q, want %q", a.sent, last.UserAgent, a.stored)
		}
	}
}

func TestIngestChecksBeforeProducing(t *testing.T) {
	t.Parallel()
	prod := &memProducer{}
	e := newEnv(t, envOptions{producer: prod})
	key, _ := createDeviceKey(t, e)
	auth := "ApiKey " + key
	now := time.Now().UTC().Format(time.RFC3339)
	reading := func(fields string) string {
		return `{"patient_id":"p1","metric":"spo2","value":95,"unit":"%","measured_at":"` + now + `"` + fields + `}`
	}
	auditsBefore := len(e.auditRecords())

	res := e.do("POST", "/v1/ingest/readings", auth, `{"patient_id":"p\u0000x","metric":"spo2","value":80,"unit":"%","measured_at":"`+now+`"}`)
	message := "contains the NUL character (U+0000) at byte 1; remove it, because text may not contain NUL or control characters other than tab, line feed and carriage return"
	checkProblem(t, "patient_id with NUL", res, http.StatusUnprocessableEntity, typeValidation,
		"patient_id: "+message, api.FieldError{Field: "patient_id", Message: message})

	res = e.do("POST", "/v1/ingest/readings", auth, "["+reading("")+","+reading(`,"device_id":"d\u0000"`)+"]")
	checkProblem(t, "list with a NUL device_id", res, http.StatusUnprocessableEntity, typeValidation,
		"[1].device_id: "+message, api.FieldError{Field: "[1].device_id", Message: message})

	res = e.do("POST", "/v1/ingest/readings", auth, reading(",\"device_id\":\"d\xff\""))
	checkProblem(t, "device_id with invalid UTF-8", res, http.StatusBadRequest, typeMalformed,
		"field device_id contains invalid UTF-8; send the body as UTF-8")

	res = e.do("POST", "/v1/ingest/readings", auth, reading(`,"bogus":1`))
	checkProblem(t, "unknown field", res, http.StatusBadRequest, typeMalformed,
		`unknown field "bogus"; remove it (see /openapi.json for the fields)`)

	res = e.do("POST", "/v1/ingest/readings", auth, "["+reading("")+`,{"patient_id":"p1","metric":"blood_pressure","measured_at":"`+now+
		`","components":[{"metric":"systolic_bp","value":120,"unit":"mmHg"},{"metric":"diastolic_bp","value":80,"unit":"mmHg","colour":"red"}]}]`)
	checkProblem(t, "unknown component field", res, http.StatusBadRequest, typeMalformed,
		`unknown field "[1].components[1].colour"; remove it (see /openapi.json for the fields)`)

	res = e.do("POST", "/v1/ingest/readings", auth, reading(""), "Content-Type", "text/plain")
	checkProblem(t, "text/plain body", res, http.StatusUnsupportedMediaType, "https://vytalwatch.dev/problems/unsupported-media-type",
		`send the body as application/json, not "text/plain"`)

	res = e.do("POST", "/v1/ingest/readings", auth, reading("")+" trailing")
	if res.status != http.StatusBadRequest {
		t.Errorf("trailing data: status %d, want 400: %s", res.status, res.body)
	}

	if prod.records != 0 {
		t.Errorf("produced %d readings from rejected requests, want 0", prod.records)
	}
	if n := len(e.auditRecords()); n != auditsBefore {
		t.Errorf("rejected requests wrote %d audit records, want 0", n-auditsBefore)
	}

	// The audit write comes before the produce: when it fails, nothing
	// was produced.
	if _, err := e.db.Pool().Exec(context.Background(), `ALTER TABLE audit_log RENAME TO audit_log_gone`); err != nil {
		t.Fatal(err)
	}
	res = e.do("POST", "/v1/ingest/readings", auth, reading(""))
	if res.status != http.StatusInternalServerError {
		t.Errorf("ingest with a failing audit write: status %d, want 500: %s", res.status, res.body)
	}
	if prod.records != 0 {
		t.Errorf("produced %d readings although the audit write failed, want 0", prod.records)
	}
}

func TestPatientIDRuleSharedByIngestAndPatients(t *testing.T) {
	t.Parallel()
	prod := &memProducer{}
	e := newEnv(t, envOptions{producer: prod})
	key, _ := createDeviceKey(t, e)
	e.user("nurse@example.org", "clinician")
	nurse := e.login("nurse@example.org", "").AccessToken
	now := time.Now().UTC().Format(time.RFC3339)

	for _, id := range []string{"a/b", "p 1", "-p1", "p\u00e9"} {
		res := e.do("POST", "/v1/patients", nurse, map[string]any{"patient_id": id})
		checkProblem(t, "POST /v1/patients "+id, res, http.StatusUnprocessableEntity, typeValidation,
			"patient_id: must be 1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
			api.FieldError{Field: "patient_id", Message: "must be 1 to 200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"})

		body := map[string]any{"patient_id": id, "metric": "spo2", "value": 95, "unit": "%", "measured_at": now}
		res = e.do("POST", "/v1/ingest/readings", "ApiKey "+key, body)
		var doc struct {
			api.Problem
			Rejections []struct {
				Index   int    `json:"index"`
				Reason  string `json:"reason"`
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"rejections"`
		}
		res.decode(t, &doc)
		if res.status != http.StatusUnprocessableEntity || len(doc.Rejections) != 1 {
			t.Errorf("ingest patient_id %q: status %d, want 422 with one rejection: %s", id, res.status, res.body)
			continue
		}
		r := doc.Rejections[0]
		if r.Reason != "invalid_id" || r.Field != "patient_id" || !strings.Contains(r.Message, "as POST /v1/patients requires") {
			t.Errorf("ingest patient_id %q: rejection %+v, want invalid_id on patient_id naming the rule", id, r)
		}
	}
	if prod.records != 0 {
		t.Errorf("produced %d readings with invalid patient ids, want 0", prod.records)
	}
}

func TestPatientOutsideCareTeamNotRevealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	mine := e.user("mine@example.org", "clinician")
	e.user("other@example.org", "clinician")
	ctx := context.Background()
	if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: "10032", CareTeam: []string{mine.ID}}); err != nil {
		t.Fatal(err)
	}
	seedAlert(t, e, "a1", "10032", time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	other := e.login("other@example.org", "").AccessToken
	owner := e.login("mine@example.org", "").AccessToken

	read := e.do("GET", "/v1/patients/10032", other, nil)
	checkProblem(t, "GET of another team's patient", read, http.StatusNotFound, "https://vytalwatch.dev/problems/not-found",
		`no patient "10032" on your care team`)
	create := e.do("POST", "/v1/patients", other, map[string]any{"patient_id": "10032"})
	checkProblem(t, "POST of another team's patient id", create, http.StatusNotFound, "https://vytalwatch.dev/problems/not-found",
		`no patient "10032" on your care team`)
	list := e.do("GET", "/v1/alerts?patient_id=10032", other, nil)
	checkProblem(t, "alert list of another team's patient", list, http.StatusNotFound, "https://vytalwatch.dev/problems/not-found",
		`no patient "10032" on your care team`)

	records := e.auditRecords()
	denials := records[len(records)-3:]
	for i, action := range []string{"patient.read", "patient.create", "alert.list"} {
		r := denials[i]
		if r.Action != action || r.Outcome != store.OutcomeDenied || r.PatientID == nil || *r.PatientID != "10032" || r.ResourceID != "10032" {
			t.Errorf("audit record %d = %s %s patient %v resource %q, want %s denied for 10032", i, r.Action, r.Outcome, r.PatientID, r.ResourceID, action)
		}
	}

	// Members of the care team get the 409 and the alerts.
	res := e.do("POST", "/v1/patients", owner, map[string]any{"patient_id": "10032"})
	checkProblem(t, "POST of an own patient's id", res, http.StatusConflict, "https://vytalwatch.dev/problems/conflict",
		"patient 10032 already exists")
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	res = e.do("GET", "/v1/alerts?patient_id=10032", owner, nil)
	res.decode(t, &page)
	if res.status != http.StatusOK || len(page.Items) != 1 || page.Items[0].ID != "a1" {
		t.Errorf("alert list of an own patient: status %d items %+v, want 200 with a1", res.status, page.Items)
	}
}

func TestPatientListPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	nurse := e.user("nurse@example.org", "clinician")
	ctx := context.Background()
	// 51 patients with ids p00 to p50, and one off the care team.
	var want []string
	for i := range 51 {
		id := "p" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		want = append(want, id)
		if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: id, CareTeam: []string{nurse.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.CreatePatient(ctx, store.Patient{PatientID: "other"}); err != nil {
		t.Fatal(err)
	}
	tk := e.login("nurse@example.org", "").AccessToken
	type page struct {
		Items []struct {
			PatientID string `json:"patient_id"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	ids := func(p page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.PatientID)
		}
		return out
	}

	var first page
	auditsBefore := len(e.auditRecords())
	res := e.do("GET", "/v1/patients", tk, nil)
	res.decode(t, &first)
	if res.status != http.StatusOK || !slices.Equal(ids(first), want[:50]) || first.NextCursor == "" {
		t.Fatalf("default page: status %d ids %v cursor %q, want p00 to p49 and a cursor", res.status, ids(first), first.NextCursor)
	}
	if n := len(e.auditRecords()) - auditsBefore; n != 50 {
		t.Errorf("default page wrote %d audit records, want 50, one per listed patient", n)
	}
	var rest page
	e.do("GET", "/v1/patients?cursor="+first.NextCursor, tk, nil).decode(t, &rest)
	if !slices.Equal(ids(rest), want[50:]) || rest.NextCursor != "" {
		t.Errorf("second page: ids %v cursor %q, want p50 and no cursor", ids(rest), rest.NextCursor)
	}

	var got []string
	cursor := ""
	for range 30 {
		var p page
		res := e.do("GET", "/v1/patients?limit=20&cursor="+cursor, tk, nil)
		res.decode(t, &p)
		if res.status != http.StatusOK {
			t.Fatalf("limit=20: status %d: %s", res.status, res.body)
		}
		got = append(got, ids(p)...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages of 20 list %v, want p00 to p50 once each", got)
	}

	limitError := api.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"}
	cursorError := api.FieldError{Field: "cursor", Message: "must be the next_cursor of a previous page"}
	bad := []struct {
		query string
		errs  []api.FieldError
	}{
		{"limit=0", []api.FieldError{limitError}},
		{"limit=201", []api.FieldError{limitError}},
		{"limit=abc", []api.FieldError{limitError}},
		{"cursor=!!", []api.FieldError{cursorError}},
		{"cursor=zzz", []api.FieldError{cursorError}},
		{"limit=-1&cursor=!!", []api.FieldError{limitError, cursorError}},
	}
	for _, b := range bad {
		var parts []string
		for _, fe := range b.errs {
			parts = append(parts, fe.Field+": "+fe.Message)
		}
		res := e.do("GET", "/v1/patients?"+b.query, tk, nil)
		checkProblem(t, "GET /v1/patients?"+b.query, res, http.StatusUnprocessableEntity, typeValidation, strings.Join(parts, "; "), b.errs...)
	}
}
