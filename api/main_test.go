package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// cheapHashing keeps the tests' argon2id hashes fast: 1 MiB, 1 pass.
var cheapHashing = api.PasswordParams{MemoryKiB: 1024, Iterations: 1, Threads: 1}

// env is one API server on a fresh schema.
type env struct {
	t   *testing.T
	db  *postgres.DB
	srv *httptest.Server
	key ed25519.PrivateKey
	api *api.Server
}

type envOptions struct {
	cfg      api.Config
	producer engine.Producer
	hub      *api.Hub
	// now is the server's clock of tokens and TOTP; nil is time.Now.
	now func() time.Time
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	db := pgtest.DB(t)
	cfg := opts.cfg
	if cfg.SigningKey == nil {
		cfg.SigningKey = api.GenerateSigningKey()
	}
	if cfg.PasswordParams == (api.PasswordParams{}) {
		cfg.PasswordParams = cheapHashing
	}
	s, err := api.New(cfg, api.Deps{DB: db, Producer: opts.producer, Hub: opts.hub, History: csv.ReadHistory, Logger: slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(), Now: opts.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv, key: cfg.SigningKey, api: s}
}

// user creates a user directly in the store.
func (e *env) user(email, role string) store.User {
	e.t.Helper()
	u, err := e.db.CreateUser(context.Background(), store.NewUser{Email: email, Role: role, PasswordHash: api.HashPassword(testPassword, cheapHashing)})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// adminWithTOTP creates an administrator with confirmed TOTP and returns
// it with its secret.
func (e *env) adminWithTOTP(email string) (store.User, string) {
	e.t.Helper()
	u := e.user(email, "admin")
	return u, e.enrollTOTP(u)
}

// enrollTOTP gives the user a confirmed TOTP secret and returns it.
func (e *env) enrollTOTP(u store.User) string {
	e.t.Helper()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	ctx := context.Background()
	if err := e.db.SetTOTPSecret(ctx, u.ID, secret); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.ConfirmTOTP(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// totpCode returns the code of the time step steps away from now, so a
// test can use a fresh code twice in one 30-second step.
func totpCode(t *testing.T, secret string, steps int) string {
	t.Helper()
	code, err := api.TOTPCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// login logs in and returns the token response.
func (e *env) login(email, totp string) tokens {
	e.t.Helper()
	body := map[string]string{"email": email, "password": testPassword}
	if totp != "" {
		body["totp_code"] = totp
	}
	res := e.do("POST", "/v1/auth/login", "", body)
	if res.status != http.StatusOK {
		e.t.Fatalf("login %s: status %d: %s", email, res.status, res.body)
	}
	var tk tokens
	res.decode(e.t, &tk)
	return tk
}

type tokens struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	EnrollOnly   bool      `json:"enroll_only"`
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem document.
func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p api.Problem
	r.decode(t, &p)
	return p
}

// do sends a request with a bearer token (or, when auth starts with
// "ApiKey ", that header). body is JSON-encoded unless it is a string.
func (e *env) do(method, path, auth string, body any, headers ...string) response {
	e.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, reader)
	if err != nil {
		e.t.Fatal(err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(auth, "ApiKey "), strings.HasPrefix(auth, "Raw "):
		req.Header.Set("Authorization", strings.TrimPrefix(auth, "Raw "))
	case auth != "":
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// auditRecords returns the audit log, oldest first.
func (e *env) auditRecords() []store.AuditRecord {
	e.t.Helper()
	records, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(records)-1; i < j; i, j = i+1, j-1 {
		records[i], records[j] = records[j], records[i]
	}
	return records
}
