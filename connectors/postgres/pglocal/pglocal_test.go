package pglocal_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/connectors/postgres/pglocal"
)

func TestStartServesLoopbackAndCloseRemoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Database: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.URL(), "postgres://postgres:") || !strings.Contains(c.URL(), "@127.0.0.1:") {
		t.Errorf("URL = %q, want a password login on 127.0.0.1", c.URL())
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	var db, listen string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('listen_addresses')").Scan(&db, &listen); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if db != "probe" {
		t.Errorf("database = %q, want probe", db)
	}
	if listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want 127.0.0.1", listen)
	}

	wrong := strings.Replace(c.URL(), "postgres://postgres:", "postgres://postgres:x", 1)
	if conn, err := pgx.Connect(ctx, wrong); err == nil {
		conn.Close(ctx)
		t.Error("connected with a wrong password")
	}

	dir := pglocal.DataDirOf(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s still exists after Close: %v", dir, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
