package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
	"github.com/vytalwatch/vytalwatch/state"
)

const testPartitions = 4

// cluster is an embedded broker with the engine's topics.
type cluster struct {
	broker *kafkatest.Broker
	topics engine.Topics
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	b, err := kafkatest.Start(kafkatest.Options{Partitions: testPartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	topics := engine.DefaultTopics()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = kafka.EnsureTopics(ctx, b.Brokers(), []kafka.Topic{
		{Name: topics.Readings, Partitions: testPartitions},
		{Name: topics.Patients, Partitions: testPartitions, Compact: true},
		{Name: topics.CareEvents, Partitions: testPartitions},
		{Name: topics.Alerts, Partitions: testPartitions},
		{Name: topics.BillingEvents, Partitions: testPartitions},
		{Name: topics.DeadLetter, Partitions: testPartitions},
		{Name: topics.Changelog, Partitions: testPartitions, Compact: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{broker: b, topics: topics}
}

func (c *cluster) produce(t *testing.T, records []engine.Record) {
	t.Helper()
	p := kafka.NewProducer(c.broker.Brokers())
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
}

// runningEngine is an engine running in the background of a test.
type runningEngine struct {
	eng      *engine.Engine
	metrics  *prometheus.Registry
	consumer *kafka.Consumer
	cancel   context.CancelFunc
	done     chan error
}

func (c *cluster) startEngine(t *testing.T, store *state.Store, producer engine.Producer, group string) *runningEngine {
	t.Helper()
	return c.startEngineWith(t, store, producer, group, nil)
}

func (c *cluster) startEngineWith(t *testing.T, store *state.Store, producer engine.Producer, group string, changelog engine.Changelog) *runningEngine {
	t.Helper()
	set := rules.MustSet(mustPack(t, "standard"))
	consumer, err := kafka.NewConsumer(kafka.GroupConfig{
		Brokers: c.broker.Brokers(), GroupID: group, Topics: c.topics.Inputs(), SessionTimeout: 6 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Config{Topics: c.topics, DisableTimers: true}, set, engine.Deps{
		Store: store, Consumer: consumer, Producer: producer, Changelog: changelog, Logger: slog.New(slog.DiscardHandler),
		Metrics: engine.NewMetrics(reg), Clock: engine.NewOffsetClock(testNow),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningEngine{eng: eng, metrics: reg, consumer: consumer, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- eng.Run(ctx) }()
	return r
}

// stop drains the engine and leaves the group.
func (r *runningEngine) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("engine run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not stop within 30s")
	}
	if err := r.consumer.Close(); err != nil {
		t.Errorf("close consumer: %v", err)
	}
}

func (c *cluster) waitProcessed(t *testing.T, r *runningEngine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kafka.EndOffsets(ctx, c.broker.Brokers(), c.topics.Readings)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.eng.WaitForOffsets(ctx, c.topics.Readings, ends); err != nil {
		t.Fatalf("wait for the engine to process %v: %v (progress %v)", ends, err, r.eng.Progress(c.topics.Readings))
	}
}

func (c *cluster) alerts(t *testing.T) []vytalwatch.AlertEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := kafka.ReadAll(ctx, c.broker.Brokers(), c.topics.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	var out []vytalwatch.AlertEvent
	for _, m := range msgs {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != ev.PatientID {
			t.Errorf("alert %s keyed %q, want its patient %q", ev.EventID, m.Key, ev.PatientID)
		}
		out = append(out, ev)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].EventID < out[j].EventID
	})
	return out
}

func (c *cluster) deadLetters(t *testing.T) []vytalwatch.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := kafka.ReadAll(ctx, c.broker.Brokers(), c.topics.DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var out []vytalwatch.DeadLetter
	for _, m := range msgs {
		var d vytalwatch.DeadLetter
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out
}

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func reading(patient, metric string, value any, unit string, at time.Time) engine.Record {
	m := map[string]any{
		"patient_id": patient, "metric": metric, "value": value, "unit": unit,
		"measured_at": at.Format(time.RFC3339), "received_at": testNow.Format(time.RFC3339), "source": "device",
	}
	data, _ := json.Marshal(m)
	return engine.Record{Topic: engine.DefaultTopics().Readings, Key: []byte(patient), Value: data}
}

func raw(key, payload string) engine.Record {
	return engine.Record{Topic: engine.DefaultTopics().Readings, Key: []byte(key), Value: []byte(payload)}
}

func mustPack(t *testing.T, name string) []*rules.Compiled {
	t.Helper()
	list, err := rules.Pack(name)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(state.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler), CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func counters(t *testing.T, s *state.Store) map[string]int64 {
	t.Helper()
	total := map[string]int64{}
	for p := 0; p < testPartitions; p++ {
		c, err := s.Counters(p)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c {
			total[k] += v
		}
	}
	return total
}

// flakyProducer fails its first failures calls, as an unreachable broker
// would, then delegates.
type flakyProducer struct {
	next     engine.Producer
	failures int32
	calls    atomic.Int32
}

func (f *flakyProducer) Produce(ctx context.Context, records []engine.Record) error {
	if f.calls.Add(1) <= f.failures {
		return errors.New("injected: broker unavailable")
	}
	return f.next.Produce(ctx, records)
}

func eventKeys(events []vytalwatch.AlertEvent) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = fmt.Sprintf("%s %s %s %s", ev.PatientID, ev.RuleID, ev.Kind, ev.At.UTC().Format(time.RFC3339))
	}
	return out
}

// TestPipelineEndToEnd sends good, bad and duplicate readings through the
// embedded broker and checks every alert, dead letter and counter.
func TestPipelineEndToEnd(t *testing.T) {
	c := startCluster(t)
	t0 := testNow.Add(-2 * time.Hour)
	c.produce(t, []engine.Record{
		reading("p1", "systolic_bp", 185, "mmHg", t0),
		raw("p1", `not json`),
		reading("p1", "systolic_bp", 175, "mmHg", t0.Add(10*time.Minute)),
		reading("p1", "heart_rate", 2047, "bpm", t0.Add(11*time.Minute)),
		reading("p1", "systolic_bp", 165, "mmHg", t0.Add(20*time.Minute)),
		reading("p1", "diastolic_bp", 80, "mmHg", t0.Add(20*time.Minute)),
		reading("p2", "spo2", 88, "%", t0),
		reading("p2", "spo2", 88, "%", t0),
		reading("p2", "spo2", 89, "furlongs", t0.Add(time.Minute)),
		reading("p2", "spo2", "98", "%", t0.Add(2*time.Minute)),
		reading("p2", "spo2", 97, "%", testNow.Add(time.Hour)),
		reading("p3", "temperature_c", 100.4, "[degF]", t0),
		reading("p3", "heart_rate", 0, "bpm", t0),
		raw("someone-else", string(reading("p3", "heart_rate", 70, "bpm", t0).Value)),
		reading("p3", "temperature_c", 37.0, "Cel", t0.Add(time.Hour)),
	})
	store := openStore(t, t.TempDir())
	defer store.Close()
	producer := kafka.NewProducer(c.broker.Brokers())
	defer producer.Close()
	r := c.startEngine(t, store, producer, "g1")
	c.waitProcessed(t, r)
	r.stop(t)

	got := eventKeys(c.alerts(t))
	want := []string{
		"p1 bp-crisis fired " + t0.Format(time.RFC3339),
		"p2 spo2-low fired " + t0.Format(time.RFC3339),
		"p3 fever fired " + t0.Format(time.RFC3339),
		"p1 bp-crisis resolved " + t0.Add(20*time.Minute).Format(time.RFC3339),
		"p3 fever resolved " + t0.Add(time.Hour).Format(time.RFC3339),
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}

	var reasons []string
	for _, d := range c.deadLetters(t) {
		reasons = append(reasons, d.Reason)
		if d.Payload == "" {
			t.Errorf("dead letter %s has no payload", d.Reason)
		}
	}
	wantReasons := []string{"key_mismatch", "malformed_payload", "out_of_range", "sentinel_value", "timestamp_in_future", "unknown_unit", "value_not_numeric"}
	if fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
		t.Errorf("dead-letter reasons = %v, want %v", reasons, wantReasons)
	}

	cs := counters(t, store)
	for name, want := range map[string]int64{
		engine.CounterReadingsIn: 15, engine.CounterAccepted: 7, engine.CounterRejected: 7,
		engine.CounterDuplicates: 1, engine.CounterAlertsFired: 3, engine.CounterAlertsResolved: 2,
	} {
		if cs[name] != want {
			t.Errorf("counter %s = %d, want %d", name, cs[name], want)
		}
	}
	if v := gathered(t, r.metrics, "vytalwatch_engine_dropped_total"); v != 0 {
		t.Errorf("dropped_total = %v, want 0", v)
	}
}

// gathered returns the value of an unlabelled counter in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestRestartResumesFromStoredOffsets stops an engine, restarts it on the
// same store, and checks that nothing is applied twice and new input is
// picked up.
func TestRestartResumesFromStoredOffsets(t *testing.T) {
	c := startCluster(t)
	t0 := testNow.Add(-time.Hour)
	c.produce(t, []engine.Record{
		reading("p1", "spo2", 85, "%", t0),
		reading("p2", "heart_rate", 35, "bpm", t0),
	})
	dir := t.TempDir()
	producer := kafka.NewProducer(c.broker.Brokers())
	defer producer.Close()

	store := openStore(t, dir)
	r := c.startEngine(t, store, producer, "g1")
	c.waitProcessed(t, r)
	r.stop(t)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	c.produce(t, []engine.Record{reading("p1", "spo2", 97, "%", t0.Add(10*time.Minute))})
	store = openStore(t, dir)
	defer store.Close()
	// A new group id: the engine must resume from its own stored offsets,
	// not from the group's.
	r = c.startEngine(t, store, producer, "g2")
	c.waitProcessed(t, r)
	r.stop(t)

	cs := counters(t, store)
	if cs[engine.CounterReadingsIn] != 3 {
		t.Errorf("readings_in = %d, want 3 (each reading applied once)", cs[engine.CounterReadingsIn])
	}
	got := eventKeys(c.alerts(t))
	want := []string{
		"p1 spo2-low fired " + t0.Format(time.RFC3339),
		"p2 bradycardia fired " + t0.Format(time.RFC3339),
		"p1 spo2-low resolved " + t0.Add(10*time.Minute).Format(time.RFC3339),
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}

// TestOutputOutageHoldsCommit makes the first output writes fail and
// checks that the batch is retried, not lost and not committed early.
func TestOutputOutageHoldsCommit(t *testing.T) {
	c := startCluster(t)
	t0 := testNow.Add(-time.Hour)
	c.produce(t, []engine.Record{
		reading("p1", "spo2", 85, "%", t0),
		reading("p1", "heart_rate", 2047, "bpm", t0),
	})
	store := openStore(t, t.TempDir())
	defer store.Close()
	real := kafka.NewProducer(c.broker.Brokers())
	defer real.Close()
	flaky := &flakyProducer{next: real, failures: 3}
	r := c.startEngine(t, store, flaky, "g1")
	c.waitProcessed(t, r)
	r.stop(t)

	if n := flaky.calls.Load(); n < 4 {
		t.Errorf("producer called %d times, want at least 4 (3 failures, then success)", n)
	}
	if got := eventKeys(c.alerts(t)); fmt.Sprint(got) != fmt.Sprint([]string{"p1 spo2-low fired " + t0.Format(time.RFC3339)}) {
		t.Errorf("alerts = %q", got)
	}
	if got := len(c.deadLetters(t)); got != 1 {
		t.Errorf("dead letters = %d, want 1", got)
	}
	if cs := counters(t, store); cs[engine.CounterReadingsIn] != 2 {
		t.Errorf("readings_in = %d, want 2", cs[engine.CounterReadingsIn])
	}
}

// TestPoisonMessageDeadLettered sends a profile deletion whose key is too
// long for the store, which fails only when it is applied. The message is
// dead-lettered with its offset and the readings around it are processed.
func TestPoisonMessageDeadLettered(t *testing.T) {
	c := startCluster(t)
	t0 := testNow.Add(-time.Hour)
	huge := strings.Repeat("x", 70000)
	c.produce(t, []engine.Record{
		reading("p1", "spo2", 85, "%", t0),
		{Topic: c.topics.Patients, Key: []byte(huge)},
		reading("p1", "spo2", 97, "%", t0.Add(10*time.Minute)),
	})
	store := openStore(t, t.TempDir())
	defer store.Close()
	producer := kafka.NewProducer(c.broker.Brokers())
	defer producer.Close()
	r := c.startEngine(t, store, producer, "g1")
	c.waitProcessed(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kafka.EndOffsets(ctx, c.broker.Brokers(), c.topics.Patients)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.eng.WaitForOffsets(ctx, c.topics.Patients, ends); err != nil {
		t.Fatalf("profile topic not processed: %v", err)
	}
	r.stop(t)

	dead := c.deadLetters(t)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dead))
	}
	if dead[0].Reason != engine.ReasonProcessingFailed {
		t.Errorf("reason = %q, want %q", dead[0].Reason, engine.ReasonProcessingFailed)
	}
	if dead[0].Topic != c.topics.Patients {
		t.Errorf("topic = %q, want %q", dead[0].Topic, c.topics.Patients)
	}
	got := eventKeys(c.alerts(t))
	want := []string{"p1 spo2-low fired " + t0.Format(time.RFC3339), "p1 spo2-low resolved " + t0.Add(10*time.Minute).Format(time.RFC3339)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts = %q, want %q", got, want)
	}
}

func digests(t *testing.T, s *state.Store) []string {
	t.Helper()
	var out []string
	for p := 0; p < testPartitions; p++ {
		d, err := s.Digest(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestRestoreFromChangelog runs an engine with a changelog, then starts a
// second one on an empty store. It must rebuild every partition exactly
// before reading input, and carry on from there: its first reading
// resolves an alert that the first engine fired. The first engine, back on
// its now stale store, replays only the changelog tail and ends equal.
func TestRestoreFromChangelog(t *testing.T) {
	c := startCluster(t)
	t0 := testNow.Add(-2 * time.Hour)
	var first []engine.Record
	for i := 0; i < 40; i++ {
		first = append(first, reading(fmt.Sprintf("p%d", i), "spo2", 85, "%", t0))
		first = append(first, reading(fmt.Sprintf("p%d", i), "heart_rate", 70, "bpm", t0))
	}
	c.produce(t, first)
	producer := kafka.NewProducer(c.broker.Brokers())
	defer producer.Close()
	changelog := kafka.NewChangelog(c.broker.Brokers(), c.topics.Changelog)

	dirA := t.TempDir()
	storeA := openStore(t, dirA)
	r := c.startEngineWith(t, storeA, producer, "g1", changelog)
	c.waitProcessed(t, r)
	r.stop(t)
	wantDigests := digests(t, storeA)
	if err := storeA.Close(); err != nil {
		t.Fatal(err)
	}

	storeB := openStore(t, t.TempDir())
	defer storeB.Close()
	r = c.startEngineWith(t, storeB, producer, "g2", changelog)
	c.waitProcessed(t, r)
	if got := digests(t, storeB); fmt.Sprint(got) != fmt.Sprint(wantDigests) {
		t.Errorf("restored digests differ:\n got %v\nwant %v", got, wantDigests)
	}
	c.produce(t, []engine.Record{reading("p0", "spo2", 97, "%", t0.Add(time.Hour))})
	c.waitProcessed(t, r)
	r.stop(t)
	cs := counters(t, storeB)
	if cs[engine.CounterReadingsIn] != 81 {
		t.Errorf("restored engine counts %d readings, want 81 (80 restored, 1 new)", cs[engine.CounterReadingsIn])
	}
	var resolved []string
	for _, ev := range c.alerts(t) {
		if ev.Kind == vytalwatch.AlertResolved {
			resolved = append(resolved, ev.PatientID)
		}
	}
	if fmt.Sprint(resolved) != "[p0]" {
		t.Errorf("resolved alerts for %v, want [p0]: the restored alert state was lost", resolved)
	}

	storeA = openStore(t, dirA)
	defer storeA.Close()
	r = c.startEngineWith(t, storeA, producer, "g3", changelog)
	c.waitProcessed(t, r)
	r.stop(t)
	if got, want := digests(t, storeA), digests(t, storeB); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the tail replay the stale store differs:\n got %v\nwant %v", got, want)
	}
}
