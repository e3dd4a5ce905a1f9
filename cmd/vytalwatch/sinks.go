package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch/connectors/kafka"
)

// runSinks runs the Postgres sinks of vitals.alerts, vitals.readings and
// vitals.billing-events and the outbox relay until interrupted. Several
// instances share the partitions through their consumer groups.
func runSinks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sinks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	group := fs.String("group", envOr("VYTALWATCH_SINK_GROUP", "vytalwatch-sink"), "prefix of the sinks' consumer groups (VYTALWATCH_SINK_GROUP)")
	relay := fs.Bool("relay", true, "also publish the outbox to Kafka")
	migrate := fs.Bool("migrate", envBool("VYTALWATCH_MIGRATE", true), "apply database migrations at start (VYTALWATCH_MIGRATE)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var problems []error
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		problems = append(problems, errors.New("DATABASE_URL is not set; give a PostgreSQL connection string"))
	}
	brokers, err := kafka.ParseBrokers(os.Getenv("KAFKA_BROKERS"))
	if err != nil {
		problems = append(problems, err)
	}
	problems = append(problems, envProblems...)
	if len(problems) > 0 {
		return configError(problems)
	}

	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	logger.Info("sinks starting", "database", redactURL(databaseURL), "brokers", brokers, "group", *group, "relay", *relay)

	db, err := openDatabase(ctx, databaseURL, *migrate, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := startStack(ctx, db, stackConfig{brokers: brokers, sinks: true, relay: *relay, groupPrefix: *group,
		registry: prometheus.NewRegistry(), logger: logger})
	if err != nil {
		return err
	}

	fmt.Fprintln(stdout, "sinks running; stop with Ctrl-C")
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st.stop(shutdown)
	logger.Info("sinks stopped")
	return nil
}
