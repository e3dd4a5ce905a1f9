package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
)

// TestChaosShort is the short chaos run of make test: two engine
// instances, three SIGKILLs and one broker restart during the MIMIC
// replay, compared with an uninterrupted run.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 42,509 readings twice")
	}
	seed := uint64(time.Now().UnixNano())
	var progress bytes.Buffer
	cfg := chaosConfig{
		bin: binary(t), file: "bundled:mimic", kills: 3, seed: seed, instances: 2, workDir: t.TempDir(),
		replayChunk: 2000, replayPause: 100 * time.Millisecond, progress: &progress,
	}
	rep, err := chaosRun(context.Background(), cfg)
	if err != nil {
		t.Fatalf("seed %d: %v\n%s", seed, err, progress.String())
	}
	t.Log(rep.Line())
	t.Log(rep.BillingLine())
	if !rep.OK() {
		t.Errorf("seed %d: %s\n%s\n%s", seed, rep.Line(), rep.BillingLine(), progress.String())
	}
	if rep.BillingMonths == 0 {
		t.Error("the chaos run compared no billing snapshots")
	}
	if rep.Kills != 3 || rep.BrokerRestarts != 1 {
		t.Errorf("kills %d and broker restarts %d, want 3 and 1", rep.Kills, rep.BrokerRestarts)
	}
}

// readiness fetches an engine's /readyz.
func readiness(port int) (engine.Readiness, bool) {
	var r engine.Readiness
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz")
	if err != nil {
		return r, false
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, false
	}
	return r, true
}

