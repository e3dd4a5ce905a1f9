package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/state"
)

// summary is what a run did, read from the counters that the engine keeps
// in its store next to the state, so each input counts exactly once.
type summary struct {
	Input             string           `json:"input"`
	Now               time.Time        `json:"now"`
	ReadingsIn        int64            `json:"readings_in"`
	ReadingsAccepted  int64            `json:"readings_accepted"`
	ReadingsRejected  int64            `json:"readings_rejected"`
	RejectedByReason  map[string]int64 `json:"rejected_by_reason"`
	Duplicates        int64            `json:"duplicates"`
	AlertsFired       int64            `json:"alerts_fired"`
	AlertsResolved    int64            `json:"alerts_resolved"`
	AlertsRenotified  int64            `json:"alerts_renotified"`
	AlertsByRule      map[string]int64 `json:"alerts_by_rule"`
	ResolvedByRule    map[string]int64 `json:"resolved_by_rule"`
	RuleErrors        map[string]int64 `json:"rule_errors"`
	Patients          int              `json:"patients"`
	ElapsedSeconds    float64          `json:"elapsed_seconds"`
	ReadingsPerSecond float64          `json:"readings_per_second"`
	// PeakRSSBytes is the process's peak resident memory, 0 where the
	// system does not report it.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

func buildSummary(store *state.Store, partitions int) (summary, error) {
	s := summary{
		RejectedByReason: map[string]int64{}, AlertsByRule: map[string]int64{},
		ResolvedByRule: map[string]int64{}, RuleErrors: map[string]int64{},
	}
	for p := 0; p < partitions; p++ {
		counters, err := store.Counters(p)
		if err != nil {
			return s, err
		}
		addCounters(&s, counters)
		n, err := store.PatientCount(p)
		if err != nil {
			return s, err
		}
		s.Patients += n
	}
	return s, nil
}

func addCounters(s *summary, counters map[string]int64) {
	for name, v := range counters {
		switch {
		case name == engine.CounterReadingsIn:
			s.ReadingsIn += v
		case name == engine.CounterAccepted:
			s.ReadingsAccepted += v
		case name == engine.CounterRejected:
			s.ReadingsRejected += v
		case name == engine.CounterDuplicates:
			s.Duplicates += v
		case name == engine.CounterAlertsFired:
			s.AlertsFired += v
		case name == engine.CounterAlertsResolved:
			s.AlertsResolved += v
		case name == engine.CounterAlertsRenotified:
			s.AlertsRenotified += v
		case strings.HasPrefix(name, engine.PrefixRejected):
			s.RejectedByReason[strings.TrimPrefix(name, engine.PrefixRejected)] += v
		case strings.HasPrefix(name, engine.PrefixFired):
			s.AlertsByRule[strings.TrimPrefix(name, engine.PrefixFired)] += v
		case strings.HasPrefix(name, engine.PrefixResolved):
			s.ResolvedByRule[strings.TrimPrefix(name, engine.PrefixResolved)] += v
		case strings.HasPrefix(name, engine.PrefixRuleErrors):
			s.RuleErrors[strings.TrimPrefix(name, engine.PrefixRuleErrors)] += v
		}
	}
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// printSummary prints the summary under a heading. when names the point
// of the run the summary was taken at, and is empty for the end of the run.
func printSummary(w io.Writer, s summary, when string) {
	if when != "" {
		when = ", " + when
	}
	fmt.Fprintf(w, "\nVytalWatch demo summary (%s%s)\n", s.Input, when)
	fmt.Fprintf(w, "  readings in        %d\n", s.ReadingsIn)
	fmt.Fprintf(w, "  accepted           %d\n", s.ReadingsAccepted)
	fmt.Fprintf(w, "  rejected           %d\n", s.ReadingsRejected)
	for _, reason := range slices.Sorted(maps.Keys(s.RejectedByReason)) {
		fmt.Fprintf(w, "    %-24s %d\n", reason, s.RejectedByReason[reason])
	}
	fmt.Fprintf(w, "  duplicates         %d\n", s.Duplicates)
	fmt.Fprintf(w, "  patients           %d\n", s.Patients)
	fmt.Fprintf(w, "  alerts fired       %d (resolved %d, renotified %d)\n", s.AlertsFired, s.AlertsResolved, s.AlertsRenotified)
	for _, rule := range slices.Sorted(maps.Keys(s.AlertsByRule)) {
		fmt.Fprintf(w, "    %-24s %d fired, %d resolved\n", rule, s.AlertsByRule[rule], s.ResolvedByRule[rule])
	}
	for _, rule := range slices.Sorted(maps.Keys(s.RuleErrors)) {
		fmt.Fprintf(w, "  rule errors %-12s %d\n", rule, s.RuleErrors[rule])
	}
	fmt.Fprintf(w, "  elapsed            %.2f s (%.0f readings/s)\n", s.ElapsedSeconds, s.ReadingsPerSecond)
}
