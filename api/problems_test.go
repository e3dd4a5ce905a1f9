package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/vytalwatch/vytalwatch/api"
)

func TestRateLimitAnswers429(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: api.Config{RateLimitToken: 3}})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	for i := range 3 {
		if res := e.do("GET", "/v1/me", tk, nil); res.status != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, res.status)
		}
	}
	res := e.do("GET", "/v1/me", tk, nil)
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("fourth request: status %d, want 429", res.status)
	}
	if res.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/rate-limited" || p.Status != 429 {
		t.Errorf("problem = %+v, want rate-limited 429", p)
	}
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: api.Config{RateLimitLogin: 2}})
	bad := map[string]string{"email": "x@example.org", "password": "wrong password"}
	for i := range 2 {
		if res := e.do("POST", "/v1/auth/login", "", bad); res.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, res.status)
		}
	}
	if res := e.do("POST", "/v1/auth/login", "", bad); res.status != http.StatusTooManyRequests {
		t.Errorf("third attempt: status %d, want 429", res.status)
	}
}

func TestBodyTooLargeAnswers413(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: api.Config{BodyLimit: 4096}})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	big := `{"id":"x","name":"` + strings.Repeat("a", 5000) + `"}`
	res := e.do("POST", "/v1/rules/validate", tk, big)
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", res.status, res.body)
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/too-large" {
		t.Errorf("problem type %q, want .../too-large", p.Type)
	}
}

func TestMalformedJSONAnswers400(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	cases := map[string]string{
		"truncated":     `{"id": "x"`,
		"not json":      `id=x`,
		"unknown field": `{"id": "x", "colour": "red"}`,
		"wrong type":    `{"id": 5}`,
		"two values":    `{"id": "x"} {"id": "y"}`,
		"trailing word": `{"id": "x"} trailing`,
		"empty":         ``,
	}
	for name, body := range cases {
		res := e.do("POST", "/v1/rules", tk, body)
		if res.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", name, res.status, res.body)
			continue
		}
		p := res.problem(t)
		if p.Type != "https://vytalwatch.dev/problems/malformed-request" || p.Detail == "" || p.Instance == "" {
			t.Errorf("%s: problem %+v, want malformed-request with a detail and an instance", name, p)
		}
		if p.Instance != res.header.Get("X-Request-Id") {
			t.Errorf("%s: instance %q, want the X-Request-Id %q", name, p.Instance, res.header.Get("X-Request-Id"))
		}
	}
}

// Data after the JSON value is named as such, not as a JSON syntax error
// in the middle of it.
func TestTrailingDataNamed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	res := e.do("POST", "/v1/rules", tk, `{"id": "x"}  trailing`)
	want := "the body has data after its JSON value, at byte 13; send exactly one JSON value"
	if p := res.problem(t); res.status != http.StatusBadRequest || p.Detail != want {
		t.Errorf("status %d detail %q, want 400 %q", res.status, p.Detail, want)
	}
}

func TestValidationAnswers422WithProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "").AccessToken
	rule := map[string]any{"id": "Bad Id", "name": "x", "severity": "urgent", "metrics": []string{"spo2"}, "condition": `last("spo3") < 90`}
	res := e.do("POST", "/v1/rules/validate", tk, rule)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", res.status, res.body)
	}
	var doc struct {
		api.Problem
		Problems []struct {
			Field string `json:"field"`
			Hint  string `json:"hint"`
		} `json:"problems"`
	}
	res.decode(t, &doc)
	var fields []string
	for _, p := range doc.Problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{"id", "severity", "condition"} {
		if !slices.Contains(fields, want) {
			t.Errorf("problems name fields %v, want %s among them", fields, want)
		}
	}
	if len(doc.Errors) != len(doc.Problems) {
		t.Errorf("errors has %d entries, problems %d; want one each per problem", len(doc.Errors), len(doc.Problems))
	}
}

