package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/state"
)

// chaosNow is the fixed present of chaos runs, so that both runs see the
// same input bytes.
var chaosNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// snapshotToday is the "today" of engine snapshots: before every date,
// so no period is reported closed.
const snapshotToday = billing.Date(math.MinInt32)

const chaosPartitions = 8

// chaosConfig configures a chaos run.
type chaosConfig struct {
	// bin is the vytalwatch binary the engine and broker processes run.
	bin       string
	file      string
	kills     int
	seed      uint64
	instances int
	workDir   string
	// replayChunk readings are produced every replayPause, so that kills
	// land while input still arrives.
	replayChunk int
	replayPause time.Duration
	progress    io.Writer
}

// chaosReport compares a run under chaos with an uninterrupted one.
type chaosReport struct {
	Kills          int
	BrokerRestarts int
	ReadingsWant   int64
	Readings       int64
	Events         int
	EventsMissing  int
	EventsExtra    int
	DigestsDiffer  []int
	CountersDiffer []string
	// BillingMonths counts the patient-months of eligibility snapshots;
	// BillingDiffer lists those that differ from the clean run, and
	// OfflineDiffer those that differ from `billing report` on the input.
	BillingMonths int
	BillingDiffer []string
	OfflineDiffer []string
}

// OK reports whether the chaos run ended exactly as the clean run.
func (r chaosReport) OK() bool {
	return r.Readings == r.ReadingsWant && r.EventsMissing == 0 && r.EventsExtra == 0 &&
		len(r.DigestsDiffer) == 0 && len(r.CountersDiffer) == 0 && len(r.BillingDiffer) == 0 && len(r.OfflineDiffer) == 0
}

// BillingLine is the verdict on billing eligibility.
func (r chaosReport) BillingLine() string {
	if len(r.BillingDiffer) == 0 && len(r.OfflineDiffer) == 0 {
		return fmt.Sprintf("chaos: billing eligibility of %d patient-months identical to the clean run and to billing report", r.BillingMonths)
	}
	return fmt.Sprintf("chaos: billing eligibility differs: %d patient-months from the clean run %v, %d from billing report %v",
		len(r.BillingDiffer), r.BillingDiffer, len(r.OfflineDiffer), r.OfflineDiffer)
}

// Line is the one-line verdict.
func (r chaosReport) Line() string {
	events := "alert events identical"
	if r.EventsMissing != 0 || r.EventsExtra != 0 {
		events = fmt.Sprintf("alert events differ (%d missing, %d extra)", r.EventsMissing, r.EventsExtra)
	}
	digest := "state digest identical"
	if len(r.DigestsDiffer) > 0 || len(r.CountersDiffer) > 0 {
		digest = fmt.Sprintf("state digest differs (partitions %v, counters %v)", r.DigestsDiffer, r.CountersDiffer)
	}
	return fmt.Sprintf("chaos: %d kills, readings %d/%d, %s, %s", r.Kills, r.Readings, r.ReadingsWant, events, digest)
}

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := chaosConfig{replayChunk: 500, replayPause: 100 * time.Millisecond, progress: stderr}
	fs.StringVar(&cfg.file, "file", "bundled:mimic", "input to replay")
	fs.IntVar(&cfg.kills, "kills", 10, "engine instances to kill with SIGKILL")
	seed := fs.Int64("seed", 0, "seed of the kill schedule (default: from the clock); a failing run repeats with its seed")
	fs.IntVar(&cfg.instances, "instances", 2, "engine instances in the consumer group")
	keep := fs.String("work-dir", "", "keep logs and state here (default: a temporary directory, removed after a passing run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.kills < 1 || cfg.instances < 1 {
		return fmt.Errorf("%w: --kills and --instances must be at least 1", errUsage)
	}
	cfg.seed = uint64(*seed)
	if *seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.bin = bin
	cfg.workDir = *keep
	if cfg.workDir == "" {
		if cfg.workDir, err = os.MkdirTemp("", "vytalwatch-chaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(cfg.workDir, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chaos: seed %d, work directory %s\n", cfg.seed, cfg.workDir)
	rep, err := chaosRun(ctx, cfg)
	if err != nil {
		return fmt.Errorf("chaos run (seed %d, logs in %s): %w", cfg.seed, cfg.workDir, err)
	}
	fmt.Fprintln(stdout, rep.Line())
	fmt.Fprintln(stdout, rep.BillingLine())
	if !rep.OK() {
		fmt.Fprintf(stderr, "chaos: the run differs from the uninterrupted one; repeat it with --seed %d (logs in %s)\n", cfg.seed, cfg.workDir)
		return exitError{code: 1}
	}
	if *keep == "" {
		os.RemoveAll(cfg.workDir)
	}
	return nil
}

