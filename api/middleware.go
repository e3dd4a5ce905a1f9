package api

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch"
)

type requestIDKey struct{}

// requestID returns the request's id, which problem documents carry as
// instance and audit records as request_id.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives each request a random id and returns it in the
// X-Request-Id header. A client's own X-Request-Id is not trusted,
// because it ends up in the audit log.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := randomToken(12)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// clientIP returns the address of the connection's peer.
// NOTE: behind a reverse proxy this is the proxy's address, for rate
// limits and audit records alike; no forwarding header is trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recoverPanics responds to a panic with a 500 problem and logs it with the
// request id; the client sees no details.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.logger.Error("handler panicked", "panic", rec, "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()))
			writeProblem(w, r, problemf(probInternal, "the server failed to handle the request; quote instance %s when reporting it", requestID(r.Context())))
		}()
		next.ServeHTTP(w, r)
	})
}

// textHeaders are the request headers whose values the API interprets.
// Other headers, such as User-Agent, are at most recorded, and the audit
// log sanitizes them.
var textHeaders = []string{"Authorization", "Content-Type", totpHeader}

// rejectBadText responds 400 to a request whose path, query parameters
// or interpreted headers contain invalid UTF-8, NUL or another control
// character. Handlers pass these values to PostgreSQL, whose text type
// rejects NUL and invalid UTF-8, and no valid value contains them.
func rejectBadText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkRequestText(r); err != nil {
			writeProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkRequestText(r *http.Request) *apiError {
	if err := vytalwatch.CheckLine(r.URL.Path); err != nil {
		return problemf(probMalformed, "the path %s contains %v; remove it from the path", strconv.QuoteToASCII(r.URL.Path), err)
	}
	// ParseQuery keeps the pairs that parse, as r.URL.Query does, so this
	// checks the values that handlers see.
	query, _ := url.ParseQuery(r.URL.RawQuery)
	names := slices.Sorted(maps.Keys(query))
	for _, name := range names {
		if err := vytalwatch.CheckLine(name); err != nil {
			return problemf(probMalformed, "the query parameter name %s contains %v; remove it", strconv.QuoteToASCII(name), err)
		}
		for _, value := range query[name] {
			if err := vytalwatch.CheckLine(value); err != nil {
				return problemf(probMalformed, "query parameter %s contains %v; remove it from the value", name, err)
			}
		}
	}
	for _, name := range textHeaders {
		for _, value := range r.Header.Values(name) {
			if err := vytalwatch.CheckLine(value); err != nil {
				return problemf(probMalformed, "header %s contains %v; send it as printable ASCII", name, err)
			}
		}
	}
	return nil
}

// securityHeaders sets headers every API response should carry.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// httpMetrics counts requests by route pattern, method and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vytalwatch_http_requests_total", Help: "API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vytalwatch_http_request_duration_seconds", Help: "API request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the live stream.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe logs each request at debug level and records its metrics. The
// route pattern, not the path, labels them, so ids never become labels.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(started)
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		s.logger.Debug("request", "method", r.Method, "route", route, "status", rec.status,
			"duration_ms", elapsed.Milliseconds(), "request_id", requestID(r.Context()))
	})
}
