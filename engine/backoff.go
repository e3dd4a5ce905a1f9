package engine

import (
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter.
type backoff struct {
	base, cap time.Duration
	attempt   int
}

func newBackoff(base, cap time.Duration) *backoff { return &backoff{base: base, cap: cap} }

func (b *backoff) next() time.Duration {
	b.attempt++
	d := b.base << min(b.attempt-1, 20)
	if d > b.cap || d <= 0 {
		d = b.cap
	}
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.attempt = 0 }
