// Command vytalwatch runs the VytalWatch stream engine and its tools: the
// self-contained demo, the engine against external brokers, CSV replay
// into Kafka, and the rule tools clinicians use before a rule goes live.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "time/tzdata" // IANA zones for patient time zones on machines without a zone database

	"golang.org/x/term"
)

// errUsage marks errors whose message is a usage problem; the command
// exits 2 for them.
var errUsage = errors.New("usage")

// configError is a usage error that lists each configuration problem on
// its own indented line.
func configError(problems []error) error {
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = strings.ReplaceAll(p.Error(), "\n", "\n  ")
	}
	return fmt.Errorf("%w: invalid configuration:\n  %s", errUsage, strings.Join(lines, "\n  "))
}

// exitError carries a specific exit status, such as 1 for failed rule
// tests, without a message of its own.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const usage = `vytalwatch: a stream engine for remote patient monitoring

Usage:
  vytalwatch demo [flags]                      replay bundled data through an embedded broker and the engine,
                                               with the API on 127.0.0.1:8080 on a private PostgreSQL
  vytalwatch serve [flags]                     run the API against DATABASE_URL and KAFKA_BROKERS
  vytalwatch sinks [flags]                     store alerts, latest readings and billing snapshots in Postgres;
                                               publish the outbox
  vytalwatch migrate                           apply the database migrations to DATABASE_URL
  vytalwatch users create-admin --email E      create an administrator with a password and TOTP
  vytalwatch totp code --secret S              print the current TOTP code of a secret
  vytalwatch engine [flags]                    run the engine against KAFKA_BROKERS
  vytalwatch replay --file F [flags]           produce a vitals CSV to a topic
  vytalwatch broker [flags]                    run the embedded Kafka broker on 127.0.0.1 for local use
  vytalwatch billing report --readings R.csv --time-entries T.csv --patients P.csv --month 2026-03 [--json]
                                               CPT eligibility per patient, device period and month
  vytalwatch bench [--out FILE]                measure throughput and memory, end to end and engine only
  vytalwatch chaos [--kills N] [--seed S]      kill engines and restart the broker during a replay; compare with a clean run
  vytalwatch rules test RULES.yaml TESTS.yaml  run rule tests
  vytalwatch rules validate RULES.yaml         check a rule file
  vytalwatch rules backtest RULES.yaml --file DATA.csv [--json]
                                               replay history through rules and report what fired
  vytalwatch rules publish RULES.yaml [--delete ID]
                                               publish rules to the running engines (KAFKA_BROKERS)

Run "vytalwatch COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	ctx, stop := signalContext()
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "engine":
		err = runEngine(ctx, args[1:], stdout, stderr)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, stderr)
	case "rules":
		err = runRules(ctx, args[1:], stdout, stderr)
	case "broker":
		err = runBroker(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "chaos":
		err = runChaos(ctx, args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "sinks":
		err = runSinks(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, stderr)
	case "users":
		err = runUsers(ctx, args[1:], stdout, stderr)
	case "totp":
		err = runTOTP(args[1:], stdout, stderr)
	case "billing":
		err = runBilling(args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("%w: unknown command %q; run vytalwatch -h for the commands", errUsage, args[0])
	}
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case isFlagError(err):
		// The flag package has printed the problem and the flags already.
		return 2
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "vytalwatch:", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	default:
		fmt.Fprintln(stderr, "vytalwatch:", err)
		return 1
	}
}

// interrupts counts shutdown signals; a second one aborts the drain.
var abortOnSecondSignal func()

// signalContext returns a context cancelled by the first SIGINT or
// SIGTERM. A second signal calls abortOnSecondSignal, or exits.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		slog.Info("shutdown requested; finishing the batch in hand (send the signal again to abort)", "signal", sig.String())
		cancel()
		sig = <-ch
		slog.Warn("second signal; aborting the drain, the batch in hand will be read again", "signal", sig.String())
		if abortOnSecondSignal != nil {
			abortOnSecondSignal()
			return
		}
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// newLogger returns the process logger: text on a terminal, JSON
// otherwise, at the level of VYTALWATCH_LOG_LEVEL (debug, info, warn,
// error; default info).
func newLogger(w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if s := os.Getenv("VYTALWATCH_LOG_LEVEL"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			return nil, fmt.Errorf("VYTALWATCH_LOG_LEVEL %q is not one of debug, info, warn, error", s)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	format := os.Getenv("VYTALWATCH_LOG_FORMAT")
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	var logger *slog.Logger
	switch format {
	case "text":
		logger = slog.New(slog.NewTextHandler(w, opts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return nil, fmt.Errorf("VYTALWATCH_LOG_FORMAT %q is not text or json", format)
	}
	slog.SetDefault(logger)
	return logger, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// isFlagError reports whether err came from parsing flags: an unknown
// flag or a bad flag value, which is a usage error.
func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") || strings.HasPrefix(msg, "invalid value ") ||
		strings.HasPrefix(msg, "flag needs an argument") || strings.HasPrefix(msg, "invalid boolean")
}
