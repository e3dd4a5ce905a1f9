package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch/engine"
)

// subscriberBuffer is how many events a slow stream client may fall
// behind before the hub drops it; the client then reconnects.
const subscriberBuffer = 256

// AlertFeed is the alert topic as the live stream reads it: partition by
// partition and outside any consumer group, so every API instance
// receives every event. connectors/kafka implements it (TopicReader).
type AlertFeed interface {
	// Topic returns the name of the topic, for logs.
	Topic() string
	// EndOffsets returns the high-water mark of each partition.
	EndOffsets(ctx context.Context) (map[int]int64, error)
	// OpenPartition opens a reader of one partition at offset, the next
	// offset to read.
	OpenPartition(partition int, offset int64) (engine.PartitionReader, error)
}

// Hub reads every partition of vitals.alerts from its end and fans the
// events out to the live streams whose callers may see the patient.
type Hub struct {
	feed   AlertFeed
	logger *slog.Logger
	ready  atomic.Bool

	mu   sync.Mutex
	subs map[*subscriber]struct{}

	delivered   prometheus.Counter
	dropped     prometheus.Counter
	subscribers prometheus.Gauge
}

// subscriber is one live stream.
type subscriber struct {
	events chan streamEvent
	// all is set for administrators, who see every patient.
	all bool
	// patients is the caller's care team patients, refreshed while the
	// stream runs.
	patients atomic.Pointer[map[string]bool]
	// closed is closed when the hub ends the stream, with reason set
	// before: the client fell behind, or the server shuts down.
	closed chan struct{}
	reason string
}

// streamEvent is one alert event as the stream sends it.
type streamEvent struct {
	id        string
	patientID string
	data      []byte
}

// NewHub returns a hub that reads the alert topic from feed. reg may be
// nil.
func NewHub(feed AlertFeed, logger *slog.Logger, reg prometheus.Registerer) *Hub {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Hub{
		feed: feed, logger: logger.With("component", "alert_stream"),
		subs: map[*subscriber]struct{}{},
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_stream_events_delivered_total", Help: "Alert events sent to live stream clients.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vytalwatch_stream_clients_dropped_total", Help: "Live stream clients dropped because they fell behind.",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vytalwatch_stream_clients", Help: "Open live alert streams.",
		}),
	}
	if reg != nil {
		reg.MustRegister(h.delivered, h.dropped, h.subscribers)
	}
	return h
}

// Ready reports whether the hub reads every partition.
func (h *Hub) Ready() bool { return h.ready.Load() }

// Subscribers returns how many streams are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Run reads the topic until ctx is done. Each partition starts at the end
// it had when Run started; events before that are in Postgres
// (GET /v1/alerts).
// NOTE: partitions added to the topic while Run runs are not read until
// the next start.
func (h *Hub) Run(ctx context.Context) error {
	var ends map[int]int64
	for {
		var err error
		if ends, err = h.feed.EndOffsets(ctx); err == nil {
			break
		}
		h.logger.Warn("read alert topic offsets failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	var wg sync.WaitGroup
	for p, end := range ends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.readPartition(ctx, p, end)
		}()
	}
	h.ready.Store(true)
	h.logger.Info("alert stream reading", "topic", h.feed.Topic(), "partitions", len(ends))
	wg.Wait()
	h.ready.Store(false)
	return nil
}

