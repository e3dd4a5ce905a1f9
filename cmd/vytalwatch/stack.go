package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/engine"
)

// stackConfig selects the parts of the Postgres side that one process
// runs: the API (with its live stream hub), the sinks and the outbox
// relay.
type stackConfig struct {
	brokers []string
	// apiAddr is the API's listen address. Empty runs no API.
	apiAddr string
	api     api.Config
	sinks   bool
	relay   bool
	// groupPrefix names the sinks' consumer groups: <prefix>-alerts,
	// <prefix>-latest_readings and <prefix>-billing.
	groupPrefix string
	registry    *prometheus.Registry
	logger      *slog.Logger
}

// stack is the running Postgres side of a process.
type stack struct {
	db       *postgres.DB
	producer *kafka.Producer
	server   *http.Server
	addr     string
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closers  []func() error
	logger   *slog.Logger
}

// startStack starts what cfg selects on db and returns once the API
// listens. Stop it with stop.
func startStack(ctx context.Context, db *postgres.DB, cfg stackConfig) (*stack, error) {
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	if cfg.groupPrefix == "" {
		cfg.groupPrefix = "vytalwatch-sink"
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &stack{db: db, producer: kafka.NewProducer(cfg.brokers), cancel: cancel, logger: cfg.logger}
	s.closers = append(s.closers, s.producer.Close)
	topics := engine.DefaultTopics()

	if cfg.relay {
		relay := postgres.NewRelay(db, s.producer, cfg.logger, cfg.registry)
		s.goRun(func() { _ = relay.Run(runCtx) })
	}
	if cfg.sinks {
		metrics := postgres.NewSinkMetrics(cfg.registry)
		for _, sink := range []postgres.Sink{
			db.AlertSink(topics.Alerts),
			db.ReadingSink(topics.Readings, vytalwatch.ValidationConfig{}),
			db.BillingSink(topics.BillingEvents),
		} {
			consumer, err := kafka.NewConsumer(kafka.GroupConfig{
				Brokers: cfg.brokers, GroupID: cfg.groupPrefix + "-" + sink.Name, Topics: []string{sink.Topic}, Logger: cfg.logger,
			})
			if err != nil {
				s.stop(context.Background())
				return nil, err
			}
			s.closers = append(s.closers, consumer.Close)
			s.goRun(func() { _ = db.RunSink(runCtx, consumer, sink, metrics) })
		}
	}
	s.goRun(func() { purgeLoop(runCtx, db, cfg.logger) })
	if cfg.apiAddr != "" {
		if err := s.startAPI(runCtx, cfg); err != nil {
			s.stop(context.Background())
			return nil, err
		}
	}
	return s, nil
}

func (s *stack) goRun(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

func (s *stack) startAPI(ctx context.Context, cfg stackConfig) error {
	hub := api.NewHub(kafka.NewTopicReader(cfg.brokers, engine.DefaultTopics().Alerts), cfg.logger, cfg.registry)
	s.goRun(func() { _ = hub.Run(ctx) })
	srv, err := api.New(cfg.api, api.Deps{DB: s.db, Producer: s.producer, Hub: hub, History: csv.ReadHistory, Logger: cfg.logger, Registry: cfg.registry})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.apiAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.apiAddr, err)
	}
	s.addr = ln.Addr().String()
	// No WriteTimeout: live streams stay open for the life of a token.
	// Handlers bound their own work, and the stream sets a deadline on
	// each write.
	s.server = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	s.server.RegisterOnShutdown(hub.CloseAll)
	s.goRun(func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.logger.Error("api server failed", "error", err)
		}
	})
	cfg.logger.Info("api listening", "addr", s.addr)
	return nil
}

// stop ends the API (waiting up to the context's deadline for requests
// in flight), the sinks and the relay, and closes their connections.
func (s *stack) stop(ctx context.Context) {
	if s.server != nil {
		if err := s.server.Shutdown(ctx); err != nil {
			s.logger.Warn("api shutdown did not finish; closing connections", "error", err)
			_ = s.server.Close()
		}
	}
	s.cancel()
	s.wg.Wait()
	for _, closeFn := range s.closers {
		_ = closeFn()
	}
}

// purgeLoop deletes expired revocations and refresh tokens every 10
// minutes.
func purgeLoop(ctx context.Context, db *postgres.DB, logger *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := db.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("purge expired tokens failed", "error", err)
			}
		}
	}
}
