package billing

import (
	"sort"
	"time"
)

// monthFigures sums the month's RPM minutes and decides its management
// codes. Minutes are summed first and then exactly one base code is
// picked: 99470 for 10 to 19 minutes, or 99457 from 20 minutes with whole
// 99458 units of 20 more, each only with a real-time interactive
// communication in the month. Minutes never carry over between months.
func monthFigures(in Inputs, m Month, cfg Config) MonthFigures {
	f := MonthFigures{Month: m, InteractiveDates: []Date{}, MinutesByStaff: map[string]int{}, Codes: []string{}, Flags: []string{}}
	lo, hi := localMidnight(m.First(), in.Location), localMidnight(m.Last()+1, in.Location)
	var total time.Duration
	perStaff := map[string]time.Duration{}
	for _, e := range in.Entries {
		if e.Program != ProgramRPM {
			continue
		}
		d := overlap(e.StartedAt, e.End(), lo, hi)
		if d <= 0 {
			continue
		}
		if dup := doubleCounted(e, in.Entries, lo, hi); dup > 0 {
			d -= dup
			f.Flags = appendFlag(f.Flags, FlagMinutesDoubleCounted)
		}
		total += d
		perStaff[e.StaffID] += d
		// A live call counts for the month it starts in, even when its
		// minutes run on past midnight into the next month.
		if start := DateOf(e.StartedAt, in.Location); e.Interactive && m.Contains(start) {
			f.Interactive = true
			f.InteractiveDates = appendDate(f.InteractiveDates, start)
		}
	}
	f.Minutes = int(total / time.Minute)
	for staff, d := range perStaff {
		f.MinutesByStaff[staff] = int(d / time.Minute)
	}
	sort.Slice(f.InteractiveDates, func(i, j int) bool { return f.InteractiveDates[i] < f.InteractiveDates[j] })
	decideManagement(&f, cfg)
	return f
}

// doubleCounted returns how much of an RPM entry, within [lo, hi),
// overlaps entries of other programs by the same staff member.
func doubleCounted(e TimeEntry, all []TimeEntry, lo, hi time.Time) time.Duration {
	var d time.Duration
	for _, o := range all {
		if o.ID == e.ID || o.Program == ProgramRPM || o.StaffID != e.StaffID {
			continue
		}
		start, end := o.StartedAt, o.End()
		if start.Before(lo) {
			start = lo
		}
		if end.After(hi) {
			end = hi
		}
		d += overlap(e.StartedAt, e.End(), start, end)
	}
	return min(d, overlap(e.StartedAt, e.End(), lo, hi))
}

func appendDate(dates []Date, d Date) []Date {
	for _, have := range dates {
		if have == d {
			return dates
		}
	}
	return append(dates, d)
}

func decideManagement(f *MonthFigures, cfg Config) {
	if f.Minutes < minMinutes9947 {
		return
	}
	if !f.Interactive {
		f.Flags = appendFlag(f.Flags, FlagNoInteractive)
		return
	}
	if f.Minutes < minutes99457 {
		f.Codes = append(f.Codes, Code99470)
		return
	}
	f.Codes = append(f.Codes, Code99457)
	units := (f.Minutes - minutes99457) / unit99458
	if units > cfg.MaxUnits99458 {
		units = cfg.MaxUnits99458
		f.Flags = appendFlag(f.Flags, Flag99458Capped)
	}
	f.Units99458 = units
	for i := 0; i < units; i++ {
		f.Codes = append(f.Codes, Code99458)
	}
}

// apply99091 decides 99091 per device period: 30 or more physician or QHP
// minutes in the period. It is not billed with a management code in a
// month the period overlaps; the practice's preference picks which.
func apply99091(rep *Report, cfg Config) {
	managed := len(rep.Month.Codes) > 0
	for i := range rep.Periods {
		p := &rep.Periods[i]
		if p.Minutes99091 < minutes99091 {
			continue
		}
		if !managed {
			p.Code99091 = true
			continue
		}
		p.Flags = appendFlag(p.Flags, Flag99091WithManagement)
		rep.Month.Flags = appendFlag(rep.Month.Flags, Flag99091WithManagement)
		if cfg.Prefer99091 {
			p.Code99091 = true
			rep.Month.Codes = []string{}
			rep.Month.Units99458 = 0
		}
	}
}