// chaosOutcome holds the alert event ids, partition digests and counters a
// run left behind.
type chaosOutcome struct {
	events   map[string]bool
	digests  []string
	counters map[string]int64
	// billing holds the latest eligibility snapshot of each patient-month.
	billing map[string]billing.Report
}

// chaosRun replays the input once without interruption and once while
// killing engine instances and restarting the broker, and compares them.
func chaosRun(ctx context.Context, cfg chaosConfig) (chaosReport, error) {
	rows, err := loadRows(cfg.file)
	if err != nil {
		return chaosReport{}, err
	}
	rows = csv.Rebase(rows, chaosNow)
	records := make([]engine.Record, len(rows))
	for i, r := range rows {
		records[i] = engine.Record{Topic: engine.DefaultTopics().Readings, Key: csv.Key(r), Value: csv.Payload(r, chaosNow)}
	}
	fmt.Fprintf(cfg.progress, "chaos: clean run over %d readings\n", len(records))
	want, err := cleanRun(ctx, cfg, records)
	if err != nil {
		return chaosReport{}, fmt.Errorf("clean run: %w", err)
	}
	rep, got, err := chaoticRun(ctx, cfg, records)
	if err != nil {
		return rep, err
	}
	rep.ReadingsWant = int64(len(records))
	rep.Readings = got.counters[engine.CounterReadingsIn]
	rep.Events = len(got.events)
	for id := range want.events {
		if !got.events[id] {
			rep.EventsMissing++
		}
	}
	for id := range got.events {
		if !want.events[id] {
			rep.EventsExtra++
		}
	}
	for p := range want.digests {
		if got.digests[p] != want.digests[p] {
			rep.DigestsDiffer = append(rep.DigestsDiffer, p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.counters)) {
		if got.counters[name] != want.counters[name] {
			rep.CountersDiffer = append(rep.CountersDiffer, fmt.Sprintf("%s %d/%d", name, got.counters[name], want.counters[name]))
		}
	}
	rep.BillingMonths = len(got.billing)
	rep.BillingDiffer = diffBilling(want.billing, got.billing)
	// The offline report knows no arrival times, so the engine's flag of
	// readings that arrived after their period closed is left out there.
	rep.OfflineDiffer = diffBilling(offlineBilling(rows, got.billing), withoutFlag(got.billing, billing.FlagLateReading))
	return rep, nil
}

// diffBilling lists the patient-months whose reports differ.
func diffBilling(want, got map[string]billing.Report) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		a, _ := json.Marshal(want[k])
		b, _ := json.Marshal(got[k])
		if string(a) != string(b) {
			out = append(out, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// withoutFlag returns copies of the reports with a period flag removed.
func withoutFlag(reports map[string]billing.Report, flag string) map[string]billing.Report {
	out := make(map[string]billing.Report, len(reports))
	for k, r := range reports {
		periods := make([]billing.DevicePeriod, len(r.Periods))
		for i, p := range r.Periods {
			p.Flags = slices.DeleteFunc(slices.Clone(p.Flags), func(f string) bool { return f == flag })
			periods[i] = p
		}
		r.Periods = periods
		out[k] = r
	}
	return out
}

// offlineBilling computes with the billing report's code the same
// patient-months the engine sent snapshots of, from the input rows.
func offlineBilling(rows []csv.Row, months map[string]billing.Report) map[string]billing.Report {
	obs := observationsOf(rows, time.Time{})
	out := map[string]billing.Report{}
	for k, r := range months {
		patient, month, _ := strings.Cut(k, " ")
		m, err := billing.ParseMonth(month)
		if err != nil {
			continue
		}
		in := billing.Assemble(billing.PatientInfo{ID: r.PatientID}, obs[patient], nil, nil)
		out[k] = billing.Compute(in, m, billing.Config{}, snapshotToday)
	}
	return out
}

// engineArgs are the flags of a harness's engine. httpAddr serves its
// /healthz and /readyz.
func engineArgs(dataDir, httpAddr string) []string {
	return []string{"engine", "--data-dir", dataDir, "--http", httpAddr, "--no-timers", "--batch-size", "500", "--session-timeout", "2s"}
}

// newEngineChild is an engine process of a harness on brokerAddr, with
// /healthz on a free port so that stop can wait for it to be up.
func newEngineChild(bin, logFile, brokerAddr, dataDir string) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(port)
	c := newChild(bin, logFile, []string{"KAFKA_BROKERS=" + brokerAddr}, engineArgs(dataDir, httpAddr)...)
	c.healthAddr = httpAddr
	return c, nil
}

// cleanRun processes the input with one engine and no interruption.
func cleanRun(ctx context.Context, cfg chaosConfig, records []engine.Record) (chaosOutcome, error) {
	b, err := kafkatest.Start(kafkatest.Options{Partitions: chaosPartitions})
	if err != nil {
		return chaosOutcome{}, err
	}
	defer b.Close()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), standardTopics(engine.DefaultTopics(), chaosPartitions)); err != nil {
		return chaosOutcome{}, err
	}
	p := kafka.NewProducer(b.Brokers())
	err = p.Produce(ctx, records)
	p.Close()
	if err != nil {
		return chaosOutcome{}, err
	}
	eng, err := newEngineChild(cfg.bin, filepath.Join(cfg.workDir, "clean-engine.log"), b.Addr(), filepath.Join(cfg.workDir, "clean-state"))
	if err != nil {
		return chaosOutcome{}, err
	}
	if err := eng.start(); err != nil {
		return chaosOutcome{}, err
	}
	defer eng.kill()
	if err := waitCommitted(ctx, b.Brokers(), 3*time.Minute); err != nil {
		return chaosOutcome{}, err
	}
	if err := eng.stop(30 * time.Second); err != nil {
		return chaosOutcome{}, err
	}
	return collectOutcome(ctx, b.Brokers(), filepath.Join(cfg.workDir, "clean-rebuilt"))
}

