package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

// reviewMonth returns a past month of at least 30 days, so that a device
// period starting on its first day also ends in it and is billed there.
func reviewMonth(now time.Time) billing.Month {
	m := billing.DateOf(now, time.UTC).Month()
	for {
		m = previousMonth(m)
		if m.Last()-m.First()+1 >= billing.PeriodDays {
			return m
		}
	}
}

func previousMonth(m billing.Month) billing.Month {
	if m.Month == time.January {
		return billing.Month{Year: m.Year - 1, Month: time.December}
	}
	return billing.Month{Year: m.Year, Month: m.Month - 1}
}

// spo2Reading returns a normal SpO2 reading of the patient measured at
// noon UTC of day. A zero receivedAt leaves received_at out, so the engine
// takes the time the reading arrived.
func spo2Reading(patient string, day billing.Date, receivedAt time.Time) engine.Record {
	measured := day.Time().Add(12 * time.Hour)
	reading := map[string]any{"patient_id": patient, "device_id": "oximeter-1", "measurement_id": "m-" + day.String(),
		"metric": "spo2", "value": 97, "unit": "%", "measured_at": measured.Format(time.RFC3339)}
	if !receivedAt.IsZero() {
		reading["received_at"] = receivedAt.Format(time.RFC3339)
	}
	data, _ := json.Marshal(reading)
	return engine.Record{Topic: engine.DefaultTopics().Readings, Key: []byte(patient), Value: data}
}

// totpCodes hands out TOTP codes of one secret, each of a time step not
// used before, as the server accepts each step once.
type totpCodes struct {
	t      *testing.T
	secret string
	used   map[int64]bool
}

// next returns a code of the current step, else of the next or the
// previous one, which the server accepts as clock skew.
func (c *totpCodes) next() string {
	c.t.Helper()
	now := time.Now()
	for _, skew := range []int64{0, 1, -1} {
		step := now.Unix()/30 + skew
		if c.used[step] {
			continue
		}
		c.used[step] = true
		code, err := api.TOTPCode(c.secret, time.Unix(step*30, 0))
		if err != nil {
			c.t.Fatal(err)
		}
		return code
	}
	c.t.Fatal("three TOTP codes used within a minute; the test asks for too many")
	return ""
}

// poll calls cond every 250ms, which stays within the API's rate limits,
// until it returns true or timeout passes.
func poll(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// billingLines returns claim lines as "code days=N flags=a;b" strings.
func billingLines(lines []billing.ClaimLine) string {
	parts := []string{}
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%s days=%d flags=%s", l.Code, l.Days, strings.Join(l.Flags, ";")))
	}
	return strings.Join(parts, ", ")
}

