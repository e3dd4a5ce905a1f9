package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

var march = billing.Month{Year: 2026, Month: time.March}

// snapshotValue returns the JSON of a March snapshot for a patient with
// days days with readings from 1 March (the episode start), computed at
// computedAt.
func snapshotValue(t *testing.T, patient string, days int, computedAt time.Time) []byte {
	t.Helper()
	in := billing.Inputs{PatientID: patient, Location: time.UTC, EpisodeStart: march.First(), HasEpisodeStart: true}
	for i := range days {
		in.Days = append(in.Days, billing.DayRecord{Date: march.First() + billing.Date(i)})
	}
	rep := billing.Compute(in, march, billing.Config{}, 0)
	snap := billing.Snapshot{EventID: fmt.Sprintf("snap-%s-%d", patient, days), Kind: billing.SnapshotKind, PatientID: patient,
		Month: march, Report: rep, ComputedAt: computedAt}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func snapshotRecord(t *testing.T, patient string, days int, computedAt time.Time) engine.Record {
	return engine.Record{Topic: engine.DefaultTopics().BillingEvents, Key: []byte(patient), Value: snapshotValue(t, patient, days, computedAt)}
}

// applySnapshot stores one snapshot as the sink would, read at offset.
func applySnapshot(t *testing.T, db *postgres.DB, patient string, days int, computedAt time.Time, offset int64) {
	t.Helper()
	msg := engine.Message{Topic: engine.DefaultTopics().BillingEvents, Key: []byte(patient), Offset: offset,
		Value: snapshotValue(t, patient, days, computedAt)}
	if err := db.ApplyBillingEvents(context.Background(), []engine.Message{msg}); err != nil {
		t.Fatal(err)
	}
}

func getMonth(t *testing.T, db *postgres.DB, patient string) store.BillingMonth {
	t.Helper()
	b, err := db.GetBillingMonth(context.Background(), march, patient)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lineCodes returns the lines as "code xunits days=N" strings.
func lineCodes(lines []billing.ClaimLine) string {
	var parts []string
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%s x%d days=%d", l.Code, l.Units, l.Days))
	}
	return strings.Join(parts, ", ")
}

func TestBillingSinkStoresReplayOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	b := startBroker(t)
	ctx := context.Background()
	p := kafka.NewProducer(b.Brokers())
	defer p.Close()

	topic := engine.DefaultTopics().BillingEvents
	ruleEvent := vytalwatch.AlertEvent{EventID: "b1", Kind: vytalwatch.AlertFired, RuleID: "billing-99454", RuleVersion: 1,
		Severity: "info", PatientID: "p1", At: t0, EmittedAt: t0, Trigger: vytalwatch.TriggerReading}
	ruleData, err := json.Marshal(ruleEvent)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshotRecord(t, "p1", 16, t0)
	records := []engine.Record{
		snap, snap,
		{Topic: topic, Key: []byte("p1"), Value: ruleData}, {Topic: topic, Key: []byte("p1"), Value: ruleData},
		{Topic: topic, Key: []byte("p1"), Value: []byte(`{"kind": "payment", "event_id": "x"}`)},
		{Topic: topic, Key: []byte("p1"), Value: []byte(`not json`)},
		{Topic: topic, Key: []byte("p1"), Value: []byte(`{"kind": "eligibility", "patient_id": "p1"}`)},
		snapshotRecord(t, "p2", 3, t0),
	}
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	runSink(t, db, b, db.BillingSink(topic))

	waitFor(t, "both months stored", func() bool {
		_, err1 := db.GetBillingMonth(ctx, march, "p1")
		_, err2 := db.GetBillingMonth(ctx, march, "p2")
		return err1 == nil && err2 == nil
	})
	p1 := getMonth(t, db, "p1")
	if p1.EventID != "snap-p1-16" || p1.Status != store.BillingPending || !p1.ComputedAt.Equal(t0) {
		t.Errorf("p1 = %s %s %v, want snap-p1-16 pending computed at %v", p1.EventID, p1.Status, p1.ComputedAt, t0)
	}
	if got := lineCodes(p1.Lines); got != "99454 x1 days=16, 99453 x1 days=16" {
		t.Errorf("p1 lines = %s, want 99454 and 99453 for 16 days", got)
	}
	if p1.Report == nil || p1.Report.Periods[0].DaysWithReadings != 16 || len(p1.Report.Periods[0].Dates) != 16 {
		t.Errorf("p1 report = %+v, want the whole report with 16 dates", p1.Report)
	}
	if p2 := getMonth(t, db, "p2"); lineCodes(p2.Lines) != "99445 x1 days=3, 99453 x1 days=3" {
		t.Errorf("p2 lines = %s, want 99445 and 99453 for 3 days", lineCodes(p2.Lines))
	}

	// Replaying the topic stores nothing new: the rows keep their update
	// time and the rule event is stored once.
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sink to pass the replay", func() bool {
		var stored int
		err := db.Pool().QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0) FROM sink_offsets WHERE sink = 'billing'`).Scan(&stored)
		return err == nil && stored == 2*len(records)
	})
	if again := getMonth(t, db, "p1"); !again.UpdatedAt.Equal(p1.UpdatedAt) || again.EventID != p1.EventID {
		t.Errorf("after a replay p1 = %s updated %v, want %s updated %v", again.EventID, again.UpdatedAt, p1.EventID, p1.UpdatedAt)
	}
	var ruleEvents int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM billing_rule_events WHERE event_id = 'b1'`).Scan(&ruleEvents); err != nil {
		t.Fatal(err)
	}
	if ruleEvents != 1 {
		t.Errorf("stored rule event b1 %d times, want once", ruleEvents)
	}
}