// chaoticRun processes the input with several engine instances while
// killing them at random and restarting the broker once.
func chaoticRun(ctx context.Context, cfg chaosConfig, records []engine.Record) (chaosReport, chaosOutcome, error) {
	var rep chaosReport
	port, err := freePort()
	if err != nil {
		return rep, chaosOutcome{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	broker := newChild(cfg.bin, filepath.Join(cfg.workDir, "broker.log"), nil,
		"broker", "--port", strconv.Itoa(port), "--data-dir", filepath.Join(cfg.workDir, "broker-data"),
		"--partitions", strconv.Itoa(chaosPartitions))
	if err := startBroker(ctx, broker, port); err != nil {
		return rep, chaosOutcome{}, err
	}
	defer broker.kill()
	brokers := []string{addr}

	engines := make([]*child, cfg.instances)
	for i := range engines {
		engines[i], err = newEngineChild(cfg.bin, filepath.Join(cfg.workDir, fmt.Sprintf("engine-%d.log", i)), addr,
			filepath.Join(cfg.workDir, fmt.Sprintf("engine-%d-state", i)))
		if err != nil {
			return rep, chaosOutcome{}, err
		}
		if err := engines[i].start(); err != nil {
			return rep, chaosOutcome{}, err
		}
		defer engines[i].kill()
	}

	rp := newReplayer(brokers, records, cfg.replayChunk, cfg.replayPause)
	replayCtx, stopReplay := context.WithCancel(ctx)
	defer stopReplay()
	replayDone := make(chan error, 1)
	go func() { replayDone <- rp.run(replayCtx) }()

	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed>>1|1))
	for rep.Kills < cfg.kills {
		if !sleepCtx(ctx, time.Duration(300+rng.IntN(900))*time.Millisecond) {
			return rep, chaosOutcome{}, ctx.Err()
		}
		victim := engines[rng.IntN(len(engines))]
		victim.kill()
		rep.Kills++
		fmt.Fprintf(cfg.progress, "chaos: kill %d of %d (%s), %d of %d readings produced\n", rep.Kills, cfg.kills, filepath.Base(victim.log), rp.produced(), len(records))
		if rep.Kills == (cfg.kills+1)/2 && rep.BrokerRestarts == 0 {
			if err := restartBroker(ctx, cfg, rp, broker, port); err != nil {
				return rep, chaosOutcome{}, err
			}
			rep.BrokerRestarts++
		}
		if !sleepCtx(ctx, time.Duration(100+rng.IntN(500))*time.Millisecond) {
			return rep, chaosOutcome{}, ctx.Err()
		}
		if err := victim.start(); err != nil {
			return rep, chaosOutcome{}, err
		}
	}
	if err := <-replayDone; err != nil {
		return rep, chaosOutcome{}, fmt.Errorf("replay: %w", err)
	}
	fmt.Fprintf(cfg.progress, "chaos: %d kills done and input replayed; waiting for the engines to finish\n", rep.Kills)
	if err := waitCommitted(ctx, brokers, 3*time.Minute); err != nil {
		return rep, chaosOutcome{}, err
	}
	for _, e := range engines {
		if err := e.stop(30 * time.Second); err != nil {
			return rep, chaosOutcome{}, err
		}
	}
	out, err := collectOutcome(ctx, brokers, filepath.Join(cfg.workDir, "chaos-rebuilt"))
	return rep, out, err
}