// readPartition reads one partition from offset and publishes each event,
// reopening the reader after errors.
func (h *Hub) readPartition(ctx context.Context, partition int, offset int64) {
	failures := 0
	for ctx.Err() == nil {
		r, err := h.feed.OpenPartition(partition, offset)
		if err == nil {
			for {
				m, ferr := r.Fetch(ctx)
				if ferr != nil {
					err = ferr
					break
				}
				offset = m.Offset + 1
				failures = 0
				h.publish(m.Value)
			}
			_ = r.Close()
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		if failures == 1 || failures%60 == 0 {
			h.logger.Warn("read alert partition failed; retrying", "partition", partition, "offset", offset, "error", err, "attempt", failures)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// publish sends an event to every subscriber that may see its patient.
func (h *Hub) publish(value []byte) {
	var ev struct {
		EventID   string `json:"event_id"`
		PatientID string `json:"patient_id"`
	}
	var compact bytes.Buffer
	if json.Unmarshal(value, &ev) != nil || ev.EventID == "" || json.Compact(&compact, value) != nil {
		h.logger.Debug("skipping message that is not an alert event")
		return
	}
	se := streamEvent{id: ev.EventID, patientID: ev.PatientID, data: compact.Bytes()}
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if !sub.all && !(*sub.patients.Load())[ev.PatientID] {
			continue
		}
		select {
		case sub.events <- se:
			h.delivered.Inc()
		default:
			h.dropped.Inc()
			h.closeLocked(sub, "too slow: events were arriving faster than the client read them; reconnect")
		}
	}
}

// closeLocked ends a subscriber's stream. REQUIRES: h.mu held.
func (h *Hub) closeLocked(sub *subscriber, reason string) {
	delete(h.subs, sub)
	sub.reason = reason
	close(sub.closed)
	h.subscribers.Set(float64(len(h.subs)))
}

// CloseAll ends every open stream, for server shutdown: the handlers
// return, so the server need not wait for them.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		h.closeLocked(sub, "the server is shutting down; reconnect")
	}
}

func (h *Hub) subscribe(all bool, patients map[string]bool) *subscriber {
	sub := &subscriber{events: make(chan streamEvent, subscriberBuffer), all: all, closed: make(chan struct{})}
	sub.patients.Store(&patients)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[sub] = struct{}{}
	h.subscribers.Set(float64(len(h.subs)))
	return sub
}

func (h *Hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sub)
	h.subscribers.Set(float64(len(h.subs)))
}

// handleStream serves the live alert stream as Server-Sent Events:
// "alert" events carry alert event JSON of the caller's care team
// patients (every patient for administrators), "close" gives the reason
// the server ends the stream, and comments keep idle connections open. The
// token is checked at connect and every StreamCheckInterval after; the
// stream ends when it expires or is revoked.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if s.hub == nil || !s.hub.Ready() {
		s.fail(w, r, problemf(probUnavailable, "the live alert stream is not running on this instance; retry shortly"))
		return
	}
	p := principalFrom(r.Context())
	token := bearerToken(r)
	patients, err := s.streamPatients(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// NOTE: the connection is audited once; the events it delivers are
	// not audited one by one.
	if err := s.audit(r, auditEntry{action: "alert.stream.connect", resourceType: "alert_stream"}); err != nil {
		s.fail(w, r, err)
		return
	}
	sub := s.hub.subscribe(p.Role == RoleAdmin, patients)
	defer s.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 3000\nevent: ready\ndata: {\"expires_at\":%q}\n\n", p.ExpiresAt.UTC().Format(time.RFC3339)) {
		return
	}

	expiry := time.NewTimer(time.Until(p.ExpiresAt))
	defer expiry.Stop()
	check := time.NewTicker(s.cfg.StreamCheckInterval)
	defer check.Stop()
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	closeWith := func(reason string) { send("event: close\ndata: {\"reason\":%q}\n\n", reason) }
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.closed:
			closeWith(sub.reason)
			return
		case ev := <-sub.events:
			if !send("id: %s\nevent: alert\ndata: %s\n\n", ev.id, ev.data) {
				return
			}
		case <-heartbeat.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case <-expiry.C:
			closeWith("token expired; refresh it and reconnect")
			return
		case <-check.C:
			if _, err := s.principalForToken(r.Context(), token); err != nil {
				closeWith("token expired or revoked; log in or refresh, then reconnect")
				return
			}
			if !sub.all {
				if patients, err := s.streamPatients(r.Context(), p); err == nil {
					sub.patients.Store(&patients)
				}
			}
		}
	}
}

// streamPatients returns the patients a clinician's stream shows.
func (s *Server) streamPatients(ctx context.Context, p *Principal) (map[string]bool, error) {
	if p.Role == RoleAdmin {
		return map[string]bool{}, nil
	}
	return s.db.CareTeamPatients(ctx, p.UserID)
}

// bearerToken returns the request's access token, from the header or
// the access_token query parameter.
func bearerToken(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return r.URL.Query().Get("access_token")
}