func TestBillingSinkKeepsNewerSnapshot(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	applySnapshot(t, db, "p1", 10, t0.Add(time.Hour), 5)
	// Redelivered from before: computed earlier, read later.
	applySnapshot(t, db, "p1", 8, t0, 9)
	if got := getMonth(t, db, "p1"); got.EventID != "snap-p1-10" || !got.ComputedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after an older snapshot the month holds %s computed at %v, want snap-p1-10", got.EventID, got.ComputedAt)
	}
	// A tie on computed_at goes to the later offset of the partition.
	applySnapshot(t, db, "p1", 12, t0.Add(time.Hour), 7)
	if got := getMonth(t, db, "p1"); got.EventID != "snap-p1-12" {
		t.Errorf("after a tie at a later offset the month holds %s, want snap-p1-12", got.EventID)
	}
	applySnapshot(t, db, "p1", 11, t0.Add(time.Hour), 6)
	if got := getMonth(t, db, "p1"); got.EventID != "snap-p1-12" {
		t.Errorf("after a tie at an earlier offset the month holds %s, want snap-p1-12", got.EventID)
	}

	// In one batch, the newest snapshot wins whatever the order.
	msgs := []engine.Message{
		{Offset: 20, Value: snapshotValue(t, "p2", 20, t0.Add(2*time.Hour))},
		{Offset: 21, Value: snapshotValue(t, "p2", 19, t0.Add(time.Hour))},
	}
	if err := db.ApplyBillingEvents(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if got := getMonth(t, db, "p2"); got.EventID != "snap-p2-20" {
		t.Errorf("after one batch p2 holds %s, want snap-p2-20", got.EventID)
	}
}

