// Package api is VytalWatch's HTTP API: a chi router under /v1 for rules,
// patients, alerts, billing review, users, invites, API keys, the audit
// log and device ingest. It authenticates with Ed25519-signed JWT access tokens,
// rotating refresh tokens, TOTP and hashed API keys, and authorizes by
// role and care team. Errors are RFC 9457 problem documents. It also
// serves a live alert stream over Server-Sent Events and the OpenAPI 3.1
// document at /openapi.json.
//
// Every read or change of patient data writes an audit record. A request
// for a patient outside the caller's care team gets a 404, as for a
// patient that does not exist, so the API never reveals who else is
// monitored.
package api

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
)

// Config configures the API. Zero fields take the defaults WithDefaults
// documents.
type Config struct {
	// SigningKey signs and verifies access tokens (EdDSA). Required.
	SigningKey ed25519.PrivateKey
	// AccessTTL is the lifetime of access tokens. Defaults to 15m.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens. Defaults to 30 days.
	RefreshTTL time.Duration
	// RateLimitIP is how many requests one client address may make per
	// minute. Defaults to 600.
	RateLimitIP int
	// RateLimitToken is how many requests one user or API key may make
	// per minute. Defaults to 300.
	RateLimitToken int
	// RateLimitLogin is how many login, refresh and registration
	// attempts one client address may make per minute. Defaults to 10.
	RateLimitLogin int
	// BodyLimit bounds request bodies, in bytes. Defaults to 1 MiB.
	BodyLimit int64
	// BacktestBodyLimit bounds rule backtest bodies, which carry CSV
	// history, in bytes. Defaults to 16 MiB.
	BacktestBodyLimit int64
	// APIKeyTTL is the lifetime of new API keys when a request gives
	// none. Defaults to 365 days.
	APIKeyTTL time.Duration
	// APIKeyOverlap is how long a rotated API key keeps working next to
	// its successor. Defaults to 24h.
	APIKeyOverlap time.Duration
	// InviteTTL is the lifetime of invites when a request gives none.
	// Defaults to 7 days.
	InviteTTL time.Duration
	// StreamCheckInterval is how often a live stream rechecks its token.
	// Defaults to 1s.
	StreamCheckInterval time.Duration
	// StreamHeartbeat is how often an idle live stream sends a comment.
	// Defaults to 15s.
	StreamHeartbeat time.Duration
	// PasswordParams are the argon2id costs of new password hashes; zero
	// takes DefaultPasswordParams. Tests lower them to save time.
	PasswordParams PasswordParams
	Topics         engine.Topics
	Validation     vytalwatch.ValidationConfig
}

// WithDefaults returns the config with zero fields set to defaults.
func (c Config) WithDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.AccessTTL, 15*time.Minute)
	set(&c.RefreshTTL, 30*24*time.Hour)
	set(&c.APIKeyTTL, 365*24*time.Hour)
	set(&c.APIKeyOverlap, 24*time.Hour)
	set(&c.InviteTTL, 7*24*time.Hour)
	set(&c.StreamCheckInterval, time.Second)
	set(&c.StreamHeartbeat, 15*time.Second)

	if c.RateLimitIP == 0 {
		c.RateLimitIP = 600
	}
	if c.RateLimitToken == 0 {
		c.RateLimitToken = 300
	}
	if c.RateLimitLogin == 0 {
		c.RateLimitLogin = 10
	}

	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.BacktestBodyLimit == 0 {
		c.BacktestBodyLimit = 16 << 20
	}
	c.PasswordParams = c.PasswordParams.withDefaults()
	if c.Topics == (engine.Topics{}) {
		c.Topics = engine.DefaultTopics()
	}
	return c
}

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.SigningKey) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("signing key: an Ed25519 private key is required"))
	}
	if c.AccessTTL < time.Second || c.AccessTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("access token lifetime %s must be 1s to 24h", c.AccessTTL))
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, fmt.Errorf("refresh token lifetime %s must not be shorter than the access token lifetime %s", c.RefreshTTL, c.AccessTTL))
	}
	for name, n := range map[string]int{"per-address rate limit": c.RateLimitIP, "per-token rate limit": c.RateLimitToken, "login rate limit": c.RateLimitLogin} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s %d must be at least 1 request per minute", name, n))
		}
	}
	if c.BodyLimit < 1024 || c.BacktestBodyLimit < c.BodyLimit {
		errs = append(errs, fmt.Errorf("body limits %d and %d (backtest) must be at least 1024 bytes, the backtest one no smaller", c.BodyLimit, c.BacktestBodyLimit))
	}
	if p := c.PasswordParams; p.Iterations < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) {
		errs = append(errs, fmt.Errorf("password params %+v: need at least 1 pass, 1 lane and 8 KiB per lane", p))
	}
	return errors.Join(errs...)
}

// Deps are the API's collaborators.
type Deps struct {
	// DB stores users, patients, alerts, rules, billing and the audit
	// log. Required. connectors/postgres implements it.
	DB store.Store
	// Producer writes ingested readings to Kafka.
	Producer engine.Producer
	// Hub feeds live alert streams. Without one the stream responds 503.
	Hub *Hub
	// History reads the CSV history of rule backtests. Required.
	// connectors/csv.ReadHistory implements it.
	History HistoryReader
	Logger  *slog.Logger
	// Registry receives the API's metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Now is the clock of token times. Defaults to time.Now.
	Now func() time.Time
}

// Server is the API's HTTP handler and the state behind it.
type Server struct {
	cfg      Config
	db       store.Store
	producer engine.Producer
	hub      *Hub
	history  HistoryReader
	logger   *slog.Logger
	registry *prometheus.Registry
	now      func() time.Time
	tokens   *tokenIssuer
	// totpFailures limits wrong TOTP codes per user.
	totpFailures totpGuard
	metrics      *httpMetrics
	router       chi.Router
}

// New builds the API.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.DB == nil {
		return nil, errors.New("api: a database is required")
	}
	if deps.History == nil {
		return nil, errors.New("api: a backtest history reader (Deps.History) is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{
		cfg: cfg, db: deps.DB, producer: deps.Producer, hub: deps.Hub, history: deps.History,
		logger: deps.Logger.With("component", "api"), registry: deps.Registry, now: deps.Now,
		tokens:  newTokenIssuer(cfg.SigningKey, deps.Now),
		metrics: newHTTPMetrics(deps.Registry),
	}
	s.router = s.routes()
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router returns the chi router, for tests that walk the routes.
func (s *Server) Router() chi.Routes { return s.router }
