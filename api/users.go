package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// handleListUsers lists every user.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.db.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(users)})
}

// handleGetUser returns one user.
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.db.UserByID(r.Context(), pathParam(r, "userID"))
	if err != nil {
		s.fail(w, r, storeError(err, "such user"))
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleDisableUser(w http.ResponseWriter, r *http.Request) {
	s.setUserDisabled(w, r, true)
}

func (s *Server) handleEnableUser(w http.ResponseWriter, r *http.Request) {
	s.setUserDisabled(w, r, false)
}

// setUserDisabled disables a user, revoking their sessions, or enables
// them again. Administrators cannot disable themselves.
func (s *Server) setUserDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	id := pathParam(r, "userID")
	if disabled && id == principalFrom(r.Context()).UserID {
		s.fail(w, r, problemf(probConflict, "you cannot disable your own account; ask another administrator"))
		return
	}
	u, err := s.db.SetUserDisabled(r.Context(), id, disabled)
	if err != nil {
		s.fail(w, r, storeError(err, "such user"))
		return
	}
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	if err := s.audit(r, auditEntry{action: action, resourceType: "user", resourceID: u.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

type inviteRequest struct {
	Role string `json:"role"`
	// ExpiresIn is a duration such as 72h or 7d.
	ExpiresIn string `json:"expires_in,omitempty"`
}

type inviteResponse struct {
	store.Invite
	// Code is shown once; only its hash is stored.
	Code string `json:"code"`
}

// maxInviteTTL bounds how long an invite can stay usable.
const maxInviteTTL = 30 * 24 * time.Hour

// handleCreateInvite creates a single-use invite for a role. An invite
// for the admin role needs a fresh TOTP code (X-TOTP-Code).
func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request) {
	var req inviteRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if !slices.Contains(userRoles, req.Role) {
		errs = append(errs, FieldError{"role", "must be one of " + strings.Join(userRoles, ", ")})
	}
	ttl, errs := parseDuration("expires_in", req.ExpiresIn, s.cfg.InviteTTL, maxInviteTTL, errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}

	if req.Role == RoleAdmin {
		if err := s.requireFreshTOTP(r); err != nil {
			s.fail(w, r, err)
			return
		}
	}

	code := "inv_" + randomToken(24)
	inv, err := s.db.CreateInvite(r.Context(), hashSecret(code), req.Role, principalFrom(r.Context()).UserID, s.now().Add(ttl))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, auditEntry{action: "invite.create", resourceType: "invite", resourceID: inv.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, inviteResponse{Invite: inv, Code: code})
}

// handleListInvites lists invites without their codes.
func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request) {
	invites, err := s.db.ListInvites(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": nonNil(invites)})
}

// parseDuration reads a duration such as 90m, 24h or 7d, bounded by max;
// empty gives def.
func parseDuration(field, text string, def, max time.Duration, errs []FieldError) (time.Duration, []FieldError) {
	if text == "" {
		return def, errs
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(text, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 100000 {
			d = max + 1
		}
	} else {
		d, err = time.ParseDuration(text)
	}
	switch {
	case err != nil:
		return def, append(errs, FieldError{field, "must be a duration such as 90m, 24h or 7d"})
	case d <= 0 || d > max:
		return def, append(errs, FieldError{field, "must be more than 0 and at most " + formatDays(max)})
	}
	return d, errs
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
