package billing

import (
	"time"
)

// PatientInfo is what billing needs from a patient's profile.
type PatientInfo struct {
	ID string
	// Location is the patient's home zone, nil when the profile has none.
	Location        *time.Location
	EpisodeStart    Date
	HasEpisodeStart bool
}

// Assemble gathers one patient's inputs from the observations of their
// accepted, distinct readings, their time entries and the claims of
// other practitioners.
// obs must be in arrival order, as the engine reads them, since the first
// qualifying one can start the episode.
func Assemble(p PatientInfo, obs []Observation, entries []TimeEntry, claims []Claim) Inputs {
	in := Inputs{
		PatientID: p.ID, Location: p.Location, EpisodeStart: p.EpisodeStart, HasEpisodeStart: p.HasEpisodeStart,
		Days: DaysOf(obs, p.Location), Entries: entries, Claims: claims,
	}
	for _, o := range obs {
		if o.Qualifies() {
			in.FirstReading, in.HasFirstReading = o.MeasuredAt.In(o.zone(nil)), true
			break
		}
	}
	return in
}

// Today returns the current date in the patient's zone, UTC when unknown.
func Today(now time.Time, loc *time.Location) Date {
	if loc == nil {
		loc = time.UTC
	}
	return DateOf(now, loc)
}
