package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/rules"
)

// ruleView is a rule as the API returns it: the rule's own JSON, with
// version and enabled, and when it was created and last changed.
type ruleView struct {
	rules.Rule
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewRule(s store.StoredRule) ruleView {
	return ruleView{Rule: s.Rule, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// ruleProblems is the 422 of a rule that does not compile, with every
// problem, its position and hint.
func ruleProblems(problems []rules.Problem) *apiError {
	errs := make([]FieldError, len(problems))
	for i, p := range problems {
		errs[i] = FieldError{Field: p.Field, Message: p.Message}
	}
	e := invalid(errs...)
	e.extend = func(doc *Problem) {
		doc.Errors = errs
		doc.Problems = problems
	}
	return e
}

// readRule decodes and compiles a rule from the request body. Versions
// are assigned by the server.
func (s *Server) readRule(w http.ResponseWriter, r *http.Request) (rules.Rule, error) {
	var rule rules.Rule
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &rule); err != nil {
		return rule, err
	}
	if rule.Version != 0 {
		return rule, invalid(FieldError{"version", "is assigned by the server; leave it out"})
	}
	c, problems := rules.Compile(rule)
	if len(problems) > 0 {
		return rule, ruleProblems(problems)
	}
	return c.Rule, nil
}

// handleListRules lists the current version of every rule.
func (s *Server) handleListRules(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.ListRules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views := make([]ruleView, len(list))
	for i, sr := range list {
		views[i] = viewRule(sr)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": views})
}

// handleCreateRule stores version 1 of a rule (or the next version of a
// deleted rule with the id) and publishes it to the engines.
func (s *Server) handleCreateRule(w http.ResponseWriter, r *http.Request) {
	rule, err := s.readRule(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.db.CreateRule(r.Context(), rule, principalFrom(r.Context()).UserID)
	if errors.Is(err, store.ErrConflict) {
		err = problemf(probConflict, "rule %s already exists; change it with PUT /v1/rules/%s", rule.ID, rule.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, auditEntry{action: "rule.create", resourceType: "rule", resourceID: rule.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/rules/"+rule.ID)
	writeJSON(w, http.StatusCreated, viewRule(stored))
}

// handleGetRule returns a rule's current version.
func (s *Server) handleGetRule(w http.ResponseWriter, r *http.Request) {
	stored, err := s.db.GetRule(r.Context(), pathParam(r, "ruleID"))
	if err != nil {
		s.fail(w, r, storeError(err, "such rule"))
		return
	}
	writeJSON(w, http.StatusOK, viewRule(stored))
}

// handleUpdateRule stores the body as the rule's next version and
// publishes it; the engines start it with fresh alert state.
func (s *Server) handleUpdateRule(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "ruleID")
	var rule rules.Rule
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &rule); err != nil {
		s.fail(w, r, err)
		return
	}

	if rule.ID == "" {
		rule.ID = id
	}
	if rule.ID != id {
		s.fail(w, r, invalid(FieldError{"id", "must match the id in the path, " + id}))
		return
	}
	if rule.Version != 0 {
		s.fail(w, r, invalid(FieldError{"version", "is assigned by the server; leave it out"}))
		return
	}

	c, problems := rules.Compile(rule)
	if len(problems) > 0 {
		s.fail(w, r, ruleProblems(problems))
		return
	}
	stored, err := s.db.UpdateRule(r.Context(), c.Rule, principalFrom(r.Context()).UserID)
	if err != nil {
		s.fail(w, r, storeError(err, "such rule; create it with POST /v1/rules"))
		return
	}
	if err := s.audit(r, auditEntry{action: "rule.update", resourceType: "rule", resourceID: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewRule(stored))
}

func (s *Server) handleEnableRule(w http.ResponseWriter, r *http.Request) {
	s.setRuleEnabled(w, r, true)
}

func (s *Server) handleDisableRule(w http.ResponseWriter, r *http.Request) {
	s.setRuleEnabled(w, r, false)
}

// setRuleEnabled enables or disables a rule's current version and
// publishes it; the version number stays.
func (s *Server) setRuleEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	id := pathParam(r, "ruleID")
	stored, err := s.db.SetRuleEnabled(r.Context(), id, enabled)
	if err != nil {
		s.fail(w, r, storeError(err, "such rule"))
		return
	}
	action := "rule.disable"
	if enabled {
		action = "rule.enable"
	}
	if err := s.audit(r, auditEntry{action: action, resourceType: "rule", resourceID: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewRule(stored))
}

// handleDeleteRule deletes a rule and publishes a tombstone, which stops
// it on every engine. Its versions are kept.
func (s *Server) handleDeleteRule(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "ruleID")
	if err := s.db.DeleteRule(r.Context(), id); err != nil {
		s.fail(w, r, storeError(err, "such rule"))
		return
	}
	if err := s.audit(r, auditEntry{action: "rule.delete", resourceType: "rule", resourceID: id}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRuleVersions lists every version of a rule, deleted or not.
func (s *Server) handleRuleVersions(w http.ResponseWriter, r *http.Request) {
	versions, err := s.db.RuleVersions(r.Context(), pathParam(r, "ruleID"))
	if err != nil {
		s.fail(w, r, storeError(err, "such rule"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": versions})
}