// TestMalformedInputNever5xx sends broken input to every route that
// takes a body or parameters and checks that no response is a 5xx.
func TestMalformedInputNever5xx(t *testing.T) {
	t.Parallel()
	// Limits high enough that no request gets a 429 instead.
	e := newEnv(t, envOptions{producer: &memProducer{}, cfg: api.Config{RateLimitIP: 1 << 20, RateLimitToken: 1 << 20, RateLimitLogin: 1 << 20}})
	_, secret := e.adminWithTOTP("admin@example.org")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	statuses := map[int]int{}
	bodies := []string{``, `{`, `[]`, `null`, `"x"`, `{"id": []}`, `{"rule": {"id": "a"}, "tests": {"x": 1}}`,
		`{"patient_id": "` + strings.Repeat("x", 300) + `"}`, `{"user_id": "not-a-uuid"}`, `{"csv": "a,b\n1"}`,
		`{"rules": [{"id": "a", "name": "a", "severity": "low", "metrics": ["spo2"], "condition": "1 >"}], "csv": ""}`,
		`{"role": "emperor", "expires_in": "-1d"}`, `{"overlap": "99999999999d"}`, "\x00\xff", `{"kind": "x", "minutes": -1}`,
		`{"tests": [{"name": "t", "readings": [{"at": "yesterday"}]}], "rule": {"id": "a", "name": "a", "severity": "low", "metrics": ["spo2"], "condition": "last(\"spo2\") < 90"}}`}
	paths := []string{"/v1/rules", "/v1/rules/validate", "/v1/rules/test", "/v1/rules/backtest", "/v1/rules/x%00",
		"/v1/rules/a/enable", "/v1/patients", "/v1/patients/%FF", "/v1/patients/p1/care-team", "/v1/patients/p1/care-events",
		"/v1/alerts/x/assign", "/v1/alerts/x/acknowledge", "/v1/invites", "/v1/api-keys", "/v1/api-keys/not-a-uuid/rotate",
		"/v1/users/not-a-uuid/disable", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/register", "/v1/auth/password",
		"/v1/auth/totp/confirm"}
	for _, path := range paths {
		for _, method := range []string{"POST", "PUT"} {
			for _, body := range bodies {
				res := e.do(method, path, admin, body, "X-TOTP-Code", "12")
				statuses[res.status]++
				if res.status >= 500 || res.status == http.StatusTooManyRequests {
					t.Errorf("%s %s %q: status %d: %s", method, path, body, res.status, res.body)
				}
			}
		}
	}
	queries := []string{"/v1/alerts?limit=0", "/v1/alerts?limit=x", "/v1/alerts?cursor=%%%", "/v1/alerts?cursor=eyJ9",
		"/v1/alerts?since=yesterday", "/v1/alerts?severity=urgent&status=gone", "/v1/audit?cursor=-5", "/v1/audit?actor_user_id=x",
		"/v1/patients/p1/alerts?until=2026-13-01", "/v1/users/x", "/v1/rules/x/versions"}
	for _, q := range queries {
		if res := e.do("GET", q, admin, nil); res.status >= 500 {
			t.Errorf("GET %s: status %d: %s", q, res.status, res.body)
		}
	}
	ingest := []string{`[`, `[1, 2]`, `{"patient_id": 5}`, `[{}]`, strings.Repeat(`[`, 10000)}
	for _, body := range ingest {
		res := e.do("POST", "/v1/ingest/readings", admin, body)
		if res.status >= 500 {
			t.Errorf("ingest %q: status %d", body, res.status)
		}
	}
	// The bodies must reach the handlers' checks, not stop at one status.
	for _, status := range []int{400, 404, 405, 422} {
		if statuses[status] == 0 {
			t.Errorf("no request answered %d; statuses %v", status, statuses)
		}
	}
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{}
	err := chi.Walk(e.api.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("openapi.json documents %s, which no route serves", d)
		}
	}
	res := e.do("GET", "/openapi.json", "", nil)
	if res.status != http.StatusOK || string(res.body) != string(api.OpenAPIDocument()) {
		t.Errorf("GET /openapi.json: status %d, want 200 with the document", res.status)
	}
}
