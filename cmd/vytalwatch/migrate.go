package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vytalwatch/vytalwatch/connectors/postgres"
)

// runMigrate applies the embedded migrations to DATABASE_URL.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: migrate takes no arguments, got %q", errUsage, fs.Args())
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		return fmt.Errorf("%w: %w", errUsage, errors.New("DATABASE_URL is not set; give a PostgreSQL connection string"))
	}
	version, err := postgres.Migrate(ctx, databaseURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s is at schema version %d\n", redactURL(databaseURL), version)
	return nil
}
