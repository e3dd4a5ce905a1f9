package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/state"
)

// engineConfig is the engine command's configuration, from environment
// variables and flags.
type engineConfig struct {
	brokers    []string
	groupID    string
	dataDir    string
	rules      string
	httpAddr   string
	partitions int
	batchSize  int
	timer      time.Duration
	noTimers   bool
	session    time.Duration
	// billing is the practice's choices where CMS leaves room: the 99458
	// unit cap its payers apply and whether 99091 wins over management.
	billing billing.Config
}

func loadEngineConfig(args []string, stderr io.Writer) (engineConfig, error) {
	var c engineConfig
	envProblems = nil
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.groupID, "group", envOr("VYTALWATCH_GROUP_ID", "vytalwatch-engine"), "consumer group id (VYTALWATCH_GROUP_ID)")
	fs.StringVar(&c.dataDir, "data-dir", envOr("VYTALWATCH_DATA_DIR", ""), "state directory (VYTALWATCH_DATA_DIR); required")
	fs.StringVar(&c.rules, "rules", envOr("VYTALWATCH_RULES", "pack:standard"), "rule file or pack:NAME (VYTALWATCH_RULES)")
	fs.StringVar(&c.httpAddr, "http", envOr("VYTALWATCH_HTTP_ADDR", "127.0.0.1:9464"), "address of /metrics and /healthz (VYTALWATCH_HTTP_ADDR); empty disables")
	fs.IntVar(&c.partitions, "partitions", envInt("VYTALWATCH_PARTITIONS", 8), "partitions of topics the engine creates when missing (VYTALWATCH_PARTITIONS)")
	fs.IntVar(&c.batchSize, "batch-size", envInt("VYTALWATCH_BATCH_SIZE", 0), "most messages per batch (VYTALWATCH_BATCH_SIZE; default 2000)")
	fs.DurationVar(&c.timer, "timer-interval", envDuration("VYTALWATCH_TIMER_INTERVAL", 0), "how often clock-driven rules run (VYTALWATCH_TIMER_INTERVAL; default 30s)")
	fs.DurationVar(&c.session, "session-timeout", envDuration("VYTALWATCH_SESSION_TIMEOUT", 10*time.Second), "how long the group waits for a silent instance before moving its partitions (VYTALWATCH_SESSION_TIMEOUT)")
	fs.IntVar(&c.billing.MaxUnits99458, "max-99458", envInt("VYTALWATCH_MAX_99458", 3), "99458 units a month the payer accepts (VYTALWATCH_MAX_99458)")
	fs.BoolVar(&c.billing.Prefer99091, "prefer-99091", envBool("VYTALWATCH_PREFER_99091", false), "bill 99091 rather than a management code when both qualify (VYTALWATCH_PREFER_99091)")
	fs.BoolVar(&c.noTimers, "no-timers", false, "evaluate rules on readings only, never by the clock; for replays of history and state comparisons")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var problems []error
	brokers, err := kafka.ParseBrokers(os.Getenv("KAFKA_BROKERS"))
	if err != nil {
		problems = append(problems, err)
	}
	c.brokers = brokers
	if c.dataDir == "" {
		problems = append(problems, errors.New("no state directory; set --data-dir or VYTALWATCH_DATA_DIR"))
	}
	if c.httpAddr != "" {
		if _, _, err := net.SplitHostPort(c.httpAddr); err != nil {
			problems = append(problems, fmt.Errorf("http address %q is not host:port", c.httpAddr))
		}
	}
	if c.partitions < 1 || c.partitions > 256 {
		problems = append(problems, fmt.Errorf("partitions %d must be 1 to 256", c.partitions))
	}
	if c.billing.MaxUnits99458 < 1 || c.billing.MaxUnits99458 > 10 {
		problems = append(problems, fmt.Errorf("99458 unit cap %d must be 1 to 10 (Medicare accepts 3)", c.billing.MaxUnits99458))
	}
	if c.session < time.Second {
		problems = append(problems, fmt.Errorf("session timeout %s must be at least 1s", c.session))
	}
	if c.batchSize < 0 {
		problems = append(problems, fmt.Errorf("batch size %d must not be negative (0 takes the default)", c.batchSize))
	}
	if c.timer < 0 {
		problems = append(problems, fmt.Errorf("timer interval %s must not be negative (0 takes the default)", c.timer))
	}
	if c.batchSize >= 0 && c.timer >= 0 {
		if err := c.engineConfig(engine.DefaultTopics()).WithDefaults().Validate(); err != nil {
			problems = append(problems, err)
		}
	}
	problems = append(problems, envProblems...)
	if len(problems) > 0 {
		return c, configError(problems)
	}
	return c, nil
}

// engineConfig returns the engine's configuration on the given topics.
func (c engineConfig) engineConfig(topics engine.Topics) engine.Config {
	return engine.Config{
		Topics: topics, BatchSize: c.batchSize, TimerInterval: c.timer, DisableTimers: c.noTimers, Billing: c.billing,
	}
}

func runEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := loadEngineConfig(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	base, err := loadRules(c.rules)
	if err != nil {
		return err
	}
	logger.Info("engine starting", "brokers", c.brokers, "group", c.groupID, "data_dir", c.dataDir,
		"rules", c.rules, "http", c.httpAddr, "partitions", c.partitions, "batch_size", c.batchSize,
		"timer_interval", c.timer, "timers", !c.noTimers, "session_timeout", c.session,
		"max_99458", c.billing.MaxUnits99458, "prefer_99091", c.billing.Prefer99091)
	topics := engine.DefaultTopics()
	if err := kafka.EnsureTopics(ctx, c.brokers, standardTopics(topics, c.partitions)); err != nil {
		return err
	}
	feed, err := startRuleFeed(ctx, c.brokers, topics.Rules, base, logger)
	if err != nil {
		return err
	}
	store, err := state.Open(state.Options{Dir: c.dataDir, Logger: logger})
	if err != nil {
		return err
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	consumer, err := kafka.NewConsumer(kafka.GroupConfig{Brokers: c.brokers, GroupID: c.groupID, Topics: topics.Inputs(), SessionTimeout: c.session, Logger: logger})
	if err != nil {
		return err
	}
	defer consumer.Close()
	producer := kafka.NewProducer(c.brokers)
	defer producer.Close()
	eng, err := engine.New(c.engineConfig(topics), feed.book.Set(), engine.Deps{
		Store: store, Consumer: consumer, Producer: producer, Changelog: kafka.NewChangelog(c.brokers, topics.Changelog),
		Logger: logger, Metrics: engine.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	if c.httpAddr != "" {
		srv, err := serveOps(c.httpAddr, reg, eng.Readiness)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	abortOnSecondSignal = eng.Abort
	feed.setTarget(eng.SetRules)
	err = eng.Run(ctx)
	logger.Info("engine stopped")
	return err
}

// serveOps serves /metrics, /healthz (the process is up) and /readyz (the
// instance owns partitions and none is restoring; 503 otherwise, with the
// restore progress in the body).
func serveOps(addr string, reg *prometheus.Registry, readiness func() engine.Readiness) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := readiness()
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(r)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// envProblems collects invalid environment values, so that every problem
// is reported at once.
var envProblems []error

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		envProblems = append(envProblems, fmt.Errorf("%s %q is not a whole number", name, v))
		return def
	}
	return n
}

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		envProblems = append(envProblems, fmt.Errorf("%s %q is not a duration such as 30s", name, v))
		return def
	}
	return d
}
