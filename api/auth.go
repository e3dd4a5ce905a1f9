package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// Roles.
const (
	RoleClinician = "clinician"
	RoleBilling   = "billing"
	RoleAdmin     = "admin"
	RoleSRE       = "sre"
	RoleDevice    = "device"
)

// userRoles are the roles of staff accounts; device (and sre, for
// monitoring) are also roles of API keys.
var userRoles = []string{RoleClinician, RoleBilling, RoleAdmin, RoleSRE}

// Principal is the authenticated caller: a user with an access token, or
// an API key.
type Principal struct {
	UserID    string
	KeyID     string
	Role      string
	SessionID string
	TokenID   string
	ExpiresAt time.Time
	// MFA is set when the login passed a TOTP check.
	MFA bool
	// EnrollOnly limits an administrator without TOTP to enrolling it.
	EnrollOnly bool
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's caller; the zero Principal when
// the route is public.
func principalFrom(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok {
		return p
	}
	return &Principal{}
}

// unauthorized is the problem of a missing or rejected credential. The
// detail never says which check failed beyond what the caller can fix.
func unauthorized(detail string) *apiError {
	return problemf(probUnauthorized, "%s", detail)
}

// authenticate requires a valid bearer token or API key and puts the
// caller in the request context. The live stream also takes the token
// from ?access_token=, for EventSource clients that cannot set headers.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principalOf(r, r.URL.Path == streamPath)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vytalwatch", error="invalid_token"`)
			s.fail(w, r, err)
			return
		}
		if p.EnrollOnly && !enrollOnlyPaths[r.URL.Path] {
			s.fail(w, r, problemf(probForbidden, "administrators need TOTP: enroll with POST /v1/auth/totp/enroll, confirm it, then log in again"))
			return
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// enrollOnlyPaths are what an administrator without TOTP may call.
var enrollOnlyPaths = map[string]bool{
	"/v1/auth/totp/enroll": true, "/v1/auth/totp/confirm": true, "/v1/auth/logout": true, "/v1/me": true,
}

func (s *Server) principalOf(r *http.Request, allowQueryToken bool) (*Principal, error) {
	scheme, credential, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	credential = strings.TrimSpace(credential)
	switch {
	case strings.EqualFold(scheme, "Bearer") && credential != "":
		return s.principalForToken(r.Context(), credential)
	case strings.EqualFold(scheme, "ApiKey") && credential != "":
		return s.principalForKey(r.Context(), credential)
	case scheme == "" && allowQueryToken && r.URL.Query().Get("access_token") != "":
		return s.principalForToken(r.Context(), r.URL.Query().Get("access_token"))
	case scheme == "":
		return nil, unauthorized("send an access token as Authorization: Bearer <token> (POST /v1/auth/login issues one), or a device API key as Authorization: ApiKey <key>")
	}
	return nil, unauthorized("the Authorization header must be Bearer <token> or ApiKey <key>")
}

// principalForToken verifies an access token and checks it against the
// database: the session and the token must not be revoked, the user must
// be active, and the token must be newer than the last password change.
func (s *Server) principalForToken(ctx context.Context, token string) (*Principal, error) {
	c, err := s.tokens.verify(token)
	if err != nil {
		s.logger.Debug("access token rejected", "reason", err)
		return nil, unauthorized("the access token is invalid or expired; log in again or use your refresh token")
	}
	state, err := s.db.CheckAccess(ctx, c.Subject, c.SessionID, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized("the access token's session no longer exists; log in again")
	}
	if err != nil {
		return nil, err
	}
	// iat has whole seconds, so compare with the change's second: a token
	// issued in the same second as a password change passes this check,
	// but the change revoked its session anyway.
	switch {
	case state.Disabled:
		return nil, unauthorized("the account is disabled; ask an administrator")
	case state.SessionRevoked, state.TokenRevoked:
		return nil, unauthorized("the access token was revoked; log in again")
	case c.IssuedAt.Before(state.PasswordChangedAt.Truncate(time.Second)):
		return nil, unauthorized("the password changed after this token was issued; log in again")
	}
	return &Principal{
		UserID: c.Subject, Role: state.Role, SessionID: c.SessionID, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time,
		MFA: c.MFA, EnrollOnly: c.EnrollOnly || (state.Role == RoleAdmin && !c.MFA),
	}, nil
}

// principalForKey checks an API key: "vwk_<prefix>_<secret>", looked up
// by prefix and compared by SHA-256 in constant time. Revoked and expired
// keys are rejected.
func (s *Server) principalForKey(ctx context.Context, key string) (*Principal, error) {
	reject := unauthorized("the API key is invalid, revoked or expired; ask an administrator for a new one")
	prefix, ok := apiKeyPrefix(key)
	if !ok {
		return nil, reject
	}
	k, err := s.db.APIKeyByPrefix(ctx, prefix)
	if errors.Is(err, store.ErrNotFound) {
		return nil, reject
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(hashSecret(key), k.Hash) != 1 || k.RevokedAt != nil || !k.ExpiresAt.After(s.now()) {
		return nil, reject
	}
	return &Principal{KeyID: k.ID, Role: k.Role, ExpiresAt: k.ExpiresAt}, nil
}

// requireRoles responds 403 to callers whose role is not listed.
func requireRoles(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principalFrom(r.Context())
			if !slices.Contains(roles, p.Role) {
				writeProblem(w, r, problemf(probForbidden, "the %s role cannot do this; it needs one of: %s", p.Role, strings.Join(roles, ", ")))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// rateKey keys the per-token rate limit by user or API key.
func rateKey(r *http.Request) (string, error) {
	p := principalFrom(r.Context())
	if p.KeyID != "" {
		return "key:" + p.KeyID, nil
	}
	return "user:" + p.UserID, nil
}
