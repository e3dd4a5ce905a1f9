package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
)

// TestMigrationsRollBackAndReapply takes a migrated schema down to the
// first version and up again, so every down migration runs once.
func TestMigrationsRollBackAndReapply(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	driver, err := pgxmigrate.WithInstance(sqlDB, &pgxmigrate.Config{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := iofs.New(os.DirFS("migrations"), ".")
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(1); err != nil {
		t.Fatalf("migrate down to version 1: %v", err)
	}
	tableExists := func(name string) bool {
		t.Helper()
		var ok bool
		if err := sqlDB.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !tableExists("care_events") || tableExists("time_entries") || tableExists("billing_months") {
		t.Error("at version 1, want care_events and neither time_entries nor billing_months")
	}
	version, err := postgres.Migrate(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if version != 3 {
		t.Errorf("version after migrating up = %d, want 3", version)
	}
	if tableExists("care_events") || !tableExists("time_entries") || !tableExists("billing_months") {
		t.Error("at version 3, want time_entries and billing_months and no care_events")
	}
}
