package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testPartitions = 2

// startBroker starts an embedded broker with the standard topics.
func startBroker(t *testing.T) *kafkatest.Broker {
	t.Helper()
	b, err := kafkatest.Start(kafkatest.Options{Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	topics := engine.DefaultTopics()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = kafka.EnsureTopics(ctx, b.Brokers(), []kafka.Topic{
		{Name: topics.Readings, Partitions: testPartitions},
		{Name: topics.Patients, Partitions: testPartitions, Compact: true},
		{Name: postgres.CareEventsTopic, Partitions: testPartitions},
		{Name: topics.Alerts, Partitions: testPartitions},
		{Name: topics.BillingEvents, Partitions: testPartitions},
		{Name: topics.Rules, Partitions: 1, Compact: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runSink runs a sink in its own consumer group until the test ends.
func runSink(t *testing.T, db *postgres.DB, b *kafkatest.Broker, s postgres.Sink) {
	t.Helper()
	runSinkWithMetrics(t, db, b, s, nil)
}

// runSinkWithMetrics is runSink that counts in metrics.
func runSinkWithMetrics(t *testing.T, db *postgres.DB, b *kafkatest.Broker, s postgres.Sink, metrics *postgres.SinkMetrics) {
	t.Helper()
	consumer, err := kafka.NewConsumer(kafka.GroupConfig{
		Brokers: b.Brokers(), GroupID: "test-" + s.Name, Topics: []string{s.Topic},
		SessionTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = db.RunSink(ctx, consumer, s, metrics)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		consumer.Close()
	})
}

// waitFor polls cond every 20ms for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
