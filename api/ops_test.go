package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	admin := e.login("admin@example.org", totpCode(t, secret, 0)).AccessToken
	e.user("nurse@example.org", "clinician")
	nurse := e.login("nurse@example.org", "").AccessToken

	if res := e.do("GET", "/healthz", "", nil); res.status != http.StatusOK || string(res.body) != "ok\n" {
		t.Errorf("healthz: status %d body %q, want 200 ok", res.status, res.body)
	}
	// This server has no live stream hub: ready, with the stream disabled.
	res := e.do("GET", "/readyz", "", nil)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"alert_stream":"disabled"`) {
		t.Errorf("readyz: status %d body %s, want 200 with the stream disabled", res.status, res.body)
	}

	var key struct {
		Key string `json:"key"`
	}
	e.do("POST", "/v1/api-keys", admin, map[string]string{"name": "prometheus", "role": "sre"}).decode(t, &key)
	res = e.do("GET", "/metrics", "ApiKey "+key.Key, nil)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "vytalwatch_http_requests_total") {
		t.Errorf("metrics with an sre key: status %d, want 200 with the request counter", res.status)
	}
	if res := e.do("GET", "/metrics", nurse, nil); res.status != http.StatusForbidden {
		t.Errorf("metrics for a clinician: status %d, want 403", res.status)
	}
	if res := e.do("GET", "/metrics", "", nil); res.status != http.StatusUnauthorized {
		t.Errorf("metrics without credentials: status %d, want 401", res.status)
	}
	if res := e.do("GET", "/v1/alerts", "ApiKey "+key.Key, nil); res.status != http.StatusForbidden {
		t.Errorf("alerts with an sre key: status %d, want 403", res.status)
	}
	res = e.do("GET", "/v1/status", "ApiKey "+key.Key, nil)
	if res.status != http.StatusOK || string(res.body) != "{\"outbox_pending\":0,\"stream_subscribers\":0}\n" {
		t.Errorf("status: %d %s, want 200 with an empty outbox and no streams", res.status, res.body)
	}
	if res := e.do("GET", "/v1/nothing-here", nurse, nil); res.status != http.StatusNotFound || res.problem(t).Status != 404 {
		t.Errorf("unknown path: status %d, want a 404 problem", res.status)
	}
	if res := e.do("DELETE", "/v1/me", nurse, nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("wrong method: status %d, want 405", res.status)
	}
}
