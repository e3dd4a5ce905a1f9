package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/state"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the vytalwatch command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vytalwatch-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vytalwatch")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const killPartitions = 8

var killNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// killBroker is an embedded broker loaded with the bundled MIMIC data.
func killBroker(t *testing.T, rows []csv.Row) *kafkatest.Broker {
	t.Helper()
	b, err := kafkatest.Start(kafkatest.Options{Partitions: killPartitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, b.Brokers(), standardTopics(engine.DefaultTopics(), killPartitions)); err != nil {
		t.Fatal(err)
	}
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()
	if err := replayRows(ctx, p, engine.DefaultTopics().Readings, rows, &engine.ManualClock{T: killNow}, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// engineProcess is a `vytalwatch engine` child process.
type engineProcess struct {
	cmd *exec.Cmd
	log string
}

func startEngineProcess(t *testing.T, brokers []string, dataDir, logFile string) *engineProcess {
	t.Helper()
	cmd := exec.Command(binary(t), "engine", "--data-dir", dataDir, "--http", "", "--no-timers",
		"--batch-size", "200", "--session-timeout", "2s")
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers[0], "VYTALWATCH_LOG_FORMAT=json")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A test that fails half-way must not leave the process running.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return &engineProcess{cmd: cmd, log: logFile}
}

func (p *engineProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *engineProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log, _ := os.ReadFile(p.log)
			t.Fatalf("engine exited with %v; log:\n%s", err, log)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatal("engine did not stop within 30s of SIGTERM")
	}
}

// progressOf returns how many readings the group has committed and how
// many there are.
func progressOf(t *testing.T, brokers []string) (done, total int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := engine.DefaultTopics().Readings
	ends, err := kafka.EndOffsets(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := kafka.CommittedOffsets(ctx, brokers, "vytalwatch-engine", topic, killPartitions)
	if err != nil {
		return 0, 1
	}
	for p, end := range ends {
		total += end
		done += committed[p]
	}
	return done, total
}

// waitProgress waits until the committed fraction reaches at least frac.
func waitProgress(t *testing.T, brokers []string, frac float64, logFile string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		done, total := progressOf(t, brokers)
		if float64(done) >= frac*float64(total) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(logFile)
	t.Fatalf("engine did not reach %.0f%% in 120s; log:\n%s", frac*100, log)
}

// runResult is what a finished run left behind.
type runResult struct {
	eventIDs  map[string]bool
	alertMsgs int
	counters  map[string]int64
	digests   []string
}

func collect(t *testing.T, brokers []string, dataDir string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := kafka.ReadAll(ctx, brokers, engine.DefaultTopics().Alerts)
	if err != nil {
		t.Fatal(err)
	}
	r := runResult{eventIDs: map[string]bool{}, alertMsgs: len(msgs), counters: map[string]int64{}}
	for _, m := range msgs {
		var ev vytalwatch.AlertEvent
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatal(err)
		}
		r.eventIDs[ev.EventID] = true
	}
	store, err := state.Open(state.Options{Dir: dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for p := 0; p < killPartitions; p++ {
		cs, err := store.Counters(p)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range cs {
			r.counters[k] += v
		}
		d, err := store.Digest(p)
		if err != nil {
			t.Fatal(err)
		}
		r.digests = append(r.digests, d)
	}
	return r
}

// TestEngineSurvivesKill runs the engine process over the MIMIC data
// twice: once without interruption, and once killed with SIGKILL twice
// mid-stream and restarted on the same state directory. Both must end
// with the same alert event ids, exact counters and identical state.
func TestEngineSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine process over 42,509 readings three times")
	}
	rows, err := loadRows("bundled:mimic")
	if err != nil {
		t.Fatal(err)
	}
	rows = csv.Rebase(rows, killNow)
	tmp := t.TempDir()

	clean := killBroker(t, rows)
	p := startEngineProcess(t, clean.Brokers(), filepath.Join(tmp, "clean"), filepath.Join(tmp, "clean.log"))
	waitProgress(t, clean.Brokers(), 1, p.log)
	p.stop(t)
	want := collect(t, clean.Brokers(), filepath.Join(tmp, "clean"))

	crashed := killBroker(t, rows)
	dir := filepath.Join(tmp, "killed")
	logFile := filepath.Join(tmp, "killed.log")
	kills := 0
	for _, frac := range []float64{0.2, 0.55} {
		p := startEngineProcess(t, crashed.Brokers(), dir, logFile)
		waitProgress(t, crashed.Brokers(), frac, logFile)
		p.kill(t)
		kills++
	}
	p = startEngineProcess(t, crashed.Brokers(), dir, logFile)
	waitProgress(t, crashed.Brokers(), 1, logFile)
	p.stop(t)
	got := collect(t, crashed.Brokers(), dir)

	if want.counters[engine.CounterReadingsIn] != int64(len(rows)) {
		t.Errorf("clean run readings_in = %d, want %d", want.counters[engine.CounterReadingsIn], len(rows))
	}
	for _, name := range slices.Sorted(maps.Keys(want.counters)) {
		if got.counters[name] != want.counters[name] {
			t.Errorf("after %d kills counter %s = %d, want %d", kills, name, got.counters[name], want.counters[name])
		}
	}
	missing, extra := 0, 0
	for id := range want.eventIDs {
		if !got.eventIDs[id] {
			missing++
		}
	}
	for id := range got.eventIDs {
		if !want.eventIDs[id] {
			extra++
		}
	}
	if missing != 0 || extra != 0 {
		t.Errorf("alert events after %d kills: %d missing, %d extra (of %d)", kills, missing, extra, len(want.eventIDs))
	}
	if len(want.eventIDs) == 0 {
		t.Error("the clean run emitted no alerts")
	}
	if os.Getenv("KILLTEST_KEEP") != "" {
		_ = exec.Command("cp", "-r", filepath.Join(tmp, "clean"), filepath.Join(tmp, "killed"), os.Getenv("KILLTEST_KEEP")).Run()
	}
	for p := range want.digests {
		if got.digests[p] != want.digests[p] {
			t.Errorf("partition %d state digest differs after %d kills", p, kills)
		}
	}
	t.Logf("%d kills: %d readings, %d distinct alert events (%d messages on the topic, %d in the clean run)",
		kills, got.counters[engine.CounterReadingsIn], len(got.eventIDs), got.alertMsgs, want.alertMsgs)
}