// TestBillingReviewEndToEnd runs the demo with its engine, sinks and API,
// produces 16 days of readings for a patient, approves the month as the
// demo's billing user with TOTP, and then produces a late reading for the
// same device period. The month must become a correction that keeps the
// approved lines, shows the new report, and exports the approved values.
func TestBillingReviewEndToEnd(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "v.csv")
	if err := os.WriteFile(csvPath, []byte("patient_id,time,metric,value,unit,source_row_id\nother-1,2026-03-10T08:00:00Z,spo2,97,%,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VYTALWATCH_LOG_FORMAT", "json")
	databaseURL := pgtest.URL(t)
	t.Setenv("DATABASE_URL", databaseURL)
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, []string{"--file", csvPath, "--api-addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "state")}, stdout, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	// The demo prints the billing account once the input is processed.
	var base, broker, password, secret string
	waitFor(t, "the demo's API instructions", func() bool {
		out := stdout.String()
		m := regexp.MustCompile(`API on (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(out)
		b := regexp.MustCompile(`KAFKA_BROKERS=(\S+) vytalwatch replay`).FindStringSubmatch(out)
		p := regexp.MustCompile(`billing@demo\.local  password (\S+)  TOTP secret (\S+)`).FindStringSubmatch(out)
		if m == nil || b == nil || p == nil {
			return false
		}
		base, broker, password, secret = m[1], b[1], p[1], p[2]
		return true
	})
	codes := &totpCodes{t: t, secret: secret, used: map[int64]bool{}}
	call := func(method, path, token string, body any, header ...string) (int, []byte) {
		t.Helper()
		var reader io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			reader = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, base+path, reader)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	status, body := call("POST", "/v1/auth/login", "", map[string]string{"email": demoBilling, "password": password, "totp_code": codes.next()})
	if status != http.StatusOK {
		t.Fatalf("billing login: status %d: %s", status, body)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tk)

	// 16 days with readings from the first of the month, each received
	// a minute after it was taken, so none is late.
	month := reviewMonth(time.Now())
	first := month.First()
	p := kafka.NewProducer([]string{broker})
	defer p.Close()
	var records []engine.Record
	for i := range 16 {
		day := first + billing.Date(i)
		records = append(records, spo2Reading("bill-1", day, day.Time().Add(12*time.Hour+time.Minute)))
	}
	if err := p.Produce(ctx, records); err != nil {
		t.Fatal(err)
	}

	rowPath := fmt.Sprintf("/v1/billing/months/%s/patients/bill-1", month)
	var row struct {
		store.BillingMonth
		Reviews []store.BillingReview `json:"reviews"`
	}
	readRow := func() {
		t.Helper()
		status, body := call("GET", rowPath, tk.AccessToken, nil)
		row.BillingMonth, row.Reviews = store.BillingMonth{}, nil
		if status == http.StatusOK {
			if err := json.Unmarshal(body, &row); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
		}
	}
	eligible := "99454 days=16 flags=, 99453 days=16 flags="
	poll(t, "the 16-day snapshot in the billing review", 60*time.Second, func() bool {
		readRow()
		return billingLines(row.Lines) == eligible
	})
	if row.Status != store.BillingPending || len(row.Flags) != 0 {
		t.Errorf("before approval: %s with flags %v, want pending without flags", row.Status, row.Flags)
	}
	approvedEvent := row.EventID
	periodEnd := first + billing.PeriodDays - 1

	status, body = call("POST", rowPath+"/approve", tk.AccessToken, map[string]string{"event_id": approvedEvent}, "X-TOTP-Code", codes.next())
	if status != http.StatusOK {
		t.Fatalf("approve: status %d: %s", status, body)
	}
	readRow()
	if row.Status != store.BillingApproved || row.Approval == nil || row.Approval.EventID != approvedEvent {
		t.Fatalf("after approval: %s with approval %+v, want approved %s", row.Status, row.Approval, approvedEvent)
	}
	approvedAt := row.Approval.At.UTC().Format(time.RFC3339)

	// A reading taken on day 20, inside the approved period, arrives now,
	// after the period ended.
	if err := p.Produce(ctx, []engine.Record{spo2Reading("bill-1", first+19, time.Time{})}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the late reading to turn the month into a correction", 60*time.Second, func() bool {
		readRow()
		return row.Status == store.BillingCorrection
	})
	if got, want := billingLines(row.Lines), "99454 days=17 flags=late_reading_after_close, 99453 days=17 flags=late_reading_after_close"; got != want {
		t.Errorf("newest lines = %s, want %s", got, want)
	}
	if !slices.Equal(row.Flags, []string{billing.FlagLateReading}) {
		t.Errorf("row flags = %v, want [%s]", row.Flags, billing.FlagLateReading)
	}
	if row.EventID == approvedEvent {
		t.Errorf("newest event_id is still the approved %s", approvedEvent)
	}
	if row.Report == nil || row.Report.Periods[0].DaysWithReadings != 17 {
		t.Errorf("newest report = %+v, want 17 days in the first period", row.Report)
	}
	if row.Approval == nil {
		t.Fatal("the correction lost its approval")
	}
	if got := billingLines(row.Approval.Lines); got != eligible {
		t.Errorf("approved lines = %s, want the approved %s", got, eligible)
	}
	if row.Approval.EventID != approvedEvent || row.Approval.At.UTC().Format(time.RFC3339) != approvedAt || row.Approval.ByEmail != demoBilling {
		t.Errorf("approval = %s at %v by %s, want %s at %s by %s", row.Approval.EventID, row.Approval.At, row.Approval.ByEmail,
			approvedEvent, approvedAt, demoBilling)
	}
	if row.Approval.Report == nil || row.Approval.Report.Periods[0].DaysWithReadings != 16 {
		t.Errorf("approved report = %+v, want the approved 16 days", row.Approval.Report)
	}
	if len(row.Reviews) != 1 || row.Reviews[0].Action != "approve" || row.Reviews[0].EventID != approvedEvent {
		t.Errorf("reviews = %+v, want the one approval", row.Reviews)
	}

	// The listing flags the row, and the export keeps the approved values.
	status, body = call("GET", fmt.Sprintf("/v1/billing/months/%s?status=correction", month), tk.AccessToken, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"patient_id":"bill-1"`) {
		t.Errorf("corrections: status %d: %s, want bill-1", status, body)
	}
	status, body = call("GET", fmt.Sprintf("/v1/billing/months/%s/export.csv", month), tk.AccessToken, nil)
	line := func(code string) string {
		return fmt.Sprintf("%s,bill-1,correction,%s,1,%s,%s,16,,,%s,%s,%s,false\n", month, code, first, periodEnd, approvedEvent, demoBilling, approvedAt)
	}
	want := "month,patient_id,status,code,units,period_start,period_end,days_with_readings,minutes,flags,approved_event_id,approved_by,approved_at,open\n" +
		line("99454") + line("99453")
	if status != http.StatusOK || string(body) != want {
		t.Errorf("export: status %d\n%s\nwant\n%s", status, body, want)
	}
}