func TestBillingCorrectionKeepsApprovedLines(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	clerk := newUser(t, db, "clerk@example.org", "billing")
	applySnapshot(t, db, "p1", 15, t0, 1)
	approved, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-15")
	if err != nil {
		t.Fatal(err)
	}
	if approved.Status != store.BillingApproved || approved.Approval == nil || approved.Approval.ByEmail != "clerk@example.org" {
		t.Fatalf("approved = %+v, want approved by the clerk", approved)
	}
	if _, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second approval: err %v, want ErrConflict", err)
	}

	// A late reading makes it 16 days: 99454 instead of 99445.
	applySnapshot(t, db, "p1", 16, t0.Add(time.Hour), 2)
	got := getMonth(t, db, "p1")
	if got.Status != store.BillingCorrection {
		t.Errorf("status = %s, want correction", got.Status)
	}
	if lineCodes(got.Lines) != "99454 x1 days=16, 99453 x1 days=16" {
		t.Errorf("new lines = %s, want 99454 for 16 days", lineCodes(got.Lines))
	}
	if got.Approval == nil || lineCodes(got.Approval.Lines) != "99445 x1 days=15, 99453 x1 days=15" {
		t.Fatalf("approval = %+v, want the approved 99445 for 15 days kept", got.Approval)
	}
	if got.Approval.EventID != "snap-p1-15" || got.Approval.Report == nil || got.Approval.Report.Periods[0].DaysWithReadings != 15 {
		t.Errorf("approved snapshot = %s with report %+v, want snap-p1-15 with 15 days", got.Approval.EventID, got.Approval.Report)
	}
	if !got.Approval.At.Equal(approved.Approval.At) {
		t.Errorf("approved_at moved from %v to %v", approved.Approval.At, got.Approval.At)
	}
	// The export keeps the correction with its approved lines.
	exported, err := db.ApprovedBillingMonths(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	if len(exported) != 1 || exported[0].Status != store.BillingCorrection {
		t.Fatalf("exported = %+v, want the one correction", exported)
	}
	if lineCodes(exported[0].Approval.Lines) != "99445 x1 days=15, 99453 x1 days=15" {
		t.Errorf("exported approved lines = %s, want 99445 for 15 days", lineCodes(exported[0].Approval.Lines))
	}
	if _, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-15"); !errors.Is(err, store.ErrBillingChanged) {
		t.Errorf("approving the superseded snapshot: err %v, want ErrBillingChanged", err)
	}

	// Re-approval approves the new lines, and both reviews are kept.
	again, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-16")
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != store.BillingApproved || lineCodes(again.Approval.Lines) != "99454 x1 days=16, 99453 x1 days=16" {
		t.Errorf("re-approved = %s %s, want approved 99454", again.Status, lineCodes(again.Approval.Lines))
	}
	reviews, err := db.BillingReviews(ctx, march, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 2 || reviews[0].EventID != "snap-p1-15" || reviews[1].EventID != "snap-p1-16" || reviews[1].Action != "approve" {
		t.Errorf("reviews = %+v, want approvals of snap-p1-15 then snap-p1-16", reviews)
	}

	// A correction whose lines return to the approved ones is approved
	// again; a snapshot that bills the same stays approved.
	applySnapshot(t, db, "p1", 17, t0.Add(2*time.Hour), 3)
	if got := getMonth(t, db, "p1"); got.Status != store.BillingCorrection {
		t.Errorf("after 17 days status = %s, want correction", got.Status)
	}
	applySnapshot(t, db, "p1", 16, t0.Add(3*time.Hour), 4)
	if got := getMonth(t, db, "p1"); got.Status != store.BillingApproved {
		t.Errorf("back to 16 days status = %s, want approved", got.Status)
	}
}

func TestBillingRejectionReopensOnChange(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	clerk := newUser(t, db, "clerk@example.org", "billing")
	applySnapshot(t, db, "p1", 16, t0, 1)
	if _, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, ""); err != nil {
		t.Fatal(err)
	}
	rejected, err := db.RejectBillingMonth(ctx, march, "p1", clerk.ID, "", "no consent on file", true)
	if err != nil {
		t.Fatal(err)
	}
	if rejected.Status != store.BillingRejected || rejected.Approval != nil || rejected.Rejection == nil || rejected.Rejection.Reason != "no consent on file" {
		t.Errorf("rejected = %+v, want rejected with the reason and no approval", rejected)
	}
	if _, err := db.RejectBillingMonth(ctx, march, "p1", clerk.ID, "", "again", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second rejection: err %v, want ErrConflict", err)
	}

	// A snapshot with the same lines keeps the rejection; other lines
	// reopen the month.
	sameLines := snapshotValue(t, "p1", 16, t0.Add(time.Hour))
	sameLines = []byte(strings.Replace(string(sameLines), "snap-p1-16", "snap-p1-16b", 1))
	if err := db.ApplyBillingEvents(ctx, []engine.Message{{Offset: 2, Value: sameLines}}); err != nil {
		t.Fatal(err)
	}
	if got := getMonth(t, db, "p1"); got.Status != store.BillingRejected || got.EventID != "snap-p1-16b" {
		t.Errorf("same lines: %s %s, want rejected snap-p1-16b", got.Status, got.EventID)
	}
	applySnapshot(t, db, "p1", 18, t0.Add(2*time.Hour), 3)
	got := getMonth(t, db, "p1")
	if got.Status != store.BillingPending || got.Rejection != nil {
		t.Errorf("other lines: %s rejection %+v, want pending without a rejection", got.Status, got.Rejection)
	}
}

