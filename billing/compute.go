package billing

import (
	"sort"
	"time"
)

// PeriodDays is the length of a device period.
const PeriodDays = 30

// Thresholds of the codes.
const (
	minDays99445   = 2
	minDays99454   = 16
	minMinutes9947 = 10 // 99470
	minutes99457   = 20
	unit99458      = 20
	minutes99091   = 30
)

// DevicePeriod is one 30-day device period and its decision.
type DevicePeriod struct {
	Index            int    `json:"index"`
	Start            Date   `json:"start"`
	End              Date   `json:"end"`
	DaysWithReadings int    `json:"days_with_readings"`
	Dates            []Date `json:"dates"`
	// Code is 99454, 99445 or empty.
	Code string `json:"code"`
	// Setup99453 is set on the episode's first period that qualifies for a
	// device code.
	Setup99453 bool `json:"setup_99453"`
	// Closed is set once the period's last day has passed.
	Closed bool `json:"closed"`
	// Minutes99091 and Code99091 are the physician interpretation minutes
	// of the period and whether 99091 is billed for it.
	Minutes99091 int      `json:"minutes_99091"`
	Code99091    bool     `json:"code_99091"`
	Flags        []string `json:"flags"`
}

// MonthFigures is one calendar month's treatment management.
type MonthFigures struct {
	Month            Month          `json:"month"`
	Minutes          int            `json:"minutes"`
	Interactive      bool           `json:"interactive"`
	InteractiveDates []Date         `json:"interactive_dates"`
	MinutesByStaff   map[string]int `json:"minutes_by_staff"`
	// Codes lists the management codes, 99458 once per unit, such as
	// ["99457", "99458", "99458"].
	Codes      []string `json:"codes"`
	Units99458 int      `json:"units_99458"`
	Flags      []string `json:"flags"`
}

// Report is a patient's decisions for a month: the device periods that
// overlap it and its management figures. It keeps the inputs that led to
// each decision.
type Report struct {
	PatientID    string         `json:"patient_id"`
	Timezone     string         `json:"timezone"`
	EpisodeStart *Date          `json:"episode_start"`
	Periods      []DevicePeriod `json:"periods"`
	Month        MonthFigures   `json:"month"`
}

// Compute decides a patient's codes for month m as of today (the
// patient's local date, which closes periods).
func Compute(in Inputs, m Month, cfg Config, today Date) Report {
	cfg = cfg.withDefaults()
	firstDay, hasFirstDay := in.firstReadingDay()
	if in.Location == nil {
		in.Location = time.UTC
	}
	rep := Report{PatientID: in.PatientID, Timezone: in.Location.String(), Periods: []DevicePeriod{}}
	days := sortedDays(in.Days)
	start, ok := episodeStart(in, days, firstDay, hasFirstDay)
	if ok {
		rep.EpisodeStart = &start
		rep.Periods = periodsFor(start, days, in, m, today)
	}
	rep.Month = monthFigures(in, m, cfg)
	apply99091(&rep, in, cfg)
	flagManagementWithoutData(&rep, days, start, ok)
	return rep
}

// flagManagementWithoutData flags a month that bills management codes
// for a patient who sent no data in it, or before the episode started.
// The codes stay: management is judged on minutes alone, and the flags
// are for the reviewer.
func flagManagementWithoutData(rep *Report, days []DayRecord, start Date, hasStart bool) {
	m := rep.Month.Month
	if len(rep.Month.Codes) == 0 {
		return
	}
	if hasStart && m.Last() < start {
		rep.Month.Flags = appendFlag(rep.Month.Flags, FlagMinutesBeforeEpisode)
	}
	for _, d := range days {
		if m.Contains(d.Date) {
			return
		}
	}
	rep.Month.Flags = appendFlag(rep.Month.Flags, FlagManagementWithoutData)
}

// sortedDays returns the days in date order, one record per date: a
// date listed twice counts once, estimated only if both records are, late
// if either is.
func sortedDays(days []DayRecord) []DayRecord {
	in := append([]DayRecord(nil), days...)
	sort.Slice(in, func(i, j int) bool { return in[i].Date < in[j].Date })
	out := in[:0]
	for _, d := range in {
		if n := len(out); n > 0 && out[n-1].Date == d.Date {
			out[n-1].Estimated = out[n-1].Estimated && d.Estimated
			out[n-1].Late = out[n-1].Late || d.Late
			continue
		}
		out = append(out, d)
	}
	return out
}

// episodeStart anchors device periods at the enrollment date, else at the
// local date of the first qualifying reading to arrive, else at the
// earliest day with data. Periods are never slid or stretched to reach 16
// days.
func episodeStart(in Inputs, days []DayRecord, firstDay Date, hasFirstDay bool) (Date, bool) {
	switch {
	case in.HasEpisodeStart:
		return in.EpisodeStart, true
	case hasFirstDay:
		return firstDay, true
	case len(days) > 0:
		return days[0].Date, true
	}
	return 0, false
}

