package csv

import (
	encodingcsv "encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

// PatientRow is one row of a billing patients file:
// patient_id,timezone,episode_start.
type PatientRow struct {
	PatientID string
	Timezone  string
	// EpisodeStart is a date (YYYY-MM-DD), or empty when the episode
	// starts with the first day of data.
	EpisodeStart string
}

// ClaimRow is one row of a claims file:
// patient_id,provider,code,service_date.
type ClaimRow struct {
	PatientID string
	Claim     billing.Claim
}

// table reads a CSV with a header and calls fn for each row with a
// lookup of the named columns.
func table(r io.Reader, what string, required []string, fn func(line int, get func(string) string) error) error {
	cr := encodingcsv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s file is empty; it needs the header %s", what, strings.Join(required, ","))
	}
	if err != nil {
		return fmt.Errorf("read %s header: %w", what, err)
	}
	pos := map[string]int{}
	for i, name := range header {
		pos[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))] = i
	}
	var missing []string
	for _, name := range required {
		if _, ok := pos[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("invalid %s header: missing columns %s; expected %s", what, strings.Join(missing, ", "), strings.Join(required, ","))
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", what, line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		get := func(name string) string {
			i, ok := pos[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		if err := fn(line, get); err != nil {
			return err
		}
	}
}

// ReadPatients reads patient_id,timezone,episode_start. A patient listed
// twice is an error, since either row could be the right one.
func ReadPatients(r io.Reader) ([]PatientRow, error) {
	var out []PatientRow
	lines := map[string]int{}
	err := table(r, "patients", []string{"patient_id", "timezone", "episode_start"}, func(line int, get func(string) string) error {
		p := PatientRow{PatientID: get("patient_id"), Timezone: get("timezone"), EpisodeStart: get("episode_start")}
		if p.PatientID == "" {
			return fmt.Errorf("patients line %d: patient_id is empty", line)
		}
		if first, ok := lines[p.PatientID]; ok {
			return fmt.Errorf("patients line %d: patient %q is already on line %d; keep one row per patient", line, p.PatientID, first)
		}
		lines[p.PatientID] = line
		if p.Timezone == "Local" {
			return fmt.Errorf("patients line %d: timezone Local means this machine's zone; give the patient's IANA zone such as America/Chicago", line)
		}
		if p.Timezone != "" {
			if _, err := time.LoadLocation(p.Timezone); err != nil {
				return fmt.Errorf("patients line %d: timezone %q is not an IANA zone name such as America/Chicago", line, p.Timezone)
			}
		}
		if p.EpisodeStart != "" {
			if _, err := billing.ParseDate(p.EpisodeStart); err != nil {
				return fmt.Errorf("patients line %d: episode_start: %w", line, err)
			}
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// ReadTimeEntries reads
// entry_id,patient_id,staff_id,program,started_at,minutes,interactive with
// an optional role column. Each entry is checked as the engine checks a
// time entry. An entry id listed again with the same values counts once,
// as when the API receives it twice; with other values it is an error.
func ReadTimeEntries(r io.Reader) ([]billing.TimeEntry, error) {
	var out []billing.TimeEntry
	seen := map[string]int{} // entry id -> index in out
	lines := map[string]int{}
	cols := []string{"entry_id", "patient_id", "staff_id", "program", "started_at", "minutes", "interactive"}
	err := table(r, "time entries", cols, func(line int, get func(string) string) error {
		e := billing.TimeEntry{ID: get("entry_id"), PatientID: get("patient_id"), StaffID: get("staff_id"),
			Role: get("role"), Program: strings.ToLower(get("program"))}
		t, err := time.Parse(time.RFC3339, get("started_at"))
		if err != nil {
			return fmt.Errorf("time entries line %d: started_at %q is not RFC 3339 with an offset", line, get("started_at"))
		}
		e.StartedAt = t
		if e.Minutes, err = strconv.Atoi(get("minutes")); err != nil || e.Minutes < 0 || e.Minutes > 24*60 {
			return fmt.Errorf("time entries line %d: minutes %q must be a whole number from 0 to 1440", line, get("minutes"))
		}
		if e.Interactive, err = strconv.ParseBool(strings.ToLower(get("interactive"))); err != nil {
			return fmt.Errorf("time entries line %d: interactive %q must be true or false", line, get("interactive"))
		}
		if err := e.Check(); err != nil {
			return fmt.Errorf("time entries line %d: %w", line, err)
		}
		if i, ok := seen[e.ID]; ok {
			if !sameEntry(out[i], e) {
				return fmt.Errorf("time entries line %d: entry_id %q is already on line %d with other values; give each entry its own id", line, e.ID, lines[e.ID])
			}
			return nil
		}
		seen[e.ID], lines[e.ID] = len(out), line
		out = append(out, e)
		return nil
	})
	return out, err
}

// sameEntry reports whether two entries have the same values. Times
// compare as instants, since each parse of an offset makes a new zone.
func sameEntry(a, b billing.TimeEntry) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return false
	}
	a.StartedAt, b.StartedAt = time.Time{}, time.Time{}
	return a == b
}

// ReadClaims reads patient_id,provider,code,service_date: codes billed by
// other practitioners.
func ReadClaims(r io.Reader) ([]ClaimRow, error) {
	var out []ClaimRow
	err := table(r, "claims", []string{"patient_id", "provider", "code", "service_date"}, func(line int, get func(string) string) error {
		d, err := billing.ParseDate(get("service_date"))
		if err != nil {
			return fmt.Errorf("claims line %d: service_date: %w", line, err)
		}
		out = append(out, ClaimRow{PatientID: get("patient_id"), Claim: billing.Claim{Provider: get("provider"), Code: get("code"), ServiceDate: d}})
		return nil
	})
	return out, err
}
