package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
)

// sessionClaims reads the claims of a real token without verifying it, so
// forged tokens can name a live user and session.
func sessionClaims(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestTokenAttacksAnswer401(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	real := e.login("nurse@example.org", "").AccessToken
	if res := e.do("GET", "/v1/me", real, nil); res.status != http.StatusOK {
		t.Fatalf("real token: status %d, want 200: %s", res.status, res.body)
	}
	base := sessionClaims(t, real)
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range base {
			c[k] = v
		}
		edit(c)
		return c
	}
	public := e.key.Public().(ed25519.PublicKey)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	now := time.Now()

	cases := []struct {
		name  string
		token string
	}{
		{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, with(func(jwt.MapClaims) {}))},
		{"hs256 signed with public key", forge(t, jwt.SigningMethodHS256, []byte(public), with(func(jwt.MapClaims) {}))},
		{"no exp", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"expired", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(-time.Minute).Unix()
		}))},
		{"no iat", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) { delete(c, "iat") }))},
		{"no jti", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{"wrong signature", forge(t, jwt.SigningMethodEdDSA, otherKey, with(func(jwt.MapClaims) {}))},
		{"wrong audience", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) { c["aud"] = "other" }))},
		{"unknown session", forge(t, jwt.SigningMethodEdDSA, e.key, with(func(c jwt.MapClaims) { c["sid"] = "00000000-0000-4000-8000-000000000000" }))},
		{"tampered payload", tamper(real)},
		{"garbage", "not.a.token"},
	}
	for _, c := range cases {
		res := e.do("GET", "/v1/me", c.token, nil)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", c.name, res.status, res.body)
			continue
		}
		if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/unauthorized" {
			t.Errorf("%s: problem type %q, want .../unauthorized", c.name, p.Type)
		}
		if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", c.name, res.header.Get("WWW-Authenticate"))
		}
	}
	if res := e.do("GET", "/v1/me", "", nil); res.status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", res.status)
	}
}

