package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vytalwatch/vytalwatch/bench"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
)

// benchNow is the fixed present of benchmark loads, so runs are
// comparable.
var benchNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type benchOptions struct {
	out             string
	patients        int
	days            int
	wearables       int
	wearableMinutes int
	runChild        string
	file            string
}

// runBench measures throughput and memory. Each measurement runs in its
// own child process, so that peak memory is the child's alone.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "write the results as Markdown to this file (default: print them)")
	fs.IntVar(&o.patients, "patients", 2000, "home-monitored patients in the synthetic load")
	fs.IntVar(&o.days, "days", 30, "days of synthetic history")
	fs.IntVar(&o.wearables, "wearables", 20, "patients who also wear a 1 Hz heart-rate sensor")
	fs.IntVar(&o.wearableMinutes, "wearable-minutes", 60, "minutes of 1 Hz wearable data per wearable patient")
	fs.StringVar(&o.runChild, "run", "", "internal: run one measurement (engine) on --file and print its figures")
	fs.StringVar(&o.file, "file", "", "internal: the load for --run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.runChild != "" {
		return benchChild(o, stdout)
	}
	return benchParent(ctx, o, stdout, stderr)
}

func benchChild(o benchOptions, stdout io.Writer) error {
	switch o.runChild {
	case "engine":
	case "restore":
		return benchRestoreChild(o, stdout)
	default:
		return fmt.Errorf("%w: unknown --run %q", errUsage, o.runChild)
	}
	rows, err := loadRows(o.file)
	if err != nil {
		return err
	}
	set, err := loadRuleSet("pack:standard")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vytalwatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stats, err := bench.EngineOnly(rows, dir, set, benchNow, 2000)
	if err != nil {
		return err
	}
	stats.PeakRSSBytes = peakRSS()
	return json.NewEncoder(stdout).Encode(stats)
}

// restorePatients is the size of the partition the restore benchmark
// rebuilds.
const restorePatients = 10000

// benchRestoreChild fills one partition with 10,000 patients' windows
// (a week of home readings each) and times its restore from the
// changelog on an embedded broker.
func benchRestoreChild(o benchOptions, stdout io.Writer) error {
	rows := bench.Generate(bench.LoadConfig{Patients: restorePatients, Days: 7, Now: benchNow, Seed: 2})
	set, err := loadRuleSet("pack:standard")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vytalwatch-bench-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := kafkatest.Start(kafkatest.Options{Partitions: 1, DataDir: filepath.Join(dir, "broker")})
	if err != nil {
		return err
	}
	defer b.Close()
	ctx := context.Background()
	topic := engine.DefaultTopics().Changelog
	if err := kafka.EnsureTopics(ctx, b.Brokers(), []kafka.Topic{{Name: topic, Partitions: 1, Compact: true}}); err != nil {
		return err
	}
	stats, err := bench.Restore(ctx, rows, restorePatients, dir, set, benchNow, kafka.NewChangelog(b.Brokers(), topic))
	if err != nil {
		return err
	}
	stats.PeakRSSBytes = peakRSS()
	return json.NewEncoder(stdout).Encode(stats)
}

// peakRSS returns the process's peak resident memory from
// /proc/self/status (VmHWM), or 0 where that file does not exist. The
// kernel's rusage of a child is not used for this: on Linux it also counts
// the parent's memory that the child shared before exec.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// measurement is one child run's figures.
type measurement struct {
	scenario   string
	load       string
	readings   int
	seconds    float64
	userSec    float64
	sysSec     float64
	peakMiB    float64
	throughput float64
}

func benchParent(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vytalwatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	synthetic := filepath.Join(tmp, "synthetic.csv")
	rows := bench.Generate(bench.LoadConfig{
		Patients: o.patients, Days: o.days, WearablePatients: o.wearables, WearableMinutes: o.wearableMinutes,
		Now: benchNow, Seed: 1,
	})
	if err := writeRows(synthetic, rows); err != nil {
		return err
	}
	mimic, err := loadRows("bundled:mimic")
	if err != nil {
		return err
	}
	loads := []struct {
		name, file string
		readings   int
	}{
		{"MIMIC-III demo", "bundled:mimic", len(mimic)},
		{fmt.Sprintf("synthetic: %d patients x %d days, %d wearables x %d min at 1 Hz", o.patients, o.days, o.wearables, o.wearableMinutes), synthetic, len(rows)},
	}
	var results []measurement
	for _, l := range loads {
		for _, sc := range []string{"engine only", "end to end"} {
			fmt.Fprintf(stderr, "bench: %s, %s (%d readings)\n", l.name, sc, l.readings)
			m, err := measureChild(ctx, self, sc, l.file, tmp)
			if err != nil {
				return fmt.Errorf("%s on %s: %w", sc, l.name, err)
			}
			m.load, m.readings = l.name, l.readings
			m.throughput = float64(l.readings) / m.seconds
			results = append(results, m)
		}
	}
	fmt.Fprintf(stderr, "bench: restore of a partition holding %d patients' windows\n", restorePatients)
	restore, err := measureRestore(ctx, self)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	report := benchReport(results, o) + restoreReport(restore)
	if o.out == "" {
		_, err := io.WriteString(stdout, report)
		return err
	}
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", o.out)
	return nil
}

