package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

type demoOptions struct {
	file       string
	once       bool
	summary    string
	alerts     string
	rejections string
	dataDir    string
	rebase     bool
	now        string
	rules      string
	partitions int
	// apiAddr is the API's listen address. Empty runs no API, Postgres
	// or sinks.
	apiAddr string
}

func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	var o demoOptions
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.file, "file", "bundled:mimic", "vitals CSV to replay, or bundled:mimic (MIMIC-III demo) or bundled:cgm (BIG IDEAs CGM)")
	fs.BoolVar(&o.once, "once", false, "exit once the input is processed (otherwise run until interrupted)")
	fs.StringVar(&o.summary, "summary", "", "write the run's summary as JSON to this file")
	fs.StringVar(&o.alerts, "alerts", "", "write every alert event as one JSON object per line to this file")
	fs.StringVar(&o.rejections, "rejections", "", "write every rejected row, with its line, reason and a message that names the fix, as one JSON object per line to this file")
	fs.StringVar(&o.dataDir, "data-dir", "", "state directory (default: a temporary directory, removed at exit)")
	fs.BoolVar(&o.rebase, "rebase", true, "shift each patient's readings so the newest lands at --now, keeping intervals")
	fs.StringVar(&o.now, "now", "", "the present for rebasing and for the engine clock, RFC 3339 (default: the real time)")
	fs.StringVar(&o.rules, "rules", "pack:standard", "rule file, or pack:NAME for a built-in pack")
	fs.IntVar(&o.partitions, "partitions", 8, "partitions of each topic")
	fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:8080", "address of the API, with a private PostgreSQL (or DATABASE_URL), the sinks and the outbox relay; empty disables them, and with --once they run only when this flag is given")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	apiAddrSet := false
	fs.Visit(func(f *flag.Flag) { apiAddrSet = apiAddrSet || f.Name == "api-addr" })
	if o.once && !apiAddrSet {
		o.apiAddr = ""
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: demo takes no arguments, got %q", errUsage, fs.Args())
	}
	if o.partitions < 1 || o.partitions > 256 {
		return o, fmt.Errorf("%w: --partitions %d must be 1 to 256", errUsage, o.partitions)
	}
	return o, nil
}

