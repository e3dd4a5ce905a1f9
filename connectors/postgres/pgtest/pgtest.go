// Package pgtest gives tests real PostgreSQL: one private cluster per test
// binary (pglocal), and a fresh, migrated schema per test, so tests can
// run in parallel without seeing each other's rows.
//
// VYTALWATCH_TEST_DATABASE_URL, when set, points the tests at an existing
// server instead; each test still gets its own schema there, dropped when
// it ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pglocal"
)

// serverURL is the database the schemas are created in.
var serverURL string

// Main runs the package's tests with a private cluster, started before
// them and removed after. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if u := os.Getenv("VYTALWATCH_TEST_DATABASE_URL"); u != "" {
		serverURL = u
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cluster, err := pglocal.Start(ctx, pglocal.Options{Database: "vytalwatch_test", Logger: logger})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: start a private PostgreSQL:", err)
		return 1
	}
	defer cluster.Close()
	serverURL = cluster.URL()
	return m.Run()
}

// URL creates a schema for the test, migrates it, and returns a
// connection string whose search_path is that schema. The schema is
// dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if serverURL == "" {
		t.Fatal("pgtest: no database; call pgtest.Main from the package's TestMain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "test_" + hex.EncodeToString(suffix)
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("pgtest: connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("pgtest: parse server url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if _, err := postgres.Migrate(ctx, u.String()); err != nil {
		t.Fatalf("pgtest: migrate schema %s: %v", schema, err)
	}
	return u.String()
}

// DB opens the store on a fresh schema (URL), closed when the test ends.
func DB(t testing.TB) *postgres.DB {
	t.Helper()
	u := URL(t)
	db, err := postgres.Open(context.Background(), u, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("pgtest: open store: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}
