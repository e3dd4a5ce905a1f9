package vytalwatch

import (
	"slices"
	"time"
)

// NewestPlausible returns the time of ts that has the most of ts within
// span before it, the newest on a tie. That is a history's newest time,
// unless a few times lie far ahead of the rest, as a mistyped year does.
// ts is sorted in place. It returns the zero time for no times.
func NewestPlausible(ts []time.Time, span time.Duration) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, bestCount := ts[len(ts)-1], 0
	oldest := 0 // index of the oldest time within span of ts[i]
	for i, t := range ts {
		for moreThanBefore(ts[oldest], t, span) {
			oldest++
		}
		if count := i - oldest + 1; count >= bestCount {
			best, bestCount = t, count
		}
	}
	return best
}

// moreThanBefore reports whether old is more than span before t. It
// compares seconds because a time.Duration overflows beyond about 292
// years, which a recording from a shifted clock can exceed.
func moreThanBefore(old, t time.Time, span time.Duration) bool {
	return t.Unix()-old.Unix() > int64(span/time.Second)
}
