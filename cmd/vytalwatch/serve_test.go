package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestServeConfigReportsEveryProblem checks that serve lists every
// invalid setting at once and exits 2 before starting anything.
func TestServeConfigReportsEveryProblem(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VYTALWATCH_ACCESS_TTL", "forever")
	t.Setenv("VYTALWATCH_RATE_LIMIT_IP", "0")
	t.Setenv("VYTALWATCH_JWT_KEY", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve", "--addr", "nowhere"}, &stdout, &stderr); code != 2 {
		t.Fatalf("serve exited %d, want 2; stderr %s", code, stderr.String())
	}
	for _, want := range []string{"DATABASE_URL is not set", "no broker address given", `API address "nowhere"`,
		"VYTALWATCH_JWT_KEY", `VYTALWATCH_ACCESS_TTL "forever"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestServeConfigRejectsBadLimits(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://127.0.0.1:1/x")
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:1")
	t.Setenv("VYTALWATCH_JWT_KEY", "")
	t.Setenv("VYTALWATCH_RATE_LIMIT_IP", "0")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve"}, &stdout, &stderr); code != 2 {
		t.Fatalf("serve exited %d, want 2; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "VYTALWATCH_RATE_LIMIT_IP 0 must be at least 1 request per minute") {
		t.Errorf("stderr lacks the rate limit problem:\n%s", stderr.String())
	}
}

func TestTOTPCodeCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"totp", "code", "--secret", "JBSWY3DPEHPK3PXP"}, &stdout, &stderr); code != 0 {
		t.Fatalf("totp code exited %d: %s", code, stderr.String())
	}
	if code := strings.TrimSpace(stdout.String()); len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		t.Errorf("code = %q, want 6 digits", code)
	}
	if code := run([]string{"totp", "code", "--secret", "!!"}, &stdout, &stderr); code != 2 {
		t.Errorf("totp code with an invalid secret exited %d, want 2", code)
	}
}
