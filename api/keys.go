package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// API keys read "vwk_" + 12 hex digits of prefix + "_" + 43 characters of
// base64url secret (32 random bytes). The prefix finds the stored key;
// the SHA-256 of the whole key must match its hash.
const (
	apiKeyTag       = "vwk_"
	apiKeyPrefixLen = 12
)

// maxAPIKeyTTL bounds how long a key can live; maxAPIKeyOverlap bounds
// how long a rotated key keeps working.
const (
	maxAPIKeyTTL     = 2 * 365 * 24 * time.Hour
	maxAPIKeyOverlap = 30 * 24 * time.Hour
)

// apiKeyRoles are the roles an API key can have: devices ingest, and
// monitoring systems (sre) scrape /metrics.
// NOTE: a device key may ingest readings for any patient id; keys are
// not bound to patients yet.
var apiKeyRoles = []string{RoleDevice, RoleSRE}

func newAPIKey() (key, prefix string) {
	prefix = hex.EncodeToString(randomBytes(apiKeyPrefixLen / 2))
	return apiKeyTag + prefix + "_" + randomToken(32), prefix
}

// apiKeyPrefix returns the prefix of a well-formed key.
func apiKeyPrefix(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, apiKeyTag)
	if !ok || len(rest) < apiKeyPrefixLen+2 || rest[apiKeyPrefixLen] != '_' {
		return "", false
	}
	prefix := rest[:apiKeyPrefixLen]
	if _, err := hex.DecodeString(prefix); err != nil {
		return "", false
	}
	return prefix, true
}

type apiKeyRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// ExpiresIn is a duration such as 720h or 365d.
	ExpiresIn string `json:"expires_in,omitempty"`
}

type apiKeyResponse struct {
	store.APIKey
	// Key is shown once; only its hash is stored.
	Key string `json:"key"`
}

// handleCreateAPIKey creates a key and shows its secret once.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req apiKeyRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		errs = append(errs, FieldError{"name", "is required, at most 100 characters, such as \"ward-3 gateway\""})
	}
	if req.Role == "" {
		req.Role = RoleDevice
	}
	if !slices.Contains(apiKeyRoles, req.Role) {
		errs = append(errs, FieldError{"role", "must be device or sre"})
	}
	ttl, errs := parseDuration("expires_in", req.ExpiresIn, s.cfg.APIKeyTTL, maxAPIKeyTTL, errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	key, prefix := newAPIKey()
	creator := principalFrom(r.Context()).UserID
	k, err := s.db.CreateAPIKey(r.Context(), store.APIKey{Name: req.Name, Prefix: prefix, Hash: hashSecret(key), Role: req.Role,
		CreatedBy: &creator, ExpiresAt: s.now().Add(ttl)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, auditEntry{action: "api_key.create", resourceType: "api_key", resourceID: k.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiKeyResponse{APIKey: k, Key: key})
}

// handleListAPIKeys lists keys without secrets.
func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.db.ListAPIKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(keys)})
}

type rotateRequest struct {
	// Overlap is how long the old key keeps working, such as 24h.
	Overlap string `json:"overlap,omitempty"`
	// ExpiresIn is the new key's lifetime.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// handleRotateAPIKey creates the successor of a key; the old key works
// for the overlap more (24h by default) so devices can switch. Rotation
// needs a fresh TOTP code (X-TOTP-Code). An empty body takes the
// defaults.
func (s *Server) handleRotateAPIKey(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	overlap, errs := parseDuration("overlap", req.Overlap, s.cfg.APIKeyOverlap, maxAPIKeyOverlap, nil)
	ttl, errs := parseDuration("expires_in", req.ExpiresIn, s.cfg.APIKeyTTL, maxAPIKeyTTL, errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	if err := s.requireFreshTOTP(r); err != nil {
		s.fail(w, r, err)
		return
	}
	key, prefix := newAPIKey()
	creator := principalFrom(r.Context()).UserID
	now := s.now()
	k, err := s.db.RotateAPIKey(r.Context(), pathParam(r, "keyID"),
		store.APIKey{Prefix: prefix, Hash: hashSecret(key), CreatedBy: &creator, ExpiresAt: now.Add(ttl)}, now.Add(overlap))
	if errors.Is(err, store.ErrNotFound) {
		err = problemf(probNotFound, "no active API key with this id; revoked and expired keys cannot be rotated")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, auditEntry{action: "api_key.rotate", resourceType: "api_key", resourceID: k.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiKeyResponse{APIKey: k, Key: key})
}

// handleRevokeAPIKey revokes a key at once.
func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.db.RevokeAPIKey(r.Context(), pathParam(r, "keyID"))
	if err != nil {
		s.fail(w, r, storeError(err, "such API key"))
		return
	}
	if err := s.audit(r, auditEntry{action: "api_key.revoke", resourceType: "api_key", resourceID: k.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}
