package billing

import (
	"time"
)

// CPT codes.
const (
	Code99453 = "99453" // set-up and education, once per episode
	Code99454 = "99454" // device supply, 16 to 30 days with data in a device period
	Code99445 = "99445" // device supply, 2 to 15 days with data (new in 2026)
	Code99470 = "99470" // treatment management, first 10 minutes of a month (new in 2026)
	Code99457 = "99457" // treatment management, first 20 minutes of a month
	Code99458 = "99458" // each additional 20 minutes after 99457
	Code99091 = "99091" // physician or QHP interpretation, 30 minutes per 30 days
)

// Programs a time entry counts toward. Minutes count toward one program
// only: the same minutes may not feed RPM and CCM, say.
const (
	ProgramRPM   = "rpm"
	ProgramCCM   = "ccm"
	ProgramPCM   = "pcm"
	Program99091 = "99091"
)

// Flags raised on a decision, for billing staff to review.
const (
	// FlagEstimatedTimestamps: a counted day has only readings whose time
	// the device estimated.
	FlagEstimatedTimestamps = "estimated_timestamps"
	// FlagLateReading: a reading for the period arrived after the period
	// had closed and changed its count.
	FlagLateReading = "late_reading_after_close"
	// FlagMinutesDoubleCounted: RPM minutes overlapped another program's
	// entry by the same staff member; the overlap is not counted for RPM.
	FlagMinutesDoubleCounted = "minutes_double_counted"
	// Flag99458Capped: whole 99458 units beyond the payer's cap were left
	// out.
	Flag99458Capped = "99458_units_capped"
	// FlagNoInteractive: the minutes reached a management threshold but the
	// month had no real-time interactive communication.
	FlagNoInteractive = "no_interactive_communication"
	// Flag99091WithManagement: 99091 and a management code both qualified
	// where only one may be billed; the practice preference chose one.
	Flag99091WithManagement = "99091_with_management"
	// FlagOtherPractitioner: another practitioner billed a device-supply
	// code in the period, so this practice may not.
	FlagOtherPractitioner = "other_practitioner_billed"
	// FlagBeforeEpisode: readings before the episode start are not counted.
	FlagBeforeEpisode = "readings_before_episode_start"
	// FlagManagementWithoutData: the month bills management codes but the
	// patient has no day with data in it; OIG lists treatment management
	// of patients who send no data among the RPM billing risks.
	FlagManagementWithoutData = "management_without_device_data"
	// FlagMinutesBeforeEpisode: the month bills management codes and ends
	// before the episode starts.
	FlagMinutesBeforeEpisode = "minutes_before_episode_start"
)

// DayRecord is one calendar date with at least one qualifying reading.
type DayRecord struct {
	Date Date `json:"date"`
	// Estimated is set when every qualifying reading of the day had a time
	// the device estimated.
	Estimated bool `json:"estimated,omitempty"`
	// Late is set when the day's first reading arrived after the end of its
	// device period.
	Late bool `json:"late,omitempty"`
}

// TimeEntry is time that staff, a physician or a qualified health care
// professional spent on a patient.
type TimeEntry struct {
	ID        string    `json:"entry_id"`
	PatientID string    `json:"patient_id"`
	StaffID   string    `json:"staff_id"`
	Role      string    `json:"role,omitempty"`
	Program   string    `json:"program"`
	StartedAt time.Time `json:"started_at"`
	Minutes   int       `json:"minutes"`
	// Interactive marks a real-time interactive communication (live audio
	// or video) with the patient or caregiver.
	Interactive bool `json:"interactive"`
}

// End returns when the entry's time ended.
func (e TimeEntry) End() time.Time { return e.StartedAt.Add(time.Duration(e.Minutes) * time.Minute) }

// Claim is a device-supply or other code billed by another practitioner,
// as learned from payer data.
type Claim struct {
	Provider    string `json:"provider"`
	Code        string `json:"code"`
	ServiceDate Date   `json:"service_date"`
}

// Inputs is everything one patient's decisions depend on.
type Inputs struct {
	PatientID string
	// Location is the patient's time zone; days and months are its
	// calendar.
	Location *time.Location
	// EpisodeStart is the enrollment date, when known; otherwise the
	// episode starts on the first day with data.
	EpisodeStart    Date
	HasEpisodeStart bool
	// FirstReading is when the first qualifying reading to arrive was
	// measured, in that reading's own zone. Without an enrollment date,
	// its local date starts the episode, and a reading that arrives later
	// but was measured earlier never moves it: that would slide periods
	// that staff may have billed.
	FirstReading    time.Time
	HasFirstReading bool
	// Days are the distinct dates with qualifying readings, in any order.
	Days    []DayRecord
	Entries []TimeEntry
	Claims  []Claim
}

// Config holds the practice's and payer's choices where CMS leaves room.
type Config struct {
	// MaxUnits99458 caps 99458 units per month. Defaults to 3, the
	// Medicare limit since July 2023; some clearinghouses still apply 2.
	MaxUnits99458 int
	// Prefer99091 bills 99091 rather than the management code when both
	// qualify. Defaults to false.
	Prefer99091 bool
}

func (c Config) withDefaults() Config {
	if c.MaxUnits99458 == 0 {
		c.MaxUnits99458 = 3
	}
	return c
}
