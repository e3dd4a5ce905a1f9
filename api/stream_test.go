package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/kafkatest"
	"github.com/vytalwatch/vytalwatch/engine"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name, id, data string
}

// stream is an open live alert stream.
type stream struct {
	events chan sseEvent
	// closed is closed when the server ends the response.
	closed chan struct{}
	resp   *http.Response
}

// openStream connects to the live stream and reads its events in the
// background.
func openStream(t *testing.T, e *env, url, token string) *stream {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("stream: status %d", resp.StatusCode)
	}
	s := &stream{events: make(chan sseEvent, 100), closed: make(chan struct{}), resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.closed)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

func (s *stream) next(t *testing.T, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(within):
		t.Fatalf("no stream event within %s", within)
		return sseEvent{}
	}
}

// streamEnv is an API with a live stream hub on an embedded broker.
func streamEnv(t *testing.T, cfg api.Config) (*env, *kafka.Producer) {
	t.Helper()
	b, err := kafkatest.Start(kafkatest.Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(context.Background())
	err = kafka.EnsureTopics(ctx, b.Brokers(), []kafka.Topic{{Name: engine.DefaultTopics().Alerts, Partitions: 2}})
	if err != nil {
		t.Fatal(err)
	}
	hub := api.NewHub(kafka.NewTopicReader(b.Brokers(), engine.DefaultTopics().Alerts), slog.New(slog.DiscardHandler), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	for !hub.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	p := kafka.NewProducer(b.Brokers())
	t.Cleanup(func() { p.Close() })
	return newEnv(t, envOptions{cfg: cfg, hub: hub, producer: p}), p
}

func produceAlert(t *testing.T, p *kafka.Producer, id, patient string) {
	t.Helper()
	ev := vytalwatch.AlertEvent{EventID: id, Kind: vytalwatch.AlertFired, RuleID: "spo2-low", RuleVersion: 1, Severity: "high",
		PatientID: patient, At: time.Now().UTC()}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(context.Background(), []engine.Record{{Topic: engine.DefaultTopics().Alerts, Key: []byte(patient), Value: data}}); err != nil {
		t.Fatal(err)
	}
}

func TestStreamClosesAtTokenExpiry(t *testing.T) {
	t.Parallel()
	e, p := streamEnv(t, api.Config{AccessTTL: 2 * time.Second})
	nurse := e.user("nurse@example.org", "clinician")
	if _, err := e.db.CreatePatient(context.Background(), store.Patient{PatientID: "p1", CareTeam: []string{nurse.ID}}); err != nil {
		t.Fatal(err)
	}
	tk := e.login("nurse@example.org", "")
	connected := time.Now()
	s := openStream(t, e, "/v1/alerts/stream", tk.AccessToken)
	if ev := s.next(t, 5*time.Second); ev.name != "ready" {
		t.Fatalf("first event %q, want ready", ev.name)
	}
	// Another patient's alert first: it must not arrive.
	produceAlert(t, p, "other-1", "p2")
	produceAlert(t, p, "mine-1", "p1")
	ev := s.next(t, 5*time.Second)
	if ev.name != "alert" || ev.id != "mine-1" {
		t.Fatalf("event %s %s, want alert mine-1 (and never other-1)", ev.name, ev.id)
	}
	var got vytalwatch.AlertEvent
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
		t.Fatal(err)
	}
	if got.PatientID != "p1" || got.RuleID != "spo2-low" {
		t.Errorf("alert data = %+v, want p1's spo2-low event", got)
	}

	ev = s.next(t, 5*time.Second)
	if ev.name != "close" || !strings.Contains(ev.data, "token expired") {
		t.Errorf("event %s %s, want close for the expired token", ev.name, ev.data)
	}
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after the close event")
	}
	if elapsed := time.Since(connected); elapsed > 3500*time.Millisecond {
		t.Errorf("stream closed %s after connecting with a 2s token, want within about 3s", elapsed)
	}
	records := e.auditRecords()
	if last := records[len(records)-1]; last.Action != "alert.stream.connect" || last.ActorUserID == nil || *last.ActorUserID != nurse.ID {
		t.Errorf("last audit record %s by %v, want alert.stream.connect by the nurse", last.Action, last.ActorUserID)
	}
}