func TestBillingListPagesByPatient(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	for i, p := range []string{"p3", "p1", "p2"} {
		applySnapshot(t, db, p, 16, t0, int64(i))
	}
	page, more, err := db.ListBillingMonths(ctx, store.BillingFilter{Month: march, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].PatientID != "p1" || page[1].PatientID != "p2" || !more {
		t.Fatalf("first page = %v more %v, want p1, p2 and more", page, more)
	}
	if page[0].Report != nil {
		t.Error("listing carries the report, want it left out")
	}
	page, more, err = db.ListBillingMonths(ctx, store.BillingFilter{Month: march, Limit: 2, AfterPatient: "p2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].PatientID != "p3" || more {
		t.Errorf("second page = %v more %v, want p3 and no more", page, more)
	}
	april := billing.Month{Year: 2026, Month: time.April}
	if page, _, _ := db.ListBillingMonths(ctx, store.BillingFilter{Month: april, Limit: 10}); len(page) != 0 {
		t.Errorf("April lists %d rows, want none", len(page))
	}
}

func TestBillingSnapshotFlagsOfMonth(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	in := billing.Inputs{PatientID: "p1", Location: time.UTC, EpisodeStart: march.First(), HasEpisodeStart: true}
	for i := range 16 {
		in.Days = append(in.Days, billing.DayRecord{Date: march.First() + billing.Date(i), Estimated: i == 3})
	}
	// 31 March opens the second device period, which ends in April, so
	// its late flag belongs to April's review.
	in.Days = append(in.Days, billing.DayRecord{Date: march.Last(), Late: true})
	// 12 minutes without a live call raise no_interactive_communication.
	in.Entries = []billing.TimeEntry{{ID: "e1", PatientID: "p1", StaffID: "nurse", Program: billing.ProgramRPM,
		StartedAt: time.Date(2026, 3, 5, 15, 0, 0, 0, time.UTC), Minutes: 12}}
	rep := billing.Compute(in, march, billing.Config{}, 0)
	data, err := json.Marshal(billing.Snapshot{EventID: "snap-flags", Kind: billing.SnapshotKind, PatientID: "p1", Month: march,
		Report: rep, ComputedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ApplyBillingEvents(context.Background(), []engine.Message{{Value: data}}); err != nil {
		t.Fatal(err)
	}

	got := getMonth(t, db, "p1")
	if want := "estimated_timestamps,no_interactive_communication"; strings.Join(got.Flags, ",") != want {
		t.Errorf("flags = %v, want %s", got.Flags, want)
	}
	if lineCodes(got.Lines) != "99454 x1 days=16, 99453 x1 days=16" {
		t.Errorf("lines = %s, want 99454 and 99453 for 16 days", lineCodes(got.Lines))
	}
	if len(got.Lines) > 0 && strings.Join(got.Lines[0].Flags, ",") != "estimated_timestamps" {
		t.Errorf("99454 line flags = %v, want estimated_timestamps", got.Lines[0].Flags)
	}
}

func TestBillingRejectKeepsApprovalUnlessDropped(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	clerk := newUser(t, db, "clerk@example.org", "billing")
	applySnapshot(t, db, "p1", 15, t0, 1)
	applySnapshot(t, db, "p2", 15, t0, 2)
	if _, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-15"); err != nil {
		t.Fatal(err)
	}

	_, err := db.RejectBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-15", "duplicate", false)
	if !errors.Is(err, store.ErrBillingApproved) {
		t.Errorf("reject of an approved month without dropApproval: err %v, want ErrBillingApproved", err)
	}
	if got := getMonth(t, db, "p1"); got.Status != store.BillingApproved || got.Approval == nil || got.Rejection != nil {
		t.Errorf("after the refused rejection p1 = %s approval %+v rejection %+v, want approved", got.Status, got.Approval, got.Rejection)
	}

	// A correction keeps its approval the same way.
	applySnapshot(t, db, "p1", 16, t0.Add(time.Hour), 3)
	_, err = db.RejectBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-16", "duplicate", false)
	if !errors.Is(err, store.ErrBillingApproved) {
		t.Errorf("reject of a correction without dropApproval: err %v, want ErrBillingApproved", err)
	}
	if got := getMonth(t, db, "p1"); got.Status != store.BillingCorrection || got.Approval == nil {
		t.Errorf("after the refused rejection p1 = %s approval %+v, want correction with its approval", got.Status, got.Approval)
	}
	reviews, err := db.BillingReviews(ctx, march, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 1 || reviews[0].Action != "approve" {
		t.Errorf("reviews = %+v, want only the approval", reviews)
	}

	rejected, err := db.RejectBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-16", "duplicate", true)
	if err != nil {
		t.Fatal(err)
	}
	if rejected.Status != store.BillingRejected || rejected.Approval != nil {
		t.Errorf("rejected with dropApproval = %s approval %+v, want rejected without approval", rejected.Status, rejected.Approval)
	}
	// A pending month needs no dropApproval.
	pending, err := db.RejectBillingMonth(ctx, march, "p2", clerk.ID, "snap-p2-15", "no consent on file", false)
	if err != nil {
		t.Fatal(err)
	}
	if pending.Status != store.BillingRejected {
		t.Errorf("pending month rejected without dropApproval = %s, want rejected", pending.Status)
	}
}

// applyZonedSnapshot stores a March snapshot of a patient in zone with 16
// days with readings from 1 March, event id snap-<patient>-<zone>.
func applyZonedSnapshot(t *testing.T, db *postgres.DB, patient, zone string, offset int64) {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	in := billing.Inputs{PatientID: patient, Location: loc, EpisodeStart: march.First(), HasEpisodeStart: true}
	for i := range 16 {
		in.Days = append(in.Days, billing.DayRecord{Date: march.First() + billing.Date(i)})
	}
	data, err := json.Marshal(billing.Snapshot{EventID: "snap-" + patient + "-" + zone, Kind: billing.SnapshotKind, PatientID: patient,
		Month: march, Report: billing.Compute(in, march, billing.Config{}, 0), ComputedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ApplyBillingEvents(context.Background(), []engine.Message{{Offset: offset, Value: data}}); err != nil {
		t.Fatal(err)
	}
}

// monthZones returns the rows as "patient zone approved-zone" strings,
// with - for a row without approval.
func monthZones(rows []store.BillingMonth) string {
	var parts []string
	for _, b := range rows {
		approved := "-"
		if b.Approval != nil {
			approved = b.Approval.Timezone
		}
		parts = append(parts, b.PatientID+" "+b.Timezone+" "+approved)
	}
	return strings.Join(parts, ", ")
}

func TestBillingMonthsOfPatientsWithZones(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	clerk := newUser(t, db, "clerk@example.org", "billing")
	applyZonedSnapshot(t, db, "p3", "UTC", 1)
	applyZonedSnapshot(t, db, "p1", "America/New_York", 2)
	applyZonedSnapshot(t, db, "p2", "Asia/Tokyo", 3)
	if _, err := db.ApproveBillingMonth(ctx, march, "p1", clerk.ID, "snap-p1-America/New_York"); err != nil {
		t.Fatal(err)
	}

	rows, err := db.BillingMonthsOf(ctx, march, []string{"p3", "missing", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := monthZones(rows), "p1 America/New_York America/New_York, p3 UTC -"; got != want {
		t.Errorf("BillingMonthsOf = %s, want %s", got, want)
	}
	for _, b := range rows {
		if b.Report != nil || (b.Approval != nil && b.Approval.Report != nil) {
			t.Errorf("BillingMonthsOf %s carries a report, want none", b.PatientID)
		}
	}
	if len(rows) > 0 && lineCodes(rows[0].Lines) != "99454 x1 days=16, 99453 x1 days=16" {
		t.Errorf("p1 lines = %s, want 99454 and 99453 for 16 days", lineCodes(rows[0].Lines))
	}
	april := billing.Month{Year: 2026, Month: time.April}
	if rows, err := db.BillingMonthsOf(ctx, april, []string{"p1"}); err != nil || len(rows) != 0 {
		t.Errorf("BillingMonthsOf April = %d rows, err %v, want none", len(rows), err)
	}

	// Listings, reads and exports carry the zones too.
	page, _, err := db.ListBillingMonths(ctx, store.BillingFilter{Month: march, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := monthZones(page), "p1 America/New_York America/New_York, p2 Asia/Tokyo -, p3 UTC -"; got != want {
		t.Errorf("listing = %s, want %s", got, want)
	}
	if got := getMonth(t, db, "p2"); got.Timezone != "Asia/Tokyo" || got.Report == nil || got.Report.Timezone != "Asia/Tokyo" {
		t.Errorf("p2 zone = %q with report %+v, want Asia/Tokyo", got.Timezone, got.Report)
	}
	exported, err := db.ApprovedBillingMonths(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := monthZones(exported), "p1 America/New_York America/New_York"; got != want {
		t.Errorf("export rows = %s, want %s", got, want)
	}
}
