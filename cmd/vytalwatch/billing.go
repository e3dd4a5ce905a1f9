package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

func runBilling(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "report" {
		return fmt.Errorf("%w: billing takes the subcommand report", errUsage)
	}
	return runBillingReport(args[1:], stdout, stderr)
}

// billingReportOutput is the JSON of `billing report`.
type billingReportOutput struct {
	Month    billing.Month    `json:"month"`
	Today    billing.Date     `json:"today"`
	Patients []billing.Report `json:"patients"`
}

func runBillingReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("billing report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	readingsPath := fs.String("readings", "", "readings CSV (patient_id,time,metric,value,unit,source_row_id[,device_id,measurement_id,timezone,manual_entry,estimated_time])")
	entriesPath := fs.String("time-entries", "", "time entries CSV (entry_id,patient_id,staff_id,program,started_at,minutes,interactive)")
	patientsPath := fs.String("patients", "", "patients CSV (patient_id,timezone,episode_start)")
	claimsPath := fs.String("claims", "", "optional: codes other practitioners billed (patient_id,provider,code,service_date)")
	monthFlag := fs.String("month", "", "calendar month to report, such as 2026-03")
	todayFlag := fs.String("today", "", "the date that closes device periods, YYYY-MM-DD (default: today in each patient's zone)")
	maxUnits := fs.Int("max-99458", 3, "99458 units a month the payer accepts")
	prefer99091 := fs.Bool("prefer-99091", false, "bill 99091 rather than a management code when both qualify")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *readingsPath == "" || *patientsPath == "" || *monthFlag == "" {
		return fmt.Errorf("%w: billing report needs --readings, --patients and --month (and usually --time-entries)", errUsage)
	}
	month, err := billing.ParseMonth(*monthFlag)
	if err != nil {
		return fmt.Errorf("%w: --month: %v", errUsage, err)
	}
	var today *billing.Date
	if *todayFlag != "" {
		d, err := billing.ParseDate(*todayFlag)
		if err != nil {
			return fmt.Errorf("%w: --today: %v", errUsage, err)
		}
		if d < month.First() {
			return fmt.Errorf("%w: --today %s is before the month %s, so no reading of it could have arrived yet; give a date in or after the month", errUsage, d, month)
		}
		today = &d
	}
	in, unlisted, err := loadBillingInputs(*readingsPath, *entriesPath, *patientsPath, *claimsPath)
	if err != nil {
		return err
	}
	if len(unlisted) > 0 {
		fmt.Fprintf(stderr, "warning: %s: no row for %s; their days count in each reading's own offset and their minutes in UTC, "+
			"with no enrollment date. Add a row patient_id,timezone,episode_start for each.\n", *patientsPath, strings.Join(unlisted, ", "))
	}
	out := billingReportOutput{Month: month, Patients: []billing.Report{}}
	cfg := billing.Config{MaxUnits99458: *maxUnits, Prefer99091: *prefer99091}
	for _, pi := range in {
		d := billing.Today(time.Now(), pi.Location)
		if today != nil {
			d = *today
		}
		out.Today = d
		out.Patients = append(out.Patients, billing.Compute(pi, month, cfg, d))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printBillingReport(stdout, out)
	return nil
}

// loadBillingInputs reads the files and builds each patient's inputs.
// Readings go through the engine's own validation and dedupe, so a
// rejected or duplicate reading counts no day here either. unlisted are
// the patients with readings or time entries but no row in the patients
// file.
func loadBillingInputs(readingsPath, entriesPath, patientsPath, claimsPath string) (out []billing.Inputs, unlisted []string, err error) {
	info, err := billingPatients(patientsPath)
	if err != nil {
		return nil, nil, err
	}
	obs, err := billingObservations(readingsPath)
	if err != nil {
		return nil, nil, err
	}
	var entries []billing.TimeEntry
	if entriesPath != "" {
		if entries, err = readWith(entriesPath, csv.ReadTimeEntries); err != nil {
			return nil, nil, err
		}
	}
	var claims []csv.ClaimRow
	if claimsPath != "" {
		if claims, err = readWith(claimsPath, csv.ReadClaims); err != nil {
			return nil, nil, err
		}
	}

	ids := map[string]bool{}
	for id := range info {
		ids[id] = true
	}
	for id := range obs {
		ids[id] = true
	}
	entriesOf := map[string][]billing.TimeEntry{}
	for _, e := range entries {
		ids[e.PatientID] = true
		entriesOf[e.PatientID] = append(entriesOf[e.PatientID], e)
	}
	claimsOf := map[string][]billing.Claim{}
	for _, c := range claims {
		claimsOf[c.PatientID] = append(claimsOf[c.PatientID], c.Claim)
	}

	for _, id := range slices.Sorted(maps.Keys(ids)) {
		pi, ok := info[id]
		if !ok {
			pi = billing.PatientInfo{ID: id}
			unlisted = append(unlisted, id)
		}
		out = append(out, billing.Assemble(pi, obs[id], entriesOf[id], claimsOf[id]))
	}
	return out, unlisted, nil
}

// billingPatients reads the patients file: each patient's zone and
// episode start.
func billingPatients(path string) (map[string]billing.PatientInfo, error) {
	patients, err := readWith(path, csv.ReadPatients)
	if err != nil {
		return nil, err
	}
	info := map[string]billing.PatientInfo{}
	for _, p := range patients {
		pi := billing.PatientInfo{ID: p.PatientID}
		if p.Timezone != "" {
			pi.Location, _ = vytalwatch.LoadLocation(p.Timezone)
		}
		if p.EpisodeStart != "" {
			pi.EpisodeStart, _ = billing.ParseDate(p.EpisodeStart)
			pi.HasEpisodeStart = true
		}
		info[p.PatientID] = pi
	}
	return info, nil
}

func readWith[T any](path string, read func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// billingObservations validates and dedupes the readings as the engine
// does and returns each patient's observations.
func billingObservations(path string) (map[string][]billing.Observation, error) {
	// A reading row that cannot be read could be a billable day, so the
	// report stops rather than count without it.
	rows, err := loadRows(path)
	if err != nil {
		return nil, err
	}
	return observationsOf(rows, time.Now()), nil
}

// observationsOf validates and dedupes rows as the engine does and
// returns each patient's observations. A row arrives when it was
// measured, so that old data is not too old. When asOf is set, a row
// arrives no later than asOf, so a reading measured after the report is
// made is rejected as in the future, as the engine would reject it.
func observationsOf(rows []csv.Row, asOf time.Time) map[string][]billing.Observation {
	out := map[string][]billing.Observation{}
	seen := map[string]bool{}
	for _, row := range rows {
		arrival, _ := time.Parse(time.RFC3339Nano, strings.TrimSpace(row.Time))
		if !asOf.IsZero() && arrival.After(asOf) {
			arrival = asOf
		}
		r, rej := vytalwatch.DecodeReading(csv.Payload(row, time.Time{}), arrival, vytalwatch.ValidationConfig{})
		if rej != nil {
			continue
		}
		key := r.PatientID + "\x00" + r.Identity().String()
		if seen[key] {
			continue
		}
		seen[key] = true
		out[r.PatientID] = append(out[r.PatientID], billing.ObservationOf(&r))
	}
	return out
}

func printBillingReport(w io.Writer, out billingReportOutput) {
	fmt.Fprintf(w, "billing report for %s\n\n", out.Month)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "patient\tdevice period\tdays\tdevice codes\tminutes\tinteractive\tmanagement codes\tflags")
	for _, p := range out.Patients {
		periods := []string{}
		days := []string{}
		codes := []string{}
		var flags []string
		for _, per := range p.Periods {
			periods = append(periods, per.Start.String()+".."+per.End.String())
			days = append(days, fmt.Sprint(per.DaysWithReadings))
			c := per.Code
			if per.Setup99453 {
				c += "+99453"
			}
			if per.Code99091 {
				c += "+99091"
			}
			codes = append(codes, orDash(c))
			flags = append(flags, per.Flags...)
		}
		flags = append(flags, p.Month.Flags...)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\t%s\n", p.PatientID, orDash(strings.Join(periods, ", ")),
			orDash(strings.Join(days, ", ")), orDash(strings.Join(codes, ", ")), p.Month.Minutes, p.Month.Interactive,
			orDash(strings.Join(p.Month.Codes, " ")), orDash(strings.Join(flags, " ")))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
