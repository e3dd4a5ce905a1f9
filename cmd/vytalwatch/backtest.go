package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
	"github.com/vytalwatch/vytalwatch/engine"
)

// parseInterleaved parses flags that may come before, between or after
// positional arguments, as in "rules backtest RULES.yaml --file F".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func runRulesBacktest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "history to replay: a vitals CSV, or bundled:mimic or bundled:cgm")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	rebase := fs.Bool("rebase", false, "shift each patient's readings so the newest lands at --now, as the demo does")
	nowFlag := fs.String("now", "", "the present for --rebase, RFC 3339 (default: the real time)")
	step := fs.Duration("timer-step", time.Minute, "cadence of clock-driven evaluation, in the history's time; 0 disables")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || *file == "" {
		return fmt.Errorf("%w: rules backtest takes RULES.yaml --file DATA.csv [--json]", errUsage)
	}
	set, err := loadRuleSet(positional[0])
	if err != nil {
		return err
	}
	rows, bad, err := readInput(*file)
	if err != nil {
		return err
	}
	warnBadRows(stderr, *file, bad)
	if *rebase {
		now, err := parseNow(*nowFlag)
		if err != nil {
			return err
		}
		rows = csv.Rebase(rows, now)
	}
	history := make([]engine.BacktestReading, len(rows))
	for i, r := range rows {
		history[i] = csv.BacktestReading(r)
	}
	rep, err := engine.Backtest(set, history, *step)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBacktest(stdout, rep, *file)
	return nil
}

func printBacktest(w io.Writer, rep *engine.BacktestReport, file string) {
	fmt.Fprintf(w, "backtest of %s: %d readings, %d accepted, %d rejected, %d duplicates\n\n",
		file, rep.Readings, rep.Accepted, rep.Rejected, rep.Duplicates)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tversion\tseverity\tfired\tresolved\trenotified\tpatients\t")
	for _, r := range rep.Rules {
		clock := ""
		if r.ClockDependent {
			clock = " *"
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%d\t%d\t%d\t%d\t\n", r.RuleID, clock, r.Version, r.Severity, r.Fired, r.Resolved, r.Renotified, len(r.Patients))
	}
	tw.Flush()
	fmt.Fprintln(w, "\n* reads windows or since(), or holds for a duration: when it fires or resolves depends on the timer")
	fmt.Fprintln(w, "  cadence (--timer-step). Renotifications always depend on it.")
	var reasons []string
	for reason, n := range rep.Rejections {
		reasons = append(reasons, fmt.Sprintf("%s %d", reason, n))
	}
	if len(reasons) > 0 {
		fmt.Fprintf(w, "rejected by reason: %s\n", strings.Join(reasons, ", "))
	}
}
