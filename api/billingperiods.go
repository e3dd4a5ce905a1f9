package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
)

// The engine computes snapshots without a clock, so that a replay
// produces the same snapshot, and never marks a period closed. The review
// decides at read time, with the server clock, whether each claim line's
// period has ended.

// latestZone is the zone in which a date ends last (UTC-12). A report
// whose time zone cannot be loaded is dated in it, so its periods count
// as open until their end date has passed everywhere.
var latestZone = time.FixedZone("UTC-12", -12*60*60)

// periodClock dates claim lines against one reading of the server clock,
// in the time zone of each report.
type periodClock struct {
	now time.Time
}

// periodClock returns a periodClock at the server's current time. A
// handler takes one per response, so every row in it is dated alike.
func (s *Server) periodClock() periodClock {
	return periodClock{now: s.now()}
}

// today returns the patient's local date in the IANA zone timezone, or
// at UTC-12 when that zone cannot be loaded.
func (c periodClock) today(timezone string) billing.Date {
	loc, err := vytalwatch.LoadLocation(timezone)
	if err != nil || timezone == "" {
		loc = latestZone
	}
	return billing.DateOf(c.now, loc)
}

// lineOpen reports whether a claim line's period has not ended on today:
// its end date is today or later. A management line's period is its
// calendar month.
func lineOpen(line billing.ClaimLine, today billing.Date) bool {
	return line.PeriodEnd >= today
}

// reviewLine is a claim line with whether its period is still open.
type reviewLine struct {
	billing.ClaimLine
	Open bool `json:"open"`
}

// reviewLines returns the lines with their open state on today.
func reviewLines(lines []billing.ClaimLine, today billing.Date) []reviewLine {
	out := make([]reviewLine, len(lines))
	for i, line := range lines {
		out[i] = reviewLine{ClaimLine: line, Open: lineOpen(line, today)}
	}
	return out
}

// billingRow is a billing month as the review API returns it: the stored
// row, with the newest and the approved lines marked open or not, and
// the reports' periods marked closed or not, as of the server clock.
type billingRow struct {
	store.BillingMonth
	Lines []reviewLine `json:"lines"`
	// OpenLines counts the newest lines whose period has not ended.
	OpenLines int                 `json:"open_lines"`
	Approval  *billingApprovalRow `json:"approval,omitempty"`
}

// billingApprovalRow is an approval with its lines marked open or not.
type billingApprovalRow struct {
	store.BillingApproval
	Lines []reviewLine `json:"lines"`
}

// row returns b with its lines and report periods dated on the clock.
// It sets Closed on the reports' periods, which the snapshots leave
// false, so the reports agree with the lines.
func (c periodClock) row(b store.BillingMonth) billingRow {
	today := c.today(b.Timezone)
	out := billingRow{BillingMonth: b, Lines: reviewLines(b.Lines, today)}
	for _, line := range out.Lines {
		if line.Open {
			out.OpenLines++
		}
	}
	closePeriods(b.Report, today)
	if a := b.Approval; a != nil {
		approvedToday := c.today(a.Timezone)
		out.Approval = &billingApprovalRow{BillingApproval: *a, Lines: reviewLines(a.Lines, approvedToday)}
		closePeriods(a.Report, approvedToday)
	}
	return out
}

// rows returns each of rows dated on the clock.
func (c periodClock) rows(rows []store.BillingMonth) []billingRow {
	out := make([]billingRow, len(rows))
	for i, b := range rows {
		out[i] = c.row(b)
	}
	return out
}

// closePeriods marks each of the report's periods closed whose last day
// is before today.
func closePeriods(rep *billing.Report, today billing.Date) {
	if rep == nil {
		return
	}
	for i := range rep.Periods {
		rep.Periods[i].Closed = rep.Periods[i].End < today
	}
}

// openLinesConflict returns the problem of approving a row whose newest
// lines include open ones, without allow_open. It returns nil when no
// line is open.
func openLinesConflict(row billingRow) error {
	if row.OpenLines == 0 {
		return nil
	}
	var ends []string
	var last billing.Date
	sameEnd := true
	for _, line := range row.Lines {
		if !line.Open {
			continue
		}
		ends = append(ends, fmt.Sprintf("%s ends on %s", line.Code, line.PeriodEnd))
		sameEnd = sameEnd && (last == 0 || last == line.PeriodEnd)
		last = max(last, line.PeriodEnd)
	}
	period := "the period ends"
	if !sameEnd {
		period = "the last period ends"
	}
	return problemf(probConflict, "the billing month %s of patient %s has claim lines whose period has not ended: %s (dates in %s). "+
		"Approve it after %s on %s, or send \"allow_open\": true to approve it now",
		row.Month, row.PatientID, strings.Join(ends, ", "), zoneName(row.Timezone), period, last)
}

// zoneName returns the name of the zone that periodClock.today uses for
// timezone, and why when it falls back to UTC-12.
func zoneName(timezone string) string {
	if _, err := vytalwatch.LoadLocation(timezone); err != nil || timezone == "" {
		return fmt.Sprintf("%s, because the report's time zone %q is unknown", latestZone, timezone)
	}
	return timezone
}
