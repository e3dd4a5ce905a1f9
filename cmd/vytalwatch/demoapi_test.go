package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemoAPIEndToEnd runs the demo with its API, sinks and relay on a
// fresh schema, creates a rule through the API, produces a reading
// that breaks it, receives the alert on the live stream, acknowledges it
// through the API, and checks the acknowledgement on the stream and in
// Postgres.
func TestDemoAPIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "v.csv")
	csvText := "patient_id,time,metric,value,unit,source_row_id\n" +
		"e2e-1,2026-03-10T08:00:00Z,spo2,97,%,1\n" +
		"e2e-2,2026-03-10T08:00:00Z,spo2,98,%,2\n"
	if err := os.WriteFile(csvPath, []byte(csvText), 0o644); err != nil {
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

	// The demo prints how to reach it once the input is processed.
	var base, broker, password string
	waitFor(t, "the demo's API instructions", func() bool {
		out := stdout.String()
		m := regexp.MustCompile(`API on (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(out)
		b := regexp.MustCompile(`KAFKA_BROKERS=(\S+) vytalwatch replay`).FindStringSubmatch(out)
		p := regexp.MustCompile(`clinician@demo\.local  password (\S+)`).FindStringSubmatch(out)
		if m == nil || b == nil || p == nil {
			return false
		}
		base, broker, password = m[1], b[1], p[1]
		return true
	})

	call := func(method, path, token string, body any) (int, []byte) {
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
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	status, body := call("POST", "/v1/auth/login", "", map[string]string{"email": demoClinician, "password": password})
	if status != http.StatusOK {
		t.Fatalf("login: status %d: %s", status, body)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &tk)

	rule := map[string]any{"id": "e2e-spo2", "name": "SpO2 below 93", "severity": "high", "metrics": []string{"spo2"},
		"condition": `last("spo2") < 93`}
	if status, body := call("POST", "/v1/rules", tk.AccessToken, rule); status != http.StatusCreated {
		t.Fatalf("create rule: status %d: %s", status, body)
	}

	// The live stream.
	req, _ := http.NewRequest("GET", base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan vytalwatch.AlertEvent, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev vytalwatch.AlertEvent
				if json.Unmarshal([]byte(data), &ev) == nil && ev.EventID != "" {
					events <- ev
				}
			}
		}
	}()

	// The rule reaches the engine through the outbox, the relay and the
	// rules topic. Readings before that pass without firing it, so each
	// attempt sends a new reading.
	p := kafka.NewProducer([]string{broker})
	defer p.Close()
	var fired vytalwatch.AlertEvent
	for attempt := 0; fired.EventID == "" && attempt < 30; attempt++ {
		at := time.Now().UTC().Add(-time.Duration(30-attempt) * time.Second)
		reading := fmt.Sprintf(`{"patient_id":"e2e-1","device_id":"ox","measurement_id":"m%d","metric":"spo2","value":90,"unit":"%%","measured_at":%q}`,
			attempt, at.Format(time.RFC3339Nano))
		if err := p.Produce(ctx, []engine.Record{{Topic: engine.DefaultTopics().Readings, Key: []byte("e2e-1"), Value: []byte(reading)}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(time.Second)
	wait:
		for {
			select {
			case ev := <-events:
				if ev.RuleID == "e2e-spo2" && ev.Kind == vytalwatch.AlertFired {
					fired = ev
					break wait
				}
			case <-deadline:
				break wait
			}
		}
	}
	if fired.EventID == "" {
		t.Fatal("no e2e-spo2 alert on the stream within 30 attempts")
	}
	if fired.PatientID != "e2e-1" || fired.Values["spo2"] == nil || *fired.Values["spo2"] != 90 {
		t.Errorf("fired event = %+v, want e2e-1 with spo2 90", fired)
	}

	// The alert sink stores the firing; then acknowledge it.
	waitFor(t, "the alert in Postgres", func() bool {
		status, _ := call("GET", "/v1/alerts/"+fired.EventID, tk.AccessToken, nil)
		return status == http.StatusOK
	})
	status, body = call("POST", "/v1/alerts/"+fired.EventID+"/acknowledge", tk.AccessToken, nil)
	if status != http.StatusOK {
		t.Fatalf("acknowledge: status %d: %s", status, body)
	}
	var acked struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &acked)
	if acked.Status != "acknowledged" {
		t.Errorf("acknowledged alert status %q, want acknowledged", acked.Status)
	}
	var ack vytalwatch.AlertEvent
	timeout := time.After(20 * time.Second)
	for ack.EventID == "" {
		select {
		case ev := <-events:
			if ev.Kind == vytalwatch.AlertAcknowledged && ev.FiredEventID == fired.EventID {
				ack = ev
			}
		case <-timeout:
			t.Fatal("no acknowledged event on the stream within 20s")
		}
	}
	if ack.EventID != vytalwatch.EventID(vytalwatch.AlertAcknowledged, fired.EventID, ack.Message[len("acknowledged by user "):]) {
		t.Errorf("acknowledged event id %s is not derived from the firing and the user", ack.EventID)
	}

	// The sink stores the acknowledgement as the alert's second event.
	db, err := postgres.Open(context.Background(), databaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, "the acknowledged event in Postgres", func() bool {
		n, err := db.AlertEventCount(context.Background(), fired.EventID)
		return err == nil && n == 2
	})
	a, err := db.GetAlert(context.Background(), fired.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != store.StatusAcknowledged || a.AcknowledgedBy == nil || a.RuleID != "e2e-spo2" || a.PatientID != "e2e-1" {
		t.Errorf("alert row = %+v, want e2e-spo2 for e2e-1 acknowledged by the clinician", a)
	}
}
