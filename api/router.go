package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
)

// streamPath is the live alert stream, the one route that also takes its
// token from the query string.
const streamPath = "/v1/alerts/stream"

// routes builds the router. Every route here must be in openapi.json,
// and the other way round; TestOpenAPIMatchesRouter checks both.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(withRequestID, s.observe, s.recoverPanics, securityHeaders, rejectBadText)
	r.Use(httprate.LimitBy(s.cfg.RateLimitIP, time.Minute, keyByIP, httprate.WithLimitHandler(rateLimited)))
	r.NotFound(notFoundHandler)
	r.MethodNotAllowed(methodNotAllowed)

	r.Get("/healthz", s.handleHealth)
	r.Get("/readyz", s.handleReady)
	r.Get("/openapi.json", handleOpenAPI)

	loginLimit := httprate.LimitBy(s.cfg.RateLimitLogin, time.Minute, keyByIP, httprate.WithLimitHandler(rateLimited))
	r.With(loginLimit).Post("/v1/auth/login", s.handleLogin)
	r.With(loginLimit).Post("/v1/auth/refresh", s.handleRefresh)
	r.With(loginLimit).Post("/v1/auth/register", s.handleRegister)

	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Use(httprate.LimitBy(s.cfg.RateLimitToken, time.Minute, rateKey, httprate.WithLimitHandler(rateLimited)))
		s.staffRoutes(r)
		s.clinicalRoutes(r)
		s.billingRoutes(r)
		s.adminRoutes(r)
		r.With(requireRoles(RoleSRE, RoleAdmin)).Get("/metrics", s.handleMetrics)
		r.With(requireRoles(RoleSRE, RoleAdmin)).Get("/v1/status", s.handleStatus)
		r.With(requireRoles(RoleDevice)).Post("/v1/ingest/readings", s.handleIngest)
	})
	return r
}

// staffRoutes are every user's own account.
func (s *Server) staffRoutes(r chi.Router) {
	staff := r.With(requireRoles(userRoles...))
	staff.Get("/v1/me", s.handleMe)
	staff.Post("/v1/auth/logout", s.handleLogout)
	staff.Post("/v1/auth/password", s.handleChangePassword)
	staff.Post("/v1/auth/totp/enroll", s.handleTOTPEnroll)
	staff.Post("/v1/auth/totp/confirm", s.handleTOTPConfirm)
}

// clinicalRoutes are rules, patients and alerts, for clinicians and
// administrators; patient data is further limited to care teams.
func (s *Server) clinicalRoutes(r chi.Router) {
	c := r.With(requireRoles(RoleClinician, RoleAdmin))
	c.Get("/v1/rules", s.handleListRules)
	c.Post("/v1/rules", s.handleCreateRule)
	c.Post("/v1/rules/validate", s.handleValidateRule)
	c.Post("/v1/rules/test", s.handleTestRules)
	c.Post("/v1/rules/backtest", s.handleBacktest)
	c.Get("/v1/rules/{ruleID}", s.handleGetRule)
	c.Put("/v1/rules/{ruleID}", s.handleUpdateRule)
	c.Delete("/v1/rules/{ruleID}", s.handleDeleteRule)
	c.Get("/v1/rules/{ruleID}/versions", s.handleRuleVersions)
	c.Post("/v1/rules/{ruleID}/enable", s.handleEnableRule)
	c.Post("/v1/rules/{ruleID}/disable", s.handleDisableRule)

	c.Get("/v1/patients", s.handleListPatients)
	c.Post("/v1/patients", s.handleCreatePatient)
	c.Get("/v1/patients/{patientID}", s.handleGetPatient)
	c.Put("/v1/patients/{patientID}", s.handleUpdatePatient)
	c.Get("/v1/patients/{patientID}/alerts", s.handlePatientAlerts)
	c.Get("/v1/patients/{patientID}/readings/latest", s.handleLatestReadings)
	c.Post("/v1/patients/{patientID}/time-entries", s.handleAddTimeEntry)
	c.Delete("/v1/patients/{patientID}/time-entries/{entryID}", s.handleDeleteTimeEntry)

	c.Get("/v1/alerts", s.handleListAlerts)
	c.Get(streamPath, s.handleStream)
	c.Get("/v1/alerts/{alertID}", s.handleGetAlert)
	c.Post("/v1/alerts/{alertID}/acknowledge", s.handleAcknowledgeAlert)
	c.Post("/v1/alerts/{alertID}/resolve", s.handleResolveAlert)
	c.Post("/v1/alerts/{alertID}/assign", s.handleAssignAlert)
}

// billingRoutes are the review of billing eligibility, for billing users
// and administrators, and the time entries it rests on, which clinicians
// read too. Billing users see every patient's billing data.
func (s *Server) billingRoutes(r chi.Router) {
	r.With(requireRoles(RoleClinician, RoleBilling, RoleAdmin)).Get("/v1/patients/{patientID}/time-entries", s.handleListTimeEntries)

	b := r.With(requireRoles(RoleBilling, RoleAdmin))
	b.Get("/v1/billing/months/{month}", s.handleListBillingMonths)
	b.Get("/v1/billing/months/{month}/export.csv", s.handleExportBillingMonth)
	b.Post("/v1/billing/months/{month}/approve", s.handleBulkApproveBillingMonths)
	b.Get("/v1/billing/months/{month}/patients/{patientID}", s.handleGetBillingMonth)
	b.Post("/v1/billing/months/{month}/patients/{patientID}/approve", s.handleApproveBillingMonth)
	b.Post("/v1/billing/months/{month}/patients/{patientID}/reject", s.handleRejectBillingMonth)
}

// adminRoutes manage access: users, invites, API keys, care teams and
// the audit log.
func (s *Server) adminRoutes(r chi.Router) {
	a := r.With(requireRoles(RoleAdmin))
	a.Delete("/v1/patients/{patientID}", s.handleDeletePatient)
	a.Put("/v1/patients/{patientID}/care-team", s.handleSetCareTeam)
	a.Get("/v1/users", s.handleListUsers)
	a.Get("/v1/users/{userID}", s.handleGetUser)
	a.Post("/v1/users/{userID}/disable", s.handleDisableUser)
	a.Post("/v1/users/{userID}/enable", s.handleEnableUser)
	a.Get("/v1/invites", s.handleListInvites)
	a.Post("/v1/invites", s.handleCreateInvite)
	a.Get("/v1/api-keys", s.handleListAPIKeys)
	a.Post("/v1/api-keys", s.handleCreateAPIKey)
	a.Post("/v1/api-keys/{keyID}/rotate", s.handleRotateAPIKey)
	a.Delete("/v1/api-keys/{keyID}", s.handleRevokeAPIKey)
	a.Get("/v1/audit", s.handleListAudit)
}

// keyByIP keys the per-address rate limits by the peer address; IPv6
// clients share one bucket per /64.
// NOTE: httprate counts in this process's memory, so with several API
// instances each enforces the limits on its own share of the traffic.
func keyByIP(r *http.Request) (string, error) {
	return httprate.CanonicalizeIP(clientIP(r)), nil
}
