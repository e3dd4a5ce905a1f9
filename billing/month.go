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
	rpm, other := map[string][]span{}, map[string][]span{}
	for _, e := range in.Entries {
		s, ok := span{e.StartedAt, e.End()}.clip(lo, hi)
		if !ok {
			continue
		}
		if e.Program == ProgramRPM {
			rpm[e.StaffID] = append(rpm[e.StaffID], s)
		} else {
			other[e.StaffID] = append(other[e.StaffID], s)
		}
	}
	// A staff member's minute counts once: overlapping RPM entries count
	// their union, and time the same person logged for another program
	// does not count for RPM.
	var total time.Duration
	for staff, spans := range rpm {
		kept := length(subtract(union(spans), union(other[staff])))
		if kept < length(spans) {
			f.Flags = appendFlag(f.Flags, FlagMinutesDoubleCounted)
		}
		total += kept
		f.MinutesByStaff[staff] = int(kept / time.Minute)
	}
	for _, e := range in.Entries {
		// A live call counts for the month it starts in, even when its
		// minutes run on past midnight into the next month, and only
		// when some of its minutes count for RPM.
		start := DateOf(e.StartedAt, in.Location)
		if e.Program != ProgramRPM || !e.Interactive || !m.Contains(start) {
			continue
		}
		s, ok := span{e.StartedAt, e.End()}.clip(lo, hi)
		if ok && length(subtract([]span{s}, union(other[e.StaffID]))) > 0 {
			f.Interactive = true
			f.InteractiveDates = appendDate(f.InteractiveDates, start)
		}
	}
	f.Minutes = int(total / time.Minute)
	sort.Slice(f.InteractiveDates, func(i, j int) bool { return f.InteractiveDates[i] < f.InteractiveDates[j] })
	decideManagement(&f, cfg)
	return f
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
// minutes in the period. It is not billed with a management code in any
// month the period overlaps; the practice's preference picks which.
func apply99091(rep *Report, in Inputs, cfg Config) {
	managedThisMonth := len(rep.Month.Codes) > 0
	for i := range rep.Periods {
		p := &rep.Periods[i]
		if p.Minutes99091 < minutes99091 {
			continue
		}
		if !managedThisMonth && !managedOtherMonths(p, rep.Month.Month, in, cfg) {
			p.Code99091 = true
			continue
		}
		p.Flags = appendFlag(p.Flags, Flag99091WithManagement)
		if managedThisMonth {
			rep.Month.Flags = appendFlag(rep.Month.Flags, Flag99091WithManagement)
		}
		if cfg.Prefer99091 {
			p.Code99091 = true
			rep.Month.Codes = []string{}
			rep.Month.Units99458 = 0
		}
	}
}

// managedOtherMonths reports whether a month that period p overlaps,
// other than m, bills a management code.
func managedOtherMonths(p *DevicePeriod, m Month, in Inputs, cfg Config) bool {
	for month := p.Start.Month(); month.First() <= p.End; month = month.Next() {
		if month != m && len(monthFigures(in, month, cfg).Codes) > 0 {
			return true
		}
	}
	return false
}
