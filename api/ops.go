package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// handleHealth reports that the process serves requests.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
}

// handleReady reports whether the database responds and the live stream
// reads vitals.alerts: 200, or 503 with the checks that failed.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"database": "ok", "alert_stream": "ok"}
	ready := true
	if err := s.db.Ping(ctx); err != nil {
		status["database"], ready = "unavailable", false
	}
	switch {
	case s.hub == nil:
		status["alert_stream"] = "disabled"
	case !s.hub.Ready():
		status["alert_stream"], ready = "starting", false
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"ready": ready, "checks": status})
}

// handleMetrics serves the Prometheus metrics to the sre and admin roles.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// handleStatus reports operational state without patient data.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	pending, err := s.db.PendingOutbox(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	subscribers := 0
	if s.hub != nil {
		subscribers = s.hub.Subscribers()
	}
	writeJSON(w, http.StatusOK, map[string]any{"outbox_pending": pending, "stream_subscribers": subscribers})
}
