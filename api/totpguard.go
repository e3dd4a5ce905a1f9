package api

import (
	"sync"
	"time"
)

// Limits of wrong TOTP codes. A code has a million values, so a user gets
// maxTOTPFailures wrong codes in totpFailureWindow. After that, every TOTP
// check of the user fails until the oldest failure leaves the window.
const (
	maxTOTPFailures   = 5
	totpFailureWindow = 15 * time.Minute
)

// totpGuard counts each user's wrong TOTP codes, at login and at step-up
// alike.
//
// NOTE: the counts live in the process, so each API instance allows
// maxTOTPFailures of its own, and a restart clears them.
type totpGuard struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

// wait returns how long the user must wait before the next TOTP check,
// zero when the user may try now.
func (g *totpGuard) wait(userID string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	recent := g.prune(userID, now)
	if len(recent) < maxTOTPFailures {
		return 0
	}
	return recent[0].Add(totpFailureWindow).Sub(now)
}

// fail records a wrong code.
func (g *totpGuard) fail(userID string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures == nil {
		g.failures = map[string][]time.Time{}
	}
	g.failures[userID] = append(g.prune(userID, now), now)
}

// succeed clears the user's wrong codes.
func (g *totpGuard) succeed(userID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.failures, userID)
}

// prune drops the user's failures older than the window and returns the
// rest, oldest first. The caller holds mu.
func (g *totpGuard) prune(userID string, now time.Time) []time.Time {
	recent := g.failures[userID]
	for len(recent) > 0 && now.Sub(recent[0]) >= totpFailureWindow {
		recent = recent[1:]
	}
	if len(recent) == 0 {
		delete(g.failures, userID)
		return nil
	}
	g.failures[userID] = recent
	return recent
}