// standardTopics returns the topics the engine uses, co-partitioned.
func standardTopics(t engine.Topics, partitions int) []kafka.Topic {
	return []kafka.Topic{
		{Name: t.Readings, Partitions: partitions},
		{Name: t.Patients, Partitions: partitions, Compact: true},
		{Name: t.CareEvents, Partitions: partitions},
		{Name: t.Alerts, Partitions: partitions},
		{Name: t.BillingEvents, Partitions: partitions},
		{Name: t.DeadLetter, Partitions: partitions},
		{Name: t.Changelog, Partitions: partitions, Compact: true},
		{Name: t.Rules, Partitions: 1, Compact: true},
	}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	now, err := parseNow(o.now)
	if err != nil {
		return err
	}
	base, err := loadRules(o.rules)
	if err != nil {
		return err
	}
	rows, bad, err := readInput(o.file)
	if err != nil {
		return err
	}
	warnBadRows(stderr, o.file, bad)
	var fileTimes map[int]string
	if o.rebase {
		if o.rejections != "" {
			fileTimes = make(map[int]string, len(rows))
			for _, row := range rows {
				fileTimes[row.Line] = row.Time
			}
		}
		rows = csv.Rebase(rows, now)
	}
	for _, out := range []struct{ flag, path string }{{"--summary", o.summary}, {"--alerts", o.alerts}, {"--rejections", o.rejections}} {
		if err := checkWritable(out.flag, out.path); err != nil {
			return err
		}
	}
	dataDir := o.dataDir
	if dataDir != "" {
		if err := checkFreshDataDir(dataDir); err != nil {
			return err
		}
	} else {
		if dataDir, err = os.MkdirTemp("", "vytalwatch-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
	}
	d := &demo{opts: o, logger: logger, stdout: stdout, stderr: stderr, now: now, base: base, rows: rows, badRows: bad, fileTimes: fileTimes, dataDir: dataDir}
	return d.run(ctx)
}

// checkWritable reports an unwritable output file before the run, not
// after it. It removes a file that it had to create.
func checkWritable(flagName, path string) error {
	if path == "" {
		return nil
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %s %s cannot be written (%v); name a file in a writable directory", errUsage, flagName, path, err)
	}
	f.Close()
	if os.IsNotExist(statErr) {
		os.Remove(path)
	}
	return nil
}

// checkFreshDataDir rejects a state directory from an earlier demo. The
// demo's embedded broker starts empty on every run, so stored offsets and
// counters from a previous run would not match its topics: the engine
// would skip input it never saw and the summary would add up two runs.
func checkFreshDataDir(dir string) error {
	entries, err := os.ReadDir(filepath.Join(dir, "state"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: --data-dir %s: %v", errUsage, dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: --data-dir %s contains the state of an earlier demo run, but each run starts a new, empty broker; "+
			"remove the directory or name a new one (the engine command resumes from a state directory against a lasting broker)", errUsage, dir)
	}
	return nil
}

func loadRuleSet(name string) (*rules.Set, error) {
	list, err := loadRules(name)
	if err != nil {
		return nil, err
	}
	return rules.NewSet(list)
}

// loadRules reads a rule file, a built-in pack (pack:NAME), or nothing
// (none), for engines that take all their rules from the rules topic.
func loadRules(name string) ([]*rules.Compiled, error) {
	if name == "none" {
		return nil, nil
	}
	return rules.Load(name, os.ReadFile)
}

// demo is one run of the self-contained pipeline.
type demo struct {
	opts   demoOptions
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer
	now    time.Time
	base   []*rules.Compiled
	rows   []csv.Row
	// badRows are the input's rows that could not be read as CSV. They
	// never reach the broker, and the summary counts them as rejected.
	badRows []*csv.RowError
	// fileTimes maps a row's line to its time as the file has it, when
	// the rows were rebased and rejections are written.
	fileTimes map[int]string
	dataDir   string
	topics    engine.Topics
	broker    *kafkatest.Broker
	api       *demoAPI
	// started is when the run began; processed is when the engine had
	// processed all of the input, or zero until it has. The summary's
	// elapsed time runs between them, leaving out the idle wait for an
	// interrupt.
	started, processed time.Time
}

// summarize reads the run's summary from the store's counters.
func (d *demo) summarize(store *state.Store) (summary, error) {
	s, err := buildSummary(store, d.opts.partitions)
	if err != nil {
		return s, err
	}
	s.Input, s.Now = d.opts.file, d.now
	var n int64
	for _, bad := range d.badRows {
		n += int64(bad.Lines)
	}
	if n > 0 {
		s.ReadingsIn += n
		s.ReadingsRejected += n
		s.RejectedByReason[reasonMalformedRow] += n
	}
	if !d.processed.IsZero() {
		elapsed := d.processed.Sub(d.started)
		s.ElapsedSeconds = elapsed.Seconds()
		s.ReadingsPerSecond = float64(s.ReadingsIn) / elapsed.Seconds()
	}
	s.PeakRSSBytes = peakRSS()
	return s, nil
}

func (d *demo) run(ctx context.Context) error {
	started := time.Now()
	d.topics = engine.DefaultTopics()
	broker, err := kafkatest.Start(kafkatest.Options{Partitions: d.opts.partitions})
	if err != nil {
		return err
	}
	defer broker.Close()
	d.broker = broker
	d.logger.Info("embedded kafka broker started", "addr", broker.Addr(), "data_dir", d.dataDir, "rules", len(d.base))
	if err := kafka.EnsureTopics(ctx, broker.Brokers(), standardTopics(d.topics, d.opts.partitions)); err != nil {
		return err
	}
	// The clock starts before the API's PostgreSQL, whose start would
	// otherwise put the engine's present behind --now.
	clock := engine.NewOffsetClock(d.now)
	if d.opts.apiAddr != "" {
		if d.api, err = d.startAPI(ctx); err != nil {
			return err
		}
		defer d.api.close()
	}
	producer := kafka.NewProducer(broker.Brokers())
	defer producer.Close()
	if err := replayRows(ctx, producer, d.topics.Readings, d.rows, clock, nil); err != nil {
		return err
	}
	d.logger.Info("input replayed", "readings", len(d.rows), "file", d.opts.file, "seconds", time.Since(started).Seconds())

	store, err := state.Open(state.Options{Dir: filepath.Join(d.dataDir, "state"), Logger: d.logger})
	if err != nil {
		return err
	}
	defer store.Close()
	d.started = started
	if err := d.process(ctx, store, producer, clock); err != nil {
		return err
	}
	if d.processed.IsZero() {
		// Interrupted before the input was processed: time the run so far.
		d.processed = time.Now()
	}

	if d.opts.alerts != "" {
		if err := d.writeAlerts(ctx); err != nil {
			return err
		}
	}
	if d.opts.rejections != "" {
		if err := d.writeRejections(ctx); err != nil {
			return err
		}
	}
	s, err := d.summarize(store)
	if err != nil {
		return err
	}
	if d.opts.summary != "" {
		if err := writeJSONFile(d.opts.summary, s); err != nil {
			return err
		}
	}
	when := ""
	if !d.opts.once {
		when = "at exit"
	}
	printSummary(d.stdout, s, when)
	return nil
}

// process runs the engine until the input is processed (--once) or until
// ctx is done, showing progress.
func (d *demo) process(ctx context.Context, store *state.Store, producer *kafka.Producer, clock engine.Clock) error {
	feed, err := startRuleFeed(ctx, d.broker.Brokers(), d.topics.Rules, d.base, d.logger)
	if err != nil {
		return err
	}
	consumer, err := kafka.NewConsumer(kafka.GroupConfig{
		Brokers: d.broker.Brokers(), GroupID: "vytalwatch-engine", Topics: d.topics.Inputs(), Logger: d.logger,
	})
	if err != nil {
		return err
	}
	defer consumer.Close()
	eng, err := engine.New(engine.Config{Topics: d.topics}, feed.book.Set(), engine.Deps{
		Store: store, Consumer: consumer, Producer: producer, Clock: clock,
		Changelog: kafka.NewChangelog(d.broker.Brokers(), d.topics.Changelog),
		Logger:    d.logger, Metrics: engine.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		return err
	}
	abortOnSecondSignal = eng.Abort
	feed.setTarget(eng.SetRules)
	engineCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	done := make(chan error, 1)
	go func() { done <- eng.Run(engineCtx) }()

	ends, err := kafka.EndOffsets(ctx, d.broker.Brokers(), d.topics.Readings)
	if err != nil {
		return err
	}
	prog := newProgress(d.stderr, d.logger, int64(len(d.rows)))
	stopProgress := prog.watch(func() int64 { return sumOffsets(eng.Progress(d.topics.Readings)) })
	if d.opts.once {
		if err = eng.WaitForOffsets(ctx, d.topics.Readings, ends); err == nil {
			d.processed = time.Now()
		}
	} else {
		if eng.WaitForOffsets(ctx, d.topics.Readings, ends) == nil {
			d.processed = time.Now()
		}
		stopProgress()
		if s, err := d.summarize(store); err == nil {
			printSummary(d.stdout, s, "when the input was processed; clock-driven rules go on running")
		}
		fmt.Fprintf(d.stderr, "\ninput processed; the engine keeps running until interrupted (Ctrl-C).\n"+
			"Publish rules to it with: KAFKA_BROKERS=%s vytalwatch rules publish RULES.yaml\n", d.broker.Addr())
		if d.api != nil {
			d.api.printHelp(d.stdout, d.broker.Addr())
		}
		<-ctx.Done()
	}
	stopProgress()
	stopEngine()
	runErr := <-done
	if err != nil && ctx.Err() == nil {
		return err
	}
	return runErr
}

func sumOffsets(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// writeAlerts reads the alert topic and writes each distinct event once,
// ordered by event time and id. The topic itself may hold an event twice
// after a crash; its id makes the copies equal.
func (d *demo) writeAlerts(ctx context.Context) error {
	msgs, err := kafka.ReadAll(ctx, d.broker.Brokers(), d.topics.Alerts)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var events []vytalwatch.AlertEvent
	for _, m := range msgs {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return fmt.Errorf("decode alert event at %s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		if seen[ev.EventID] {
			continue
		}
		seen[ev.EventID] = true
		events = append(events, ev)
	}
	sort.Slice(events, func(i, j int) bool {
		if !events[i].At.Equal(events[j].At) {
			return events[i].At.Before(events[j].At)
		}
		return events[i].EventID < events[j].EventID
	})
	f, err := os.Create(d.opts.alerts)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