func startBroker(ctx context.Context, broker *child, port int) error {
	if err := broker.start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return waitListening(wctx, port)
}

// restartBroker stops the broker with SIGTERM and starts it again on the
// same port and data. The replayer pauses around it, so that no produce
// request is in flight: a retried request could otherwise add the same
// readings twice, and the input would differ from the clean run's.
func restartBroker(ctx context.Context, cfg chaosConfig, rp *replayer, broker *child, port int) error {
	rp.pause()
	defer rp.resume()
	fmt.Fprintln(cfg.progress, "chaos: stopping the broker")
	if err := broker.stop(30 * time.Second); err != nil {
		return err
	}
	if !sleepCtx(ctx, time.Second) {
		return ctx.Err()
	}
	fmt.Fprintln(cfg.progress, "chaos: starting the broker again")
	return startBroker(ctx, broker, port)
}

// replayer produces the input in chunks, retrying while the broker is
// away, and can be paused. It writes every record exactly once: after a
// failed request it reads the topic's end offsets and resends only the
// records that did not arrive, since a request whose reply was lost may
// have been stored.
type replayer struct {
	brokers    []string
	records    []engine.Record
	partitions []int // the partition of each record
	chunk      int
	pauseD     time.Duration
	mu         sync.Mutex
	next       int
	hold       sync.Mutex
}

func newReplayer(brokers []string, records []engine.Record, chunk int, pause time.Duration) *replayer {
	parts := make([]int, len(records))
	for i, rec := range records {
		parts[i] = kafka.PartitionOf(rec.Key, chaosPartitions)
	}
	return &replayer{brokers: brokers, records: records, partitions: parts, chunk: chunk, pauseD: pause}
}

func (r *replayer) produced() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// pause waits for the request in flight and holds the next one.
func (r *replayer) pause() { r.hold.Lock() }

func (r *replayer) resume() { r.hold.Unlock() }

func (r *replayer) run(ctx context.Context) error {
	stored := map[int]int64{} // records known to be in each partition
	for start := 0; start < len(r.records); {
		end := min(start+r.chunk, len(r.records))
		pending := make([]int, 0, end-start) // indexes of records to send
		for i := start; i < end; i++ {
			pending = append(pending, i)
		}
		for len(pending) > 0 {
			if err := r.send(ctx, pending); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			var err error
			if pending, err = r.unstored(ctx, pending, stored); err != nil {
				return err
			}
		}
		start = end
		r.mu.Lock()
		r.next = end
		r.mu.Unlock()
		sleepCtx(ctx, r.pauseD)
	}
	return nil
}

