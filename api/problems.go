package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// problemBase prefixes the type URIs of problem documents. The URIs only
// name problem kinds; nothing is served there.
const problemBase = "https://vytalwatch.dev/problems/"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors lists each invalid field of a validation problem.
	Errors []FieldError `json:"errors,omitempty"`
	// Problems carries a rule's validation problems, with positions
	// and hints.
	Problems any `json:"problems,omitempty"`
	// Rejections lists the readings an ingest request rejected.
	Rejections any `json:"rejections,omitempty"`
}

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problemKind is one kind of problem: its type URI suffix, title and
// status.
type problemKind struct {
	slug   string
	title  string
	status int
}

var (
	probMalformed    = problemKind{"malformed-request", "Malformed request", http.StatusBadRequest}
	probValidation   = problemKind{"validation", "Invalid request", http.StatusUnprocessableEntity}
	probUnauthorized = problemKind{"unauthorized", "Authentication required", http.StatusUnauthorized}
	probTOTPRequired = problemKind{"totp-required", "TOTP code required", http.StatusUnauthorized}
	// probStepUpRequired is a valid token without the fresh TOTP code an
	// action needs: 403, so that clients do not take it for an expired
	// token and refresh or log out.
	probStepUpRequired = problemKind{"step-up-required", "Fresh TOTP code required", http.StatusForbidden}
	probForbidden      = problemKind{"forbidden", "Forbidden", http.StatusForbidden}
	probNotFound       = problemKind{"not-found", "Not found", http.StatusNotFound}
	probMethod         = problemKind{"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	probConflict       = problemKind{"conflict", "Conflict", http.StatusConflict}
	probTooLarge       = problemKind{"too-large", "Request body too large", http.StatusRequestEntityTooLarge}
	probMediaType      = problemKind{"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}
	probRateLimited    = problemKind{"rate-limited", "Too many requests", http.StatusTooManyRequests}
	probInternal       = problemKind{"internal", "Internal server error", http.StatusInternalServerError}
	probUnavailable    = problemKind{"unavailable", "Service unavailable", http.StatusServiceUnavailable}
)

// apiError is an error a handler returns to respond with a problem.
type apiError struct {
	kind   problemKind
	detail string
	// extend adds fields such as validation errors to the document.
	extend func(*Problem)
	// retryAfter, when positive, is sent as Retry-After in whole seconds.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.kind.title + ": " + e.detail }

// problemf returns an error that becomes a problem of kind, with a detail
// that states what was wrong and what to do.
func problemf(kind problemKind, format string, args ...any) *apiError {
	return &apiError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// invalid returns a validation problem listing the invalid fields.
func invalid(errs ...FieldError) *apiError {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Message
	}
	return &apiError{kind: probValidation, detail: strings.Join(parts, "; "), extend: func(p *Problem) { p.Errors = errs }}
}

// writeProblem writes a problem document response.
func writeProblem(w http.ResponseWriter, r *http.Request, e *apiError) {
	p := Problem{Type: problemBase + e.kind.slug, Title: e.kind.title, Status: e.kind.status, Detail: e.detail,
		Instance: requestID(r.Context())}
	if e.extend != nil {
		e.extend(&p)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vytalwatch"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail responds to a handler's error: an *apiError with its problem,
// anything else with a 500 whose cause is logged, never shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeProblem(w, r, ae)
		return
	}
	s.logger.Error("request failed", "error", err, "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()))
	writeProblem(w, r, problemf(probInternal, "the server failed to handle the request; quote instance %s when reporting it", requestID(r.Context())))
}

// rateLimited responds 429; httprate has already set Retry-After.
func rateLimited(w http.ResponseWriter, r *http.Request) {
	retry := w.Header().Get("Retry-After")
	if _, err := strconv.Atoi(retry); err != nil {
		retry = "60"
		w.Header().Set("Retry-After", retry)
	}
	writeProblem(w, r, problemf(probRateLimited, "rate limit exceeded; retry after %s seconds", retry))
}

// notFoundHandler and methodNotAllowed respond to paths and methods that
// no route has.
func notFoundHandler(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, problemf(probNotFound, "no resource at %s; see /openapi.json for the routes", r.URL.Path))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, problemf(probMethod, "%s is not allowed on %s; see /openapi.json for the methods", r.Method, r.URL.Path))
}
