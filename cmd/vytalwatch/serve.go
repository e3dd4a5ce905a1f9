package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/engine"
)

// serveConfig is the serve command's configuration, from environment
// variables and flags.
type serveConfig struct {
	databaseURL string
	brokers     []string
	addr        string
	migrate     bool
	relay       bool
	api         api.Config
	// keyGenerated is set when no VYTALWATCH_JWT_KEY was given.
	keyGenerated bool
}

func loadServeConfig(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	envProblems = nil
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", envOr("VYTALWATCH_API_ADDR", "127.0.0.1:8080"), "address the API listens on (VYTALWATCH_API_ADDR)")
	fs.BoolVar(&c.migrate, "migrate", envBool("VYTALWATCH_MIGRATE", true), "apply database migrations at start (VYTALWATCH_MIGRATE)")
	fs.BoolVar(&c.relay, "relay", true, "publish the outbox to Kafka from this process")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}

	var problems []error
	c.databaseURL = os.Getenv("DATABASE_URL")
	if c.databaseURL == "" {
		problems = append(problems, errors.New("DATABASE_URL is not set; give a PostgreSQL connection string such as postgres://user:pass@host:5432/vytalwatch"))
	}
	brokers, err := kafka.ParseBrokers(os.Getenv("KAFKA_BROKERS"))
	if err != nil {
		problems = append(problems, err)
	}
	c.brokers = brokers
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		problems = append(problems, fmt.Errorf("API address %q is not host:port", c.addr))
	}

	c.api, c.keyGenerated, problems = loadAPIConfig(problems)
	problems = append(problems, envProblems...)
	if len(problems) > 0 {
		return c, configError(problems)
	}
	return c, nil
}

// loadAPIConfig reads the API settings from the environment and checks
// them, adding each problem to problems.
func loadAPIConfig(problems []error) (api.Config, bool, []error) {
	cfg := api.Config{
		AccessTTL:      envDuration("VYTALWATCH_ACCESS_TTL", 15*time.Minute),
		RefreshTTL:     envDuration("VYTALWATCH_REFRESH_TTL", 30*24*time.Hour),
		RateLimitIP:    envInt("VYTALWATCH_RATE_LIMIT_IP", 600),
		RateLimitToken: envInt("VYTALWATCH_RATE_LIMIT_TOKEN", 300),
		RateLimitLogin: envInt("VYTALWATCH_RATE_LIMIT_LOGIN", 10),
	}
	// Zero fields of api.Config take defaults, so explicit zeros are
	// rejected here.
	for _, limit := range []struct {
		name  string
		value int
	}{{"VYTALWATCH_RATE_LIMIT_IP", cfg.RateLimitIP}, {"VYTALWATCH_RATE_LIMIT_TOKEN", cfg.RateLimitToken}, {"VYTALWATCH_RATE_LIMIT_LOGIN", cfg.RateLimitLogin}} {
		if limit.value < 1 {
			problems = append(problems, fmt.Errorf("%s %d must be at least 1 request per minute", limit.name, limit.value))
		}
	}
	if cfg.AccessTTL < time.Second || cfg.RefreshTTL < time.Second {
		problems = append(problems, fmt.Errorf("VYTALWATCH_ACCESS_TTL %s and VYTALWATCH_REFRESH_TTL %s must be at least 1s", cfg.AccessTTL, cfg.RefreshTTL))
	}
	generated := false
	key, err := loadSigningKey(os.Getenv("VYTALWATCH_JWT_KEY"))
	switch {
	case err != nil:
		problems = append(problems, fmt.Errorf("VYTALWATCH_JWT_KEY: %w", err))
	case key == nil:
		key, generated = api.GenerateSigningKey(), true
	}
	cfg.SigningKey = key
	if err := cfg.WithDefaults().Validate(); err != nil && key != nil {
		problems = append(problems, err)
	}
	return cfg, generated, problems
}

// loadSigningKey reads an Ed25519 key from PEM text or from the file
// the value names; empty returns nil.
func loadSigningKey(value string) (ed25519.PrivateKey, error) {
	if value == "" {
		return nil, nil
	}
	data := []byte(value)
	if !strings.HasPrefix(strings.TrimSpace(value), "-----BEGIN") {
		var err error
		if data, err = os.ReadFile(value); err != nil {
			return nil, fmt.Errorf("it is neither PEM text nor a readable file: %w", err)
		}
	}
	return api.ParseSigningKey(data)
}

func envBool(name string, def bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	envProblems = append(envProblems, fmt.Errorf("%s %q is not true or false", name, os.Getenv(name)))
	return def
}

// redactURL hides the password of a connection string for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := loadServeConfig(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	cfg := c.api.WithDefaults()
	logger.Info("api starting", "addr", c.addr, "database", redactURL(c.databaseURL), "brokers", c.brokers, "migrate", c.migrate,
		"relay", c.relay, "access_ttl", cfg.AccessTTL, "refresh_ttl", cfg.RefreshTTL, "rate_limit_ip", cfg.RateLimitIP,
		"rate_limit_token", cfg.RateLimitToken, "rate_limit_login", cfg.RateLimitLogin, "jwt_key", "(redacted)")
	if c.keyGenerated {
		logger.Warn("VYTALWATCH_JWT_KEY is not set; using a key generated at start, so tokens stop working at restart and on other instances")
	}

	db, err := openDatabase(ctx, c.databaseURL, c.migrate, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := kafka.EnsureTopics(ctx, c.brokers, standardTopics(engine.DefaultTopics(), envInt("VYTALWATCH_PARTITIONS", 8))); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := startStack(ctx, db, stackConfig{brokers: c.brokers, apiAddr: c.addr, api: c.api, relay: c.relay, registry: reg, logger: logger})
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "API listening on http://%s (OpenAPI document at /openapi.json)\n", st.addr)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st.stop(shutdown)
	logger.Info("api stopped")
	return nil
}

// openDatabase migrates the schema when asked and opens the store.
func openDatabase(ctx context.Context, databaseURL string, migrate bool, logger *slog.Logger) (*postgres.DB, error) {
	if migrate {
		version, err := postgres.Migrate(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		logger.Info("database schema migrated", "version", version)
	}
	return postgres.Open(ctx, databaseURL, logger)
}