// send produces the records at indexes once, unless paused.
func (r *replayer) send(ctx context.Context, indexes []int) error {
	batch := make([]engine.Record, len(indexes))
	for i, idx := range indexes {
		batch[i] = r.records[idx]
	}
	r.hold.Lock()
	defer r.hold.Unlock()
	p := kafka.NewSingleAttemptProducer(r.brokers)
	defer p.Close()
	return p.Produce(ctx, batch)
}

// unstored returns the records of pending that the topic does not hold
// yet, and counts those it does in stored. A partition holding more than
// was sent means a record was written twice, which would make the input
// differ from the clean run's.
func (r *replayer) unstored(ctx context.Context, pending []int, stored map[int]int64) ([]int, error) {
	var ends map[int]int64
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		ends, err = kafka.EndOffsets(qctx, r.brokers, engine.DefaultTopics().Readings)
		cancel()
		if err == nil {
			break
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	arrived := map[int]int64{}
	for p, end := range ends {
		arrived[p] = end - stored[p]
	}
	var rest []int
	for _, idx := range pending {
		p := r.partitions[idx]
		if arrived[p] > 0 {
			arrived[p]--
			stored[p]++
			continue
		}
		rest = append(rest, idx)
	}
	for p, extra := range arrived {
		if extra > 0 {
			return nil, fmt.Errorf("partition %d of the input has %d more records than were sent, so the broker stored a request twice; run chaos again", p, extra)
		}
	}
	return rest, nil
}

// waitCommitted waits until the engine group has committed every reading.
func waitCommitted(ctx context.Context, brokers []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	topic := engine.DefaultTopics().Readings
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ends, err := kafka.EndOffsets(qctx, brokers, topic)
		var committed map[int]int64
		if err == nil {
			committed, err = kafka.CommittedOffsets(qctx, brokers, "vytalwatch-engine", topic, chaosPartitions)
		}
		cancel()
		if err == nil {
			done := true
			for p, end := range ends {
				if committed[p] < end {
					done = false
				}
			}
			if done {
				return nil
			}
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	return errors.New("the engines did not commit every reading in time; see the engine logs")
}

// collectOutcome reads the alert events and rebuilds every partition from
// the changelog into a fresh store: the state any instance would restore.
func collectOutcome(ctx context.Context, brokers []string, dir string) (chaosOutcome, error) {
	out := chaosOutcome{events: map[string]bool{}, counters: map[string]int64{}, billing: map[string]billing.Report{}}
	msgs, err := kafka.ReadAll(ctx, brokers, engine.DefaultTopics().Alerts)
	if err != nil {
		return out, err
	}
	snaps, err := kafka.ReadAll(ctx, brokers, engine.DefaultTopics().BillingEvents)
	if err != nil {
		return out, err
	}
	for _, m := range snaps {
		var s billing.Snapshot
		if err := json.Unmarshal(m.Value, &s); err != nil {
			return out, err
		}
		if s.Kind == billing.SnapshotKind {
			// Snapshots of one patient share a partition, so the last one
			// read is the newest.
			out.billing[s.PatientID+" "+s.Month.String()] = s.Report
		}
	}
	for _, m := range msgs {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			return out, err
		}
		out.events[ev.EventID] = true
	}
	store, err := state.Open(state.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return out, err
	}
	defer store.Close()
	cl := kafka.NewChangelog(brokers, engine.DefaultTopics().Changelog)
	for p := 0; p < chaosPartitions; p++ {
		end, err := cl.EndOffset(ctx, p)
		if err != nil {
			return out, err
		}
		r := store.NewRestore(p, state.Checkpoint{})
		if err := cl.Read(ctx, p, 0, end, r.Add); err != nil {
			r.Close()
			return out, err
		}
		if _, _, err := r.Finish(end); err != nil {
			return out, err
		}
		d, err := store.Digest(p)
		if err != nil {
			return out, err
		}
		out.digests = append(out.digests, d)
		cs, err := store.Counters(p)
		if err != nil {
			return out, err
		}
		for k, v := range cs {
			out.counters[k] += v
		}
	}
	return out, nil
}
