// Package postgres stores the API's relational data in PostgreSQL through
// a pgx pool: users and their sessions, invites, API keys, rules and their
// versions, patients and care teams, alerts, latest readings and the audit
// log. It also runs the sinks that fill Postgres from Kafka (alert events
// and readings) and the outbox relay that publishes rule, patient and
// care-event changes to Kafka after their transaction commits.
//
// DB implements store.Store (package api/store), which defines the
// records it reads and writes for the API and the errors it returns.
//
// The schema is created by versioned migrations embedded in the binary
// (Migrate). Its tables go into the first schema of the connection's
// search_path, so a search_path parameter in the connection string picks
// the schema.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// DB is the store: a connection pool and the repository methods.
type DB struct {
	pool *pgxpool.Pool
	// logger has the component key "postgres"; baseLogger is the
	// caller's, for parts that set a component of their own, such as
	// the sinks.
	logger     *slog.Logger
	baseLogger *slog.Logger
	// now is the clock for times the store computes itself, such as
	// expiry checks; Postgres's now() is used for stored timestamps.
	now func() time.Time
}

// Open connects to the database at url and checks the connection. The
// schema must already be migrated (Migrate).
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redactErr(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", cfg.ConnConfig.Host, err)
	}
	return &DB{pool: pool, logger: logger.With("component", "postgres"), baseLogger: logger, now: time.Now}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database responds, for readiness probes.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Pool returns the connection pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// inTx runs fn in a transaction and commits it when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// isUniqueViolation reports whether err is a unique-constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isDataError returns err's PostgreSQL error and whether it is a data
// exception (SQLSTATE class 22, such as 22021 for a NUL byte in text) or
// an integrity constraint violation (class 23). Both come from the values
// sent, so a retry with the same values fails again, unless a concurrent
// writer caused the constraint violation.
func isDataError(err error) (*pgconn.PgError, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil, false
	}
	return pgErr, strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
}

// isForeignKeyViolation reports whether err is a foreign-key violation.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// notFound maps pgx.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// redactErr drops the message of a connection-string parse error, which
// can quote the password.
func redactErr(err error) error {
	var perr *pgconn.ParseConfigError
	if errors.As(err, &perr) {
		return errors.New("invalid connection string (details withheld because they may contain the password)")
	}
	return err
}
