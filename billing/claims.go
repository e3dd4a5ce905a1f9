package billing

// ClaimLine is one code that a month's report makes billable, with the
// figures that qualify it. Days is set for device-supply codes and 99453,
// and Minutes for management codes and 99091. The other one is zero.
type ClaimLine struct {
	Code        string   `json:"code"`
	Units       int      `json:"units"`
	PeriodStart Date     `json:"period_start"`
	PeriodEnd   Date     `json:"period_end"`
	Days        int      `json:"days_with_readings,omitempty"`
	Minutes     int      `json:"minutes,omitempty"`
	Flags       []string `json:"flags"`
}

// ClaimLines returns the codes a report bills for its month. A device
// period is billed in the month it ends, so a period that spans two months
// appears in one month's lines only, although both reports show it. The
// month's management codes follow the device lines, with the 99458 units
// on one line.
func ClaimLines(rep Report) []ClaimLine {
	m := rep.Month.Month
	lines := []ClaimLine{}
	for _, p := range rep.Periods {
		if !m.Contains(p.End) {
			continue
		}
		if p.Code != "" {
			lines = append(lines, periodLine(p, p.Code, p.DaysWithReadings, 0))
		}
		if p.Setup99453 {
			lines = append(lines, periodLine(p, Code99453, p.DaysWithReadings, 0))
		}
		if p.Code99091 {
			lines = append(lines, periodLine(p, Code99091, 0, p.Minutes99091))
		}
	}
	units := map[string]int{}
	var order []string
	for _, code := range rep.Month.Codes {
		if units[code] == 0 {
			order = append(order, code)
		}
		units[code]++
	}
	for _, code := range order {
		lines = append(lines, ClaimLine{
			Code: code, Units: units[code], PeriodStart: m.First(), PeriodEnd: m.Last(),
			Minutes: rep.Month.Minutes, Flags: copyFlags(rep.Month.Flags),
		})
	}
	return lines
}

func periodLine(p DevicePeriod, code string, days, minutes int) ClaimLine {
	return ClaimLine{Code: code, Units: 1, PeriodStart: p.Start, PeriodEnd: p.End, Days: days, Minutes: minutes, Flags: copyFlags(p.Flags)}
}

func copyFlags(flags []string) []string {
	return append([]string{}, flags...)
}

// SameClaims reports whether two sets of lines bill the same codes with
// the same units, periods and figures. Flags are left out because they
// explain the figures rather than bill anything.
func SameClaims(a, b []ClaimLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Code != y.Code || x.Units != y.Units || x.PeriodStart != y.PeriodStart || x.PeriodEnd != y.PeriodEnd ||
			x.Days != y.Days || x.Minutes != y.Minutes {
			return false
		}
	}
	return true
}