// tamper changes the role in a token's payload, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload, _ := jwt.NewParser().DecodeSegment(parts[1])
	changed := strings.Replace(string(payload), `"role":"clinician"`, `"role":"admin"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

func TestLogoutRevokesTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	tk := e.login("nurse@example.org", "")
	other := e.login("nurse@example.org", "")
	if res := e.do("POST", "/v1/auth/logout", tk.AccessToken, nil); res.status != http.StatusNoContent {
		t.Fatalf("logout: status %d: %s", res.status, res.body)
	}
	if res := e.do("GET", "/v1/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
		t.Errorf("access token after logout: status %d, want 401", res.status)
	}
	if res := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}); res.status != http.StatusUnauthorized {
		t.Errorf("refresh token after logout: status %d, want 401", res.status)
	}
	if res := e.do("GET", "/v1/me", other.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("another session's token after logout: status %d, want 200", res.status)
	}
}

func TestPasswordChangeRevokesEverySession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	first := e.login("nurse@example.org", "")
	second := e.login("nurse@example.org", "")
	res := e.do("POST", "/v1/auth/password", first.AccessToken, map[string]string{
		"current_password": testPassword, "new_password": "a much longer new passphrase"})
	if res.status != http.StatusNoContent {
		t.Fatalf("password change: status %d: %s", res.status, res.body)
	}
	for name, tk := range map[string]tokens{"first": first, "second": second} {
		if res := e.do("GET", "/v1/me", tk.AccessToken, nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s session's access token: status %d, want 401", name, res.status)
		}
		if res := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}); res.status != http.StatusUnauthorized {
			t.Errorf("%s session's refresh token: status %d, want 401", name, res.status)
		}
	}
	res = e.do("POST", "/v1/auth/login", "", map[string]string{"email": "nurse@example.org", "password": "a much longer new passphrase"})
	if res.status != http.StatusOK {
		t.Errorf("login with the new password: status %d, want 200", res.status)
	}
	res = e.do("POST", "/v1/auth/login", "", map[string]string{"email": "nurse@example.org", "password": testPassword})
	if res.status != http.StatusUnauthorized {
		t.Errorf("login with the old password: status %d, want 401", res.status)
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("nurse@example.org", "clinician")
	first := e.login("nurse@example.org", "")

	res := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	if res.status != http.StatusOK {
		t.Fatalf("refresh: status %d: %s", res.status, res.body)
	}
	var second tokens
	res.decode(t, &second)
	if second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
		t.Errorf("refresh returned refresh token %q, want a new one", second.RefreshToken)
	}
	if res := e.do("GET", "/v1/me", second.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("refreshed access token: status %d, want 200", res.status)
	}

	// The first refresh token again: someone replays it.
	if res := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}); res.status != http.StatusUnauthorized {
		t.Errorf("reused refresh token: status %d, want 401", res.status)
	}
	// The reuse revoked the whole session.
	if res := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}); res.status != http.StatusUnauthorized {
		t.Errorf("newest refresh token after reuse: status %d, want 401", res.status)
	}
	if res := e.do("GET", "/v1/me", second.AccessToken, nil); res.status != http.StatusUnauthorized {
		t.Errorf("access token after reuse: status %d, want 401", res.status)
	}
}

func TestAdminLoginNeedsTOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")

	res := e.do("POST", "/v1/auth/login", "", map[string]string{"email": "admin@example.org", "password": testPassword})
	if res.status != http.StatusUnauthorized {
		t.Fatalf("admin login without a code: status %d, want 401", res.status)
	}
	if p := res.problem(t); p.Type != "https://vytalwatch.dev/problems/totp-required" {
		t.Errorf("problem type %q, want .../totp-required", p.Type)
	}
	res = e.do("POST", "/v1/auth/login", "", map[string]string{"email": "admin@example.org", "password": testPassword, "totp_code": "000000"})
	if res.status != http.StatusUnauthorized {
		t.Errorf("admin login with a wrong code: status %d, want 401", res.status)
	}
	code := totpCode(t, secret, 0)
	tk := e.login("admin@example.org", code)
	if res := e.do("GET", "/v1/users", tk.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("admin with TOTP lists users: status %d, want 200: %s", res.status, res.body)
	}
	// The same code a second time is a replay.
	res = e.do("POST", "/v1/auth/login", "", map[string]string{"email": "admin@example.org", "password": testPassword, "totp_code": code})
	if res.status != http.StatusUnauthorized {
		t.Errorf("admin login replaying a code: status %d, want 401", res.status)
	}
}

func TestAdminWithoutTOTPCanOnlyEnroll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.user("admin@example.org", "admin")
	tk := e.login("admin@example.org", "")
	if !tk.EnrollOnly {
		t.Error("login of an admin without TOTP is not enroll_only")
	}
	if res := e.do("GET", "/v1/users", tk.AccessToken, nil); res.status != http.StatusForbidden {
		t.Errorf("enroll-only token lists users: status %d, want 403", res.status)
	}
	res := e.do("POST", "/v1/auth/totp/enroll", tk.AccessToken, nil)
	if res.status != http.StatusOK {
		t.Fatalf("enroll: status %d: %s", res.status, res.body)
	}
	var enrollment struct {
		Secret     string `json:"secret"`
		OTPAuthURL string `json:"otpauth_url"`
	}
	res.decode(t, &enrollment)
	if !strings.HasPrefix(enrollment.OTPAuthURL, "otpauth://totp/VytalWatch:admin@example.org?") {
		t.Errorf("otpauth_url = %q", enrollment.OTPAuthURL)
	}
	res = e.do("POST", "/v1/auth/totp/confirm", tk.AccessToken, map[string]string{"code": totpCode(t, enrollment.Secret, 0)})
	if res.status != http.StatusNoContent {
		t.Fatalf("confirm: status %d: %s", res.status, res.body)
	}
	full := e.login("admin@example.org", totpCode(t, enrollment.Secret, 1))
	if full.EnrollOnly {
		t.Error("login with TOTP is still enroll_only")
	}
	if res := e.do("GET", "/v1/users", full.AccessToken, nil); res.status != http.StatusOK {
		t.Errorf("admin with TOTP lists users: status %d, want 200", res.status)
	}
}

func TestSigningKeyPEMRoundTrip(t *testing.T) {
	key := api.GenerateSigningKey()
	pemText, err := api.EncodeSigningKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := api.ParseSigningKey(pemText)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(back) {
		t.Error("parsed key differs from the encoded one")
	}
	if _, err := api.ParseSigningKey([]byte("not pem")); err == nil {
		t.Error("parsed a non-PEM key")
	}
}

func TestPasswordHashKeepsItsParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// A hash made with the production parameters verifies under a server
	// configured with other ones, because each hash carries its own.
	hash := api.HashPassword(testPassword, api.PasswordParams{})
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("default hash %q, want the m=65536,t=3,p=2 parameters", hash)
	}
	if _, err := e.db.CreateUser(context.Background(), store.NewUser{Email: "old@example.org", Role: "clinician", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	e.login("old@example.org", "")
	res := e.do("POST", "/v1/auth/login", "", map[string]string{"email": "old@example.org", "password": testPassword + "x"})
	if res.status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", res.status)
	}
}

// After five wrong TOTP codes, even the right one is refused for a while,
// so that the million codes cannot be tried one after another.
func TestWrongTOTPCodesLockTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	_, secret := e.adminWithTOTP("admin@example.org")
	wrong := wrongCode(t, secret, time.Now())
	for i := range 5 {
		res := e.do("POST", "/v1/auth/login", "", map[string]string{"email": "admin@example.org", "password": testPassword, "totp_code": wrong})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d, want 401: %s", i+1, res.status, res.body)
		}
	}
	res := e.do("POST", "/v1/auth/login", "", map[string]string{"email": "admin@example.org", "password": testPassword,
		"totp_code": totpCode(t, secret, 0)})
	want := "too many wrong TOTP codes for this account; try again in 15 minutes"
	if p := res.problem(t); res.status != http.StatusTooManyRequests || p.Detail != want {
		t.Errorf("right code after five wrong ones: status %d detail %q, want 429 %q", res.status, p.Detail, want)
	}
	if retry, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || retry < 850 || retry > 900 {
		t.Errorf("Retry-After = %q, want the seconds left of 15 minutes", res.header.Get("Retry-After"))
	}
}
