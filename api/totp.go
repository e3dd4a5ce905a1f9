package api

import (
	"context"
	"net/http"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP follows RFC 6238 as authenticator apps use it: SHA-1, 6 digits,
// 30-second steps, and one step of clock skew accepted either way.
const (
	totpPeriod = 30
	totpSkew   = 1
	totpIssuer = "VytalWatch"
)

// totpStepOpts checks a code against one time step; checkTOTP walks the
// accepted skew itself, to learn which step matched.
var totpStepOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// newTOTPKey generates a secret for the account.
func newTOTPKey(account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: account, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// checkTOTP verifies a code against the user's secret and records its
// time step, so a code is accepted once at most: a replayed code is
// rejected even inside its 30 seconds.
//
// After too many wrong codes it returns a rate-limited problem without
// checking the code; see totpGuard.
func (s *Server) checkTOTP(ctx context.Context, userID, secret, code string) (bool, error) {
	now := s.now()
	if wait := s.totpFailures.wait(userID, now); wait > 0 {
		locked := problemf(probRateLimited, "too many wrong TOTP codes for this account; try again in %d minutes",
			int((wait+time.Minute-1)/time.Minute))
		locked.retryAfter = wait
		return false, locked
	}
	ok, err := s.verifyTOTP(ctx, userID, secret, code, now)
	if err != nil {
		return false, err
	}
	if ok {
		s.totpFailures.succeed(userID)
	} else {
		s.totpFailures.fail(userID, now)
	}
	return ok, nil
}

// verifyTOTP checks a code against the steps around now and uses the
// step it matches.
func (s *Server) verifyTOTP(ctx context.Context, userID, secret, code string, now time.Time) (bool, error) {
	if secret == "" || len(code) != 6 {
		return false, nil
	}
	for skew := -totpSkew; skew <= totpSkew; skew++ {
		at := now.Add(time.Duration(skew*totpPeriod) * time.Second)
		ok, err := totp.ValidateCustom(code, secret, at, totpStepOpts)
		if err != nil || !ok {
			continue
		}
		return s.db.UseTOTPStep(ctx, userID, at.Unix()/totpPeriod)
	}
	return false, nil
}

// TOTPCode returns the current code of a base32 secret, for the
// `vytalwatch totp code` command that lets curl users log in as the demo
// administrator.
func TOTPCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totpStepOpts)
}

// totpHeader carries the code of a step-up check.
const totpHeader = "X-TOTP-Code"

// requireFreshTOTP checks the X-TOTP-Code header against the caller's
// secret, for actions that need a second factor at the moment they
// happen, such as creating an administrator invite or rotating an API
// key. A caller without TOTP enrolled cannot pass it.
func (s *Server) requireFreshTOTP(r *http.Request) error {
	p := principalFrom(r.Context())
	if p.UserID == "" {
		return problemf(probForbidden, "this action needs a user with TOTP, not an API key")
	}
	u, err := s.db.UserByID(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	if !u.TOTPConfirmed {
		return problemf(probForbidden, "this action needs TOTP, which this account has not set up: enroll with POST /v1/auth/totp/enroll, "+
			"confirm with POST /v1/auth/totp/confirm, then send a current code in the %s header", totpHeader)
	}
	code := r.Header.Get(totpHeader)
	if code == "" {
		return problemf(probStepUpRequired, "this action needs a current TOTP code in the %s header", totpHeader)
	}
	ok, err := s.checkTOTP(r.Context(), u.ID, u.TOTPSecret, code)
	if err != nil {
		return err
	}
	if !ok {
		return problemf(probStepUpRequired, "the TOTP code in %s is wrong, expired or already used; send the current code", totpHeader)
	}
	return nil
}
