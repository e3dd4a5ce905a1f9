package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
)

// runBroker runs the embedded broker on its own, so that engines, replays
// and tests in other processes can share it on one machine.
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 9092, "TCP port on 127.0.0.1 (0 picks a free one)")
	dataDir := fs.String("data-dir", "", "keep the broker's log here, so a restart keeps topics, messages and group offsets (default: memory only)")
	partitions := fs.Int("partitions", 8, "partitions of the engine's topics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	b, err := kafkatest.Start(kafkatest.Options{Port: *port, DataDir: *dataDir, Partitions: *partitions, Logger: logger})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), standardTopics(engine.DefaultTopics(), *partitions)); err != nil {
		return err
	}
	logger.Info("embedded kafka broker running", "addr", b.Addr(), "data_dir", *dataDir)
	fmt.Fprintf(stdout, "KAFKA_BROKERS=%s\n", b.Addr())
	<-ctx.Done()
	logger.Info("embedded kafka broker stopping")
	return nil
}