func TestStreamClosesOnRevocation(t *testing.T) {
	t.Parallel()
	e, _ := streamEnv(t, api.Config{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "")
	// EventSource clients pass the token in the query string.
	s := openStream(t, e, "/v1/alerts/stream?access_token="+tk.AccessToken, "")
	if ev := s.next(t, 5*time.Second); ev.name != "ready" {
		t.Fatalf("first event %q, want ready", ev.name)
	}
	revoked := time.Now()
	if res := e.do("POST", "/v1/auth/logout", tk.AccessToken, nil); res.status != http.StatusNoContent {
		t.Fatalf("logout: status %d", res.status)
	}
	if ev := s.next(t, 5*time.Second); ev.name != "close" {
		t.Errorf("event %q after logout, want close", ev.name)
	}
	<-s.closed
	if elapsed := time.Since(revoked); elapsed > 2500*time.Millisecond {
		t.Errorf("stream closed %s after logout, want within about 1s", elapsed)
	}
	// The query token is taken on the stream only.
	if res := e.do("GET", "/v1/me?access_token="+tk.AccessToken, "", nil); res.status != http.StatusUnauthorized {
		t.Errorf("query token on /v1/me: status %d, want 401", res.status)
	}
}

// fakeFeed is an AlertFeed with one partition whose end is 5. Its first
// reader returns one message and then fails. Later readers return the
// messages sent on next.
type fakeFeed struct {
	first []byte
	next  chan []byte
	// opens receives the offset of every OpenPartition call.
	opens chan int64
}

func (f *fakeFeed) Topic() string { return "vitals.alerts" }

func (f *fakeFeed) EndOffsets(context.Context) (map[int]int64, error) {
	return map[int]int64{0: 5}, nil
}

func (f *fakeFeed) OpenPartition(partition int, offset int64) (engine.PartitionReader, error) {
	f.opens <- offset
	if len(f.opens) == 1 {
		return &fakeReader{offset: offset, values: [][]byte{f.first}, failAfter: true}, nil
	}
	return &fakeReader{offset: offset, feed: f.next}, nil
}

type fakeReader struct {
	offset    int64
	values    [][]byte
	failAfter bool
	feed      chan []byte
}

func (r *fakeReader) Fetch(ctx context.Context) (engine.Message, error) {
	var value []byte
	switch {
	case len(r.values) > 0:
		value, r.values = r.values[0], r.values[1:]
	case r.failAfter:
		return engine.Message{}, errors.New("connection reset")
	default:
		select {
		case value = <-r.feed:
		case <-ctx.Done():
			return engine.Message{}, ctx.Err()
		}
	}
	m := engine.Message{Partition: 0, Offset: r.offset, Value: value}
	r.offset++
	return m, nil
}

func (r *fakeReader) EndOffset(context.Context) (int64, error) { return r.offset, nil }

func (r *fakeReader) Close() error { return nil }

func alertJSON(t *testing.T, id, patient string) []byte {
	t.Helper()
	data, err := json.Marshal(vytalwatch.AlertEvent{EventID: id, Kind: vytalwatch.AlertFired, PatientID: patient})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestStreamReopensAfterReadError(t *testing.T) {
	t.Parallel()
	feed := &fakeFeed{first: alertJSON(t, "before-error", "p1"), next: make(chan []byte, 1), opens: make(chan int64, 10)}
	hub := api.NewHub(feed, slog.New(slog.DiscardHandler), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	e := newEnv(t, envOptions{hub: hub})
	nurse := e.user("nurse@example.org", "clinician")
	if _, err := e.db.CreatePatient(context.Background(), store.Patient{PatientID: "p1", CareTeam: []string{nurse.ID}}); err != nil {
		t.Fatal(err)
	}
	tk := e.login("nurse@example.org", "")

	// The first reader starts at the partition's end, delivers one event
	// and fails, possibly before the stream connects.
	if offset := <-feed.opens; offset != 5 {
		t.Errorf("first open at offset %d, want the end offset 5", offset)
	}
	for !hub.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	s := openStream(t, e, "/v1/alerts/stream", tk.AccessToken)
	if ev := s.next(t, 5*time.Second); ev.name != "ready" {
		t.Fatalf("first event %q, want ready", ev.name)
	}

	// The hub waits a second, then reopens after the delivered message.
	select {
	case offset := <-feed.opens:
		if offset != 6 {
			t.Errorf("reopen at offset %d, want 6, after the delivered message", offset)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hub did not reopen the partition within 5s of the read error")
	}
	feed.next <- alertJSON(t, "after-error", "p1")
	ev := s.next(t, 5*time.Second)
	if ev.name != "alert" {
		t.Errorf("event name %q, want alert", ev.name)
	}
	if ev.id != "after-error" {
		t.Errorf("event id %q, want after-error", ev.id)
	}
}