// measureChild runs one scenario in a child process and reads its time,
// CPU and peak memory from the kernel's accounting.
func measureChild(ctx context.Context, self, scenario, file, tmp string) (measurement, error) {
	var args []string
	switch scenario {
	case "engine only":
		args = []string{"bench", "--run", "engine", "--file", file}
	default:
		args = []string{"demo", "--once", "--file", file, "--now", benchNow.Format(time.RFC3339),
			"--data-dir", filepath.Join(tmp, fmt.Sprintf("e2e-%d", time.Now().UnixNano())),
			"--summary", filepath.Join(tmp, "summary.json")}
	}
	cmd := exec.CommandContext(ctx, self, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "VYTALWATCH_LOG_LEVEL=warn")
	started := time.Now()
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("%v: %s", err, lastLines(errOut.String(), 5))
	}
	wall := time.Since(started).Seconds()
	m := measurement{scenario: scenario, seconds: wall}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.userSec = time.Duration(ru.Utime.Nano()).Seconds()
		m.sysSec = time.Duration(ru.Stime.Nano()).Seconds()
	}
	if scenario == "engine only" {
		var stats bench.EngineStats
		if err := json.Unmarshal(out.Bytes(), &stats); err != nil {
			return m, fmt.Errorf("read engine figures: %w", err)
		}
		// The processing time excludes loading the CSV and starting up.
		m.seconds = stats.Seconds
		m.peakMiB = float64(stats.PeakRSSBytes) / (1 << 20)
		return m, nil
	}
	var s summary
	data, err := os.ReadFile(filepath.Join(tmp, "summary.json"))
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return m, fmt.Errorf("read demo summary: %w", err)
	}
	m.peakMiB = float64(s.PeakRSSBytes) / (1 << 20)
	return m, nil
}

func measureRestore(ctx context.Context, self string) (bench.RestoreStats, error) {
	var st bench.RestoreStats
	cmd := exec.CommandContext(ctx, self, "bench", "--run", "restore")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return st, fmt.Errorf("%v: %s", err, lastLines(errOut.String(), 5))
	}
	return st, json.Unmarshal(out.Bytes(), &st)
}

func restoreReport(st bench.RestoreStats) string {
	var b strings.Builder
	b.WriteString("\n## Restore\n\n")
	b.WriteString("One partition filled through the engine's processor with the standard pack, every batch\n")
	b.WriteString("mirrored to the changelog on the embedded broker, then rebuilt into an empty store as an\n")
	b.WriteString("instance taking the partition over does (`vytalwatch bench --run restore`). The embedded\n")
	b.WriteString("broker does not compact, so the restore reads every record ever written; a compacted Kafka\n")
	b.WriteString("topic holds fewer. The rebuilt partition's digest is checked equal to the source's.\n\n")
	b.WriteString("| patients | readings | changelog records | restored records | restore seconds | records/s | peak RSS MiB |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %.2f | %.0f | %.0f |\n", st.Patients, st.Readings, st.ChangelogRecords,
		st.RestoredRecords, st.Seconds, float64(st.RestoredRecords)/st.Seconds, float64(st.PeakRSSBytes)/(1<<20))
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeRows(path string, rows []csv.Row) error {
	var b bytes.Buffer
	b.WriteString("patient_id,time,metric,value,unit,source_row_id,device_id\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\n", r.PatientID, r.Time, r.Metric, r.Value, r.Unit, r.SourceRowID, r.DeviceID)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func benchReport(results []measurement, o benchOptions) string {
	var b strings.Builder
	b.WriteString("# Benchmark results\n\n")
	b.WriteString("Written by `make bench` (`bin/vytalwatch bench --out bench/RESULTS.md`). Each row is one child\n")
	b.WriteString("process. CPU time comes from the kernel's accounting of that process, and peak memory from\n")
	b.WriteString("its own VmHWM (peak resident set) in /proc/self/status.\n")
	b.WriteString("The machines are shared and noisy: compare the rows of one run with each other, not with\n")
	b.WriteString("figures from another run.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s memory, %s/%s\n", cpuModel(), runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- Go: %s; rules: built-in standard pack (11 rules)\n", runtime.Version())
	b.WriteString("- engine only: the processor with a Pebble store on disk, a synced commit per 2,000 readings, no broker;\n")
	b.WriteString("  seconds exclude loading the CSV\n")
	b.WriteString("- end to end: `vytalwatch demo --once`: embedded broker, replay of the CSV into 8 partitions,\n")
	b.WriteString("  the engine with a consumer group, alerts, dead letters and the changelog produced back; seconds are\n")
	b.WriteString("  the whole process, and its peak memory includes the in-process broker, which keeps every topic in memory\n")
	b.WriteString("- the engine's memory includes a 256 MiB Pebble block cache and two 64 MiB memtables; the engine-only\n")
	b.WriteString("  figure also holds the whole load and its rendered payloads in memory\n\n")
	b.WriteString("| load | scenario | readings | seconds | readings/s | CPU user+sys s | peak RSS MiB |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	for _, m := range results {
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.0f | %.2f | %.0f |\n",
			m.load, m.scenario, m.readings, m.seconds, m.throughput, m.userSec+m.sysSec, m.peakMiB)
	}
	b.WriteString("\nRatios within this run (end to end / engine only, readings per second):\n\n")
	for i := 0; i+1 < len(results); i += 2 {
		fmt.Fprintf(&b, "- %s: %.2f\n", results[i].load, results[i+1].throughput/results[i].throughput)
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d", &kb)
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}