// firstReadingDay is the local date of FirstReading: in the patient's
// zone, else in the reading's own, as days with data are counted.
func (in Inputs) firstReadingDay() (Date, bool) {
	if !in.HasFirstReading {
		return 0, false
	}
	zone := in.Location
	if zone == nil {
		zone = in.FirstReading.Location()
	}
	return DateOf(in.FirstReading, zone), true
}

// PeriodOf returns the index and bounds of the device period that holds d,
// for an episode starting at start; the index is negative before it.
func PeriodOf(start, d Date) (index int, first, last Date) {
	offset := int(d - start)
	index = offset / PeriodDays
	if offset < 0 {
		index = (offset - PeriodDays + 1) / PeriodDays
	}
	first = start + Date(index*PeriodDays)
	return index, first, first + PeriodDays - 1
}

func periodsFor(start Date, days []DayRecord, in Inputs, m Month, today Date) []DevicePeriod {
	firstIdx, _, _ := PeriodOf(start, m.First())
	lastIdx, _, _ := PeriodOf(start, m.Last())
	firstIdx = max(firstIdx, 0)
	// 99453 goes with the first period of the episode that qualifies for a
	// device code, wherever it lies.
	setupIdx := -1
	for idx := 0; idx <= lastIdx; idx++ {
		if p := devicePeriod(start, idx, days, in, today); p.Code != "" || countDays(p) >= minDays99445 {
			setupIdx = idx
			break
		}
	}
	out := []DevicePeriod{}
	for idx := firstIdx; idx <= lastIdx; idx++ {
		p := devicePeriod(start, idx, days, in, today)
		p.Setup99453 = idx == setupIdx && p.Code != ""
		if idx == 0 && len(days) > 0 && days[0].Date < start {
			p.Flags = appendFlag(p.Flags, FlagBeforeEpisode)
		}
		out = append(out, p)
	}
	return out
}

func countDays(p DevicePeriod) int { return p.DaysWithReadings }

func devicePeriod(start Date, idx int, days []DayRecord, in Inputs, today Date) DevicePeriod {
	first := start + Date(idx*PeriodDays)
	p := DevicePeriod{Index: idx, Start: first, End: first + PeriodDays - 1, Dates: []Date{}, Flags: []string{}}
	p.Closed = today > p.End
	for _, d := range days {
		if d.Date < p.Start || d.Date > p.End {
			continue
		}
		p.Dates = append(p.Dates, d.Date)
		if d.Estimated {
			p.Flags = appendFlag(p.Flags, FlagEstimatedTimestamps)
		}
		if d.Late {
			p.Flags = appendFlag(p.Flags, FlagLateReading)
		}
	}
	p.DaysWithReadings = len(p.Dates)
	switch {
	case p.DaysWithReadings >= minDays99454:
		p.Code = Code99454
	case p.DaysWithReadings >= minDays99445:
		p.Code = Code99445
	}
	for _, c := range in.Claims {
		if (c.Code == Code99454 || c.Code == Code99445) && c.ServiceDate >= p.Start && c.ServiceDate <= p.End {
			p.Flags = appendFlag(p.Flags, FlagOtherPractitioner)
			p.Code = ""
		}
	}
	p.Minutes99091 = minutesIn(in.Entries, Program99091, in.Location, p.Start, p.End+1)
	return p
}

func appendFlag(flags []string, f string) []string {
	for _, have := range flags {
		if have == f {
			return flags
		}
	}
	return append(flags, f)
}

// minutesIn sums a program's minutes that fall in [from, until) in loc,
// splitting entries that cross the bounds by the minute and rounding the
// total down: CPT has no midpoint rounding.
func minutesIn(entries []TimeEntry, program string, loc *time.Location, from, until Date) int {
	lo, hi := localMidnight(from, loc), localMidnight(until, loc)
	var total time.Duration
	for _, e := range entries {
		if e.Program != program {
			continue
		}
		total += overlap(e.StartedAt, e.End(), lo, hi)
	}
	return int(total / time.Minute)
}

func localMidnight(d Date, loc *time.Location) time.Time {
	y, m, day := d.Time().Date()
	return time.Date(y, m, day, 0, 0, 0, 0, loc)
}

func overlap(aStart, aEnd, bStart, bEnd time.Time) time.Duration {
	start, end := aStart, aEnd
	if bStart.After(start) {
		start = bStart
	}
	if bEnd.Before(end) {
		end = bEnd
	}
	if !end.After(start) {
		return 0
	}
	return end.Sub(start)
}
