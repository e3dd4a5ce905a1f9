package api

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// tokenResponse is what login and refresh return.
type tokenResponse struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	// EnrollOnly is set for an administrator without TOTP, whose token
	// only enrolls it.
	EnrollOnly bool `json:"enroll_only,omitempty"`
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTPCode string `json:"totp_code,omitempty"`
}

// handleLogin checks a password (and a TOTP code when the user has TOTP)
// and starts a session. Administrators must pass TOTP; one who has not
// enrolled yet gets a token that can only enroll.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	email := normalizeEmail(req.Email)
	if email == "" || req.Password == "" {
		s.fail(w, r, invalid(FieldError{"email", "email and password are required"}))
		return
	}
	if len(req.Password) > 4*maxPasswordLength {
		s.fail(w, r, unauthorized("the email or password is wrong"))
		return
	}
	u, err := s.db.UserByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same time as for a known user.
		_, _ = verifyPassword(req.Password, dummyHash())
		s.loginDenied(w, r, "", unauthorized("the email or password is wrong"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok, err := verifyPassword(req.Password, u.PasswordHash)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.loginDenied(w, r, u.ID, unauthorized("the email or password is wrong"))
		return
	}
	if u.DisabledAt != nil {
		s.loginDenied(w, r, u.ID, unauthorized("the account is disabled; ask an administrator"))
		return
	}
	mfa := false
	if u.TOTPConfirmed {
		if req.TOTPCode == "" {
			s.loginDenied(w, r, u.ID, problemf(probTOTPRequired, "this account has TOTP; send the current code as totp_code"))
			return
		}
		if mfa, err = s.checkTOTP(r.Context(), u.ID, u.TOTPSecret, req.TOTPCode); err != nil {
			s.fail(w, r, err)
			return
		}
		if !mfa {
			s.loginDenied(w, r, u.ID, problemf(probTOTPRequired, "the TOTP code is wrong, expired or already used; send the current code"))
			return
		}
	}
	resp, err := s.startSession(r, u, mfa)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// loginDenied audits a failed login and responds with the error.
func (s *Server) loginDenied(w http.ResponseWriter, r *http.Request, userID string, response error) {
	if err := s.audit(r, auditEntry{action: "auth.login", resourceType: "user", resourceID: userID, outcome: store.OutcomeDenied}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, response)
}

// startSession creates a session with a refresh token and issues the
// first access token.
func (s *Server) startSession(r *http.Request, u store.User, mfa bool) (tokenResponse, error) {
	refresh := "vwr_" + randomToken(32)
	refreshExpires := s.now().Add(s.cfg.RefreshTTL)
	session, err := s.db.CreateSession(r.Context(), u.ID, mfa, hashSecret(refresh), refreshExpires)
	if err != nil {
		return tokenResponse{}, err
	}
	resp, err := s.accessToken(u, session, refresh, refreshExpires)
	if err != nil {
		return resp, err
	}
	// The login is audited as the user it authenticated.
	r = r.WithContext(withPrincipal(r.Context(), &Principal{UserID: u.ID, Role: u.Role}))
	return resp, s.audit(r, auditEntry{action: "auth.login", resourceType: "user", resourceID: u.ID})
}

// accessToken issues an access token for a session. An administrator's
// session without TOTP gets an enroll-only token.
func (s *Server) accessToken(u store.User, session store.Session, refresh string, refreshExpires time.Time) (tokenResponse, error) {
	enrollOnly := u.Role == RoleAdmin && !session.MFA
	token, claims, err := s.tokens.issue(u.ID, u.Role, session.ID, session.MFA, enrollOnly, s.cfg.AccessTTL)
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{
		AccessToken: token, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL.Seconds()), ExpiresAt: claims.ExpiresAt.Time.UTC(),
		RefreshToken: refresh, RefreshExpiresAt: refreshExpires.UTC().Truncate(time.Second), EnrollOnly: enrollOnly,
	}, nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// handleRefresh exchanges a refresh token for a new access token and a
// new refresh token. Each refresh token works once; presenting a used one
// again revokes the whole session, because someone else holds a copy.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.RefreshToken == "" {
		s.fail(w, r, invalid(FieldError{"refresh_token", "is required"}))
		return
	}
	next := "vwr_" + randomToken(32)
	nextExpires := s.now().Add(s.cfg.RefreshTTL)
	session, err := s.db.RotateRefresh(r.Context(), hashSecret(req.RefreshToken), hashSecret(next), nextExpires)
	switch {
	case errors.Is(err, store.ErrRefreshReused):
		s.logger.Warn("refresh token reused; session revoked", "session_id", session.ID, "user_id", session.UserID)
		s.fail(w, r, unauthorized("this refresh token was already used, so the session is revoked; log in again"))
		return
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, unauthorized("the refresh token is invalid, expired or revoked; log in again"))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	u, err := s.db.UserByID(r.Context(), session.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.DisabledAt != nil {
		s.fail(w, r, unauthorized("the account is disabled; ask an administrator"))
		return
	}
	resp, err := s.accessToken(u, session, next, nextExpires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleLogout revokes the session of the access token, with every token
// issued under it, and the access token itself by its id.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := s.db.RevokeSession(r.Context(), p.SessionID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.RevokeToken(r.Context(), p.TokenID, p.ExpiresAt); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// handleChangePassword sets a new password and revokes every session of
// the user, this one included.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if msg := checkPassword(req.NewPassword); msg != "" {
		s.fail(w, r, invalid(FieldError{"new_password", msg}))
		return
	}
	p := principalFrom(r.Context())
	u, err := s.db.UserByID(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok, err := verifyPassword(req.CurrentPassword, u.PasswordHash)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, invalid(FieldError{"current_password", "is wrong"}))
		return
	}
	if err := s.db.ChangePassword(r.Context(), u.ID, hashPassword(req.NewPassword, s.cfg.PasswordParams)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, auditEntry{action: "auth.password_change", resourceType: "user", resourceID: u.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type registerRequest struct {
	InviteCode string `json:"invite_code"`
	Email      string `json:"email"`
	Password   string `json:"password"`
}

// handleRegister creates an account from an invite code. The code works
// once, before it expires, and the account gets the invite's role.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	email := normalizeEmail(req.Email)
	if _, err := mail.ParseAddress(email); err != nil || email == "" || len(email) > 254 || strings.ContainsAny(email, "<> ") {
		errs = append(errs, FieldError{"email", "must be a plain email address such as nurse@example.org"})
	}
	if msg := checkPassword(req.Password); msg != "" {
		errs = append(errs, FieldError{"password", msg})
	}
	if req.InviteCode == "" {
		errs = append(errs, FieldError{"invite_code", "is required; an administrator creates invites"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid(errs...))
		return
	}
	u, err := s.db.RedeemInvite(r.Context(), hashSecret(req.InviteCode), email, hashPassword(req.Password, s.cfg.PasswordParams))
	switch {
	case errors.Is(err, store.ErrInviteInvalid):
		err = invalid(FieldError{"invite_code", "is unknown, already used or expired; ask an administrator for a new invite"})
	case errors.Is(err, store.ErrConflict):
		err = problemf(probConflict, "an account with this email already exists; log in instead")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	r = r.WithContext(withPrincipal(r.Context(), &Principal{UserID: u.ID, Role: u.Role}))
	if err := s.audit(r, auditEntry{action: "auth.register", resourceType: "user", resourceID: u.ID}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

type totpEnrollResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// handleTOTPEnroll creates a TOTP secret for the caller; it takes effect
// once confirmed with a code.
func (s *Server) handleTOTPEnroll(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	u, err := s.db.UserByID(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u.TOTPConfirmed {
		s.fail(w, r, problemf(probConflict, "TOTP is already enabled for this account"))
		return
	}
	key, err := newTOTPKey(u.Email)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SetTOTPSecret(r.Context(), u.ID, key.Secret()); err != nil {
		s.fail(w, r, storeError(err, "TOTP"))
		return
	}
	writeJSON(w, http.StatusOK, totpEnrollResponse{Secret: key.Secret(), OTPAuthURL: key.URL()})
}

type totpConfirmRequest struct {
	Code string `json:"code"`
}

// handleTOTPConfirm enables TOTP once the caller shows a valid code.
// Administrators then log in again, with the code, for full access.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	var req totpConfirmRequest
	if err := decodeJSON(w, r, s.cfg.BodyLimit, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	u, err := s.db.UserByID(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case u.TOTPConfirmed:
		s.fail(w, r, problemf(probConflict, "TOTP is already enabled for this account"))
		return
	case u.TOTPSecret == "":
		s.fail(w, r, problemf(probConflict, "no TOTP secret to confirm; call POST /v1/auth/totp/enroll first"))
		return
	}
	ok, err := s.checkTOTP(r.Context(), u.ID, u.TOTPSecret, req.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.fail(w, r, invalid(FieldError{"code", "is wrong, expired or already used; send the current code from your authenticator"}))
		return
	}
	if err := s.db.ConfirmTOTP(r.Context(), u.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleMe returns the caller's account.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, err := s.db.UserByID(r.Context(), principalFrom(r.Context()).UserID)
	if err != nil {
		s.fail(w, r, storeError(err, "such user"))
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
