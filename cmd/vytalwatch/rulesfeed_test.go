package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

const feedPartitions = 2

func ruleRecord(t *testing.T, r rules.Rule) engine.Record {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Record{Topic: engine.DefaultTopics().Rules, Key: []byte(r.ID), Value: data}
}

func sbpRule(version int, threshold string) rules.Rule {
	return rules.Rule{ID: "sbp-high", Version: version, Name: "Systolic high", Severity: "high",
		Metrics: []string{"systolic_bp"}, Condition: `last("systolic_bp") >= ` + threshold}
}

func vitalRecord(patient, metric string, value float64, at time.Time) engine.Record {
	data, _ := json.Marshal(map[string]any{
		"patient_id": patient, "metric": metric, "value": value, "unit": map[string]string{"systolic_bp": "mmHg", "spo2": "%"}[metric],
		"measured_at": at.Format(time.RFC3339), "received_at": killNow.Format(time.RFC3339),
	})
	return engine.Record{Topic: engine.DefaultTopics().Readings, Key: []byte(patient), Value: data}
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRulesTopicLifecycle publishes, updates and deletes rules on the
// rules topic while the engine runs, with no restart. An update is a new
// version with fresh state, and a delete stops the rule at once. A rule
// that fails at run time fails alone.
func TestRulesTopicLifecycle(t *testing.T) {
	b, err := kafkatest.Start(kafkatest.Options{Partitions: feedPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topics := engine.DefaultTopics()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), standardTopics(topics, feedPartitions)); err != nil {
		t.Fatal(err)
	}
	producer := kafka.NewProducer(b.Brokers())
	defer producer.Close()
	produce := func(records ...engine.Record) {
		t.Helper()
		if err := producer.Produce(ctx, records); err != nil {
			t.Fatal(err)
		}
	}
	broken := rules.Rule{ID: "broken", Version: 1, Name: "Fails at run time", Severity: "low",
		Metrics: []string{"spo2"}, Condition: `patient.conditions[5] == "copd"`}
	spo2 := rules.Rule{ID: "spo2-low", Version: 1, Name: "Low SpO2", Severity: "high",
		Metrics: []string{"spo2"}, Condition: `last("spo2") < 90`}
	produce(ruleRecord(t, sbpRule(1, "160")), ruleRecord(t, broken), ruleRecord(t, spo2))

	logger := slog.New(slog.DiscardHandler)
	feed, err := startRuleFeed(ctx, b.Brokers(), topics.Rules, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if n := feed.book.Set().Len(); n != 3 {
		t.Fatalf("engine starts with %d rules, want the 3 published", n)
	}
	store, err := state.Open(state.Options{Dir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	consumer, err := kafka.NewConsumer(kafka.GroupConfig{Brokers: b.Brokers(), GroupID: "g", Topics: topics.Inputs(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	eng, err := engine.New(engine.Config{Topics: topics, DisableTimers: true}, feed.book.Set(), engine.Deps{
		Store: store, Consumer: consumer, Producer: producer, Logger: logger, Metrics: engine.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	feed.setTarget(eng.SetRules)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()

	processed := func() {
		t.Helper()
		ends, err := kafka.EndOffsets(ctx, b.Brokers(), topics.Readings)
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if err := eng.WaitForOffsets(wctx, topics.Readings, ends); err != nil {
			t.Fatal(err)
		}
	}
	t0 := killNow.Add(-time.Hour)
	produce(vitalRecord("p1", "systolic_bp", 165, t0), vitalRecord("p2", "spo2", 85, t0))
	processed()

	produce(ruleRecord(t, sbpRule(2, "170")))
	waitFor(t, "version 2 in the engine", func() bool {
		r, ok := eng.Rules().Get("sbp-high")
		return ok && r.Version() == 2
	})
	produce(vitalRecord("p1", "systolic_bp", 168, t0.Add(10*time.Minute)), vitalRecord("p1", "systolic_bp", 172, t0.Add(20*time.Minute)))
	processed()

	produce(engine.Record{Topic: topics.Rules, Key: []byte("sbp-high")})
	waitFor(t, "the delete in the engine", func() bool {
		_, ok := eng.Rules().Get("sbp-high")
		return !ok
	})
	produce(vitalRecord("p1", "systolic_bp", 190, t0.Add(30*time.Minute)))
	processed()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	msgs, err := kafka.ReadAll(ctx, b.Brokers(), topics.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.PatientID+" "+ev.RuleID+" v"+strconv.Itoa(ev.RuleVersion)+" "+ev.Kind+" "+ev.At.Format("15:04"))
	}
	slices.Sort(got)
	want := []string{
		"p1 sbp-high v1 fired 11:00",
		"p1 sbp-high v2 fired 11:20",
		"p2 spo2-low v1 fired 11:00",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
	var ruleErrors int64
	for p := 0; p < feedPartitions; p++ {
		cs, err := store.Counters(p)
		if err != nil {
			t.Fatal(err)
		}
		ruleErrors += cs[engine.PrefixRuleErrors+"broken"]
	}
	if ruleErrors != 1 {
		t.Errorf("rule_errors:broken = %d, want 1", ruleErrors)
	}
}

// TestRulesPublishVersions publishes a file three times: the first gets
// version 1, an edited definition without a version gets version 2, and
// an unchanged one is not published again.
func TestRulesPublishVersions(t *testing.T) {
	b, err := kafkatest.Start(kafkatest.Options{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), []kafka.Topic{{Name: engine.DefaultTopics().Rules, Partitions: 1, Compact: true}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_BROKERS", b.Addr())
	path := filepath.Join(t.TempDir(), "r.yaml")
	publish := func(threshold string) string {
		t.Helper()
		text := "rules:\n  - id: sbp-high\n    name: Systolic high\n    severity: high\n    metrics: [systolic_bp]\n" +
			"    condition: last(\"systolic_bp\") >= " + threshold + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"rules", "publish", path}, &stdout, &stderr); code != 0 {
			t.Fatalf("publish exited %d: %s", code, stderr.String())
		}
		return strings.TrimSpace(strings.Split(stdout.String(), "\n")[0])
	}
	if got := publish("160"); got != "sbp-high version 1" {
		t.Errorf("first publish: %q", got)
	}
	if got := publish("170"); got != "sbp-high version 2" {
		t.Errorf("edited publish: %q", got)
	}
	if got := publish("170"); got != "sbp-high version 2 unchanged" {
		t.Errorf("unchanged publish: %q", got)
	}
	current, err := publishedRules(ctx, b.Brokers(), engine.DefaultTopics().Rules)
	if err != nil {
		t.Fatal(err)
	}
	if r := current["sbp-high"]; r == nil || r.Version() != 2 || r.Rule.Condition != `last("systolic_bp") >= 170` {
		t.Errorf("published rule: %+v", r)
	}
}
