package billing_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/billing"
)

// claimInputs returns an episode from 14 February in New York. Its first
// period, which ends on 15 March, has 16 days with readings, and the next
// one, which ends in April, has 3. March has rpmMinutes of RPM time with a
// live call.
func claimInputs(t *testing.T, rpmMinutes int) billing.Inputs {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	in := billing.Inputs{PatientID: "p1", Location: loc, EpisodeStart: date("2026-02-14"), HasEpisodeStart: true}
	for d := date("2026-02-20"); d <= date("2026-03-07"); d++ {
		in.Days = append(in.Days, billing.DayRecord{Date: d})
	}
	for _, s := range []string{"2026-03-20", "2026-03-21", "2026-03-22"} {
		in.Days = append(in.Days, billing.DayRecord{Date: date(s)})
	}
	in.Entries = []billing.TimeEntry{{ID: "e1", PatientID: "p1", StaffID: "nurse", Program: billing.ProgramRPM,
		StartedAt: time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC), Minutes: rpmMinutes, Interactive: true}}
	return in
}

func formatLines(lines []billing.ClaimLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%s x%d %s..%s days=%d minutes=%d", l.Code, l.Units, l.PeriodStart, l.PeriodEnd, l.Days, l.Minutes)
	}
	return out
}

func checkLines(t *testing.T, month string, got []billing.ClaimLine, want []string) {
	t.Helper()
	lines := formatLines(got)
	if len(lines) != len(want) {
		t.Fatalf("%s: %d lines %q, want %d %q", month, len(lines), lines, len(want), want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("%s line %d = %q, want %q", month, i, lines[i], want[i])
		}
	}
}

func TestClaimLinesBillPeriodWhereItEnds(t *testing.T) {
	in := claimInputs(t, 45)
	cfg := billing.Config{}
	march := billing.Compute(in, billing.Month{Year: 2026, Month: time.March}, cfg, date("2026-05-01"))
	checkLines(t, "March", billing.ClaimLines(march), []string{
		"99454 x1 2026-02-14..2026-03-15 days=16 minutes=0",
		"99453 x1 2026-02-14..2026-03-15 days=16 minutes=0",
		"99457 x1 2026-03-01..2026-03-31 days=0 minutes=45",
		"99458 x1 2026-03-01..2026-03-31 days=0 minutes=45",
	})
	// February's report shows the period too, but March bills it.
	feb := billing.Compute(in, billing.Month{Year: 2026, Month: time.February}, cfg, date("2026-05-01"))
	if len(feb.Periods) != 1 {
		t.Errorf("February report has %d periods, want 1", len(feb.Periods))
	}
	checkLines(t, "February", billing.ClaimLines(feb), nil)
	april := billing.Compute(in, billing.Month{Year: 2026, Month: time.April}, cfg, date("2026-05-01"))
	checkLines(t, "April", billing.ClaimLines(april), []string{"99445 x1 2026-03-16..2026-04-14 days=3 minutes=0"})
}

func TestClaimLines99458UnitsOnOneLine(t *testing.T) {
	rep := billing.Compute(claimInputs(t, 65), billing.Month{Year: 2026, Month: time.March}, billing.Config{}, date("2026-05-01"))
	lines := billing.ClaimLines(rep)
	last := lines[len(lines)-1]
	if last.Code != billing.Code99458 || last.Units != 2 || last.Minutes != 65 {
		t.Errorf("last line = %+v, want 99458 with 2 units for 65 minutes", last)
	}
}

func TestSameClaimsIgnoresOnlyFlags(t *testing.T) {
	rep := billing.Compute(claimInputs(t, 45), billing.Month{Year: 2026, Month: time.March}, billing.Config{}, date("2026-05-01"))
	base := billing.ClaimLines(rep)
	if !billing.SameClaims(base, billing.ClaimLines(rep)) {
		t.Error("lines of one report differ from themselves")
	}
	flagged := billing.ClaimLines(rep)
	flagged[0].Flags = append(flagged[0].Flags, billing.FlagEstimatedTimestamps)
	if !billing.SameClaims(base, flagged) {
		t.Error("a flag alone made the claims differ")
	}
	changes := map[string]func(l *billing.ClaimLine){
		"days":    func(l *billing.ClaimLine) { l.Days++ },
		"minutes": func(l *billing.ClaimLine) { l.Minutes++ },
		"units":   func(l *billing.ClaimLine) { l.Units++ },
		"code":    func(l *billing.ClaimLine) { l.Code = billing.Code99445 },
		"period":  func(l *billing.ClaimLine) { l.PeriodEnd++ },
	}
	for name, change := range changes {
		changed := billing.ClaimLines(rep)
		change(&changed[0])
		if billing.SameClaims(base, changed) {
			t.Errorf("a change of %s left the claims the same", name)
		}
	}
	if billing.SameClaims(base, base[:len(base)-1]) {
		t.Error("a missing line left the claims the same")
	}
}
