package billing

import (
	"sort"
	"time"
)

// span is the half-open time interval [from, to).
type span struct{ from, to time.Time }

// clip returns the part of s within [lo, hi), and false when it is empty.
func (s span) clip(lo, hi time.Time) (span, bool) {
	if s.from.Before(lo) {
		s.from = lo
	}
	if s.to.After(hi) {
		s.to = hi
	}
	return s, s.to.After(s.from)
}

// union returns the spans merged into disjoint spans in time order.
func union(spans []span) []span {
	sorted := append([]span(nil), spans...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].from.Before(sorted[j].from) })
	var out []span
	for _, s := range sorted {
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			if s.to.After(out[n-1].to) {
				out[n-1].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// subtract returns the parts of a not covered by b. Both must be
// disjoint and in time order, as union returns them.
func subtract(a, b []span) []span {
	var out []span
	j := 0
	for _, s := range a {
		for j < len(b) && !b[j].to.After(s.from) {
			j++
		}
		cur := s.from
		for k := j; k < len(b) && b[k].from.Before(s.to); k++ {
			if b[k].from.After(cur) {
				out = append(out, span{cur, b[k].from})
			}
			if b[k].to.After(cur) {
				cur = b[k].to
			}
		}
		if s.to.After(cur) {
			out = append(out, span{cur, s.to})
		}
	}
	return out
}

// length is the total duration of disjoint spans.
func length(spans []span) time.Duration {
	var d time.Duration
	for _, s := range spans {
		d += s.to.Sub(s.from)
	}
	return d
}