// TestInstancesSplitAndTakeOver runs two engine processes in one group,
// which split the partitions. When one is killed, the other takes its
// partitions, restores them from the changelog and finishes the input. It
// ends with the same alerts and state as a single uninterrupted engine.
func TestInstancesSplitAndTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 42,509 readings twice")
	}
	ctx := context.Background()
	rows, err := loadRows("bundled:mimic")
	if err != nil {
		t.Fatal(err)
	}
	rows = csv.Rebase(rows, chaosNow)
	records := make([]engine.Record, len(rows))
	for i, r := range rows {
		records[i] = engine.Record{Topic: engine.DefaultTopics().Readings, Key: csv.Key(r), Value: csv.Payload(r, chaosNow)}
	}
	work := t.TempDir()
	cfg := chaosConfig{bin: binary(t), workDir: work}
	want, err := cleanRun(ctx, cfg, records)
	if err != nil {
		t.Fatal(err)
	}

	b, err := kafkatest.Start(kafkatest.Options{Partitions: chaosPartitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), standardTopics(engine.DefaultTopics(), chaosPartitions)); err != nil {
		t.Fatal(err)
	}
	half := len(records) / 2
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()
	if err := p.Produce(ctx, records[:half]); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 2)
	engines := make([]*child, 2)
	for i := range engines {
		if ports[i], err = freePort(); err != nil {
			t.Fatal(err)
		}
		args := engineArgs(filepath.Join(work, fmt.Sprintf("e%d", i)), "127.0.0.1:"+strconv.Itoa(ports[i]))
		engines[i] = newChild(cfg.bin, filepath.Join(work, fmt.Sprintf("e%d.log", i)), []string{"KAFKA_BROKERS=" + b.Addr()}, args...)
		engines[i].healthAddr = args[4]
		if err := engines[i].start(); err != nil {
			t.Fatal(err)
		}
		defer engines[i].kill()
	}

	var split [2][]int
	waitFor(t, "both instances to own partitions", func() bool {
		for i, port := range ports {
			r, ok := readiness(port)
			if !ok || !r.Ready {
				return false
			}
			split[i] = r.Partitions
		}
		return len(split[0])+len(split[1]) == chaosPartitions
	})
	if len(split[0]) != chaosPartitions/2 || len(split[1]) != chaosPartitions/2 {
		t.Errorf("partitions split %v / %v, want 4 each", split[0], split[1])
	}
	if err := waitCommitted(ctx, b.Brokers(), time.Minute); err == nil {
		t.Log("the first half was processed before the kill")
	}

	engines[0].kill()
	waitFor(t, "the survivor to own every partition", func() bool {
		r, ok := readiness(ports[1])
		return ok && r.Ready && len(r.Partitions) == chaosPartitions
	})
	if err := p.Produce(ctx, records[half:]); err != nil {
		t.Fatal(err)
	}
	if err := waitCommitted(ctx, b.Brokers(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := engines[1].stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	logData, err := os.ReadFile(filepath.Join(work, "e1.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Every partition the killed instance owned carries its fence, so the
	// survivor cannot find its own checkpoint current and must replay.
	restored := map[int]bool{}
	for _, line := range strings.Split(string(logData), "\n") {
		var entry struct {
			Msg       string `json:"msg"`
			Partition int    `json:"partition"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "partition restored" {
			restored[entry.Partition] = true
		}
	}
	for _, p := range split[0] {
		if !restored[p] {
			t.Errorf("the survivor took over partition %d without restoring it from the changelog", p)
		}
	}
	got, err := collectOutcome(ctx, b.Brokers(), filepath.Join(work, "rebuilt"))
	if err != nil {
		t.Fatal(err)
	}
	if got.counters[engine.CounterReadingsIn] != int64(len(records)) {
		t.Errorf("readings_in = %d, want %d", got.counters[engine.CounterReadingsIn], len(records))
	}
	if !sameEvents(got.events, want.events) {
		t.Errorf("alert events differ: %d after the takeover, %d in the clean run", len(got.events), len(want.events))
	}
	if !slices.Equal(got.digests, want.digests) {
		t.Error("state digests differ from the clean run")
	}
}

func sameEvents(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestBrokerOutage stops the broker for three seconds while an engine is
// halfway through the input. The engine holds its batch, retries, and
// ends with the same alerts and state as an uninterrupted run.
func TestBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 36,898 readings twice")
	}
	ctx := context.Background()
	rows, err := loadRows("bundled:cgm")
	if err != nil {
		t.Fatal(err)
	}
	rows = csv.Rebase(rows, chaosNow)
	records := make([]engine.Record, len(rows))
	for i, r := range rows {
		records[i] = engine.Record{Topic: engine.DefaultTopics().Readings, Key: csv.Key(r), Value: csv.Payload(r, chaosNow)}
	}
	work := t.TempDir()
	cfg := chaosConfig{bin: binary(t), workDir: work}
	want, err := cleanRun(ctx, cfg, records)
	if err != nil {
		t.Fatal(err)
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	broker := newChild(cfg.bin, filepath.Join(work, "broker.log"), nil,
		"broker", "--port", strconv.Itoa(port), "--data-dir", filepath.Join(work, "broker-data"), "--partitions", strconv.Itoa(chaosPartitions))
	if err := startBroker(ctx, broker, port); err != nil {
		t.Fatal(err)
	}
	defer broker.kill()
	p := kafka.NewProducer([]string{addr})
	err = p.Produce(ctx, records)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := newEngineChild(cfg.bin, filepath.Join(work, "engine.log"), addr, filepath.Join(work, "state"))
	if err != nil {
		t.Fatal(err)
	}
	eng.args[7] = "50" // small batches, so the outage lands mid-stream
	if err := eng.start(); err != nil {
		t.Fatal(err)
	}
	defer eng.kill()
	waitFor(t, "the engine to process a third of the input", func() bool {
		committed, err := kafka.CommittedOffsets(ctx, []string{addr}, "vytalwatch-engine", engine.DefaultTopics().Readings, chaosPartitions)
		if err != nil {
			return false
		}
		var n int64
		for _, o := range committed {
			n += o
		}
		return n >= int64(len(records)/3)
	})
	if err := broker.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := startBroker(ctx, broker, port); err != nil {
		t.Fatal(err)
	}
	if err := waitCommitted(ctx, []string{addr}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := eng.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	engineLog, err := os.ReadFile(filepath.Join(work, "engine.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(engineLog), `"level":"WARN"`) {
		t.Error("the engine log shows no retry: the outage did not reach the engine mid-stream")
	}
	got, err := collectOutcome(ctx, []string{addr}, filepath.Join(work, "rebuilt"))
	if err != nil {
		t.Fatal(err)
	}
	if got.counters[engine.CounterReadingsIn] != int64(len(records)) {
		t.Errorf("readings_in = %d, want %d", got.counters[engine.CounterReadingsIn], len(records))
	}
	if !sameEvents(got.events, want.events) {
		t.Errorf("alert events differ: %d after the outage, %d in the clean run", len(got.events), len(want.events))
	}
	if !slices.Equal(got.digests, want.digests) {
		t.Error("state digests differ from the clean run")
	}
}
