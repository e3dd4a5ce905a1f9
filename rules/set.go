package rules

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Set is an immutable collection of compiled rules, at most one version
// per rule id. The engine swaps whole sets between batches.
type Set struct {
	rules    []*Compiled
	byID     map[string]*Compiled
	byMetric map[string][]*Compiled
}

// NewSet builds a set. It rejects two rules with one id.
func NewSet(rules []*Compiled) (*Set, error) {
	s := &Set{byID: map[string]*Compiled{}, byMetric: map[string][]*Compiled{}}
	for _, r := range rules {
		if _, dup := s.byID[r.Rule.ID]; dup {
			return nil, fmt.Errorf("rule set: rule id %q appears twice", r.Rule.ID)
		}
		s.byID[r.Rule.ID] = r
		s.rules = append(s.rules, r)
	}
	sort.Slice(s.rules, func(i, j int) bool { return s.rules[i].Rule.ID < s.rules[j].Rule.ID })
	for _, r := range s.rules {
		if !r.Rule.IsEnabled() {
			continue
		}
		for i, m := range r.Rule.Metrics {
			// A metric listed twice must not evaluate the rule twice.
			if !slices.Contains(r.Rule.Metrics[:i], m) {
				s.byMetric[m] = append(s.byMetric[m], r)
			}
		}
	}
	return s, nil
}

// MustSet is NewSet for rule lists known to be valid, such as built-in
// packs.
func MustSet(rules []*Compiled) *Set {
	s, err := NewSet(rules)
	if err != nil {
		panic(err)
	}
	return s
}

// Rules returns the rules in id order.
func (s *Set) Rules() []*Compiled { return s.rules }

// Len returns the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Get returns the rule with the id.
func (s *Set) Get(id string) (*Compiled, bool) {
	r, ok := s.byID[id]
	return r, ok
}

// Retention returns how long samples of metric must be kept: the longest
// window any rule reads it over.
func (s *Set) Retention(metric string) time.Duration {
	var longest time.Duration
	for _, r := range s.rules {
		if w, ok := r.Windows[metric]; ok && w > longest {
			longest = w
		}
	}
	return longest
}

// Bound is a set whose rules are bound to one evaluation context.
type Bound struct {
	Set       *Set
	Context   *EvalContext
	instances map[*Compiled]*Instance
	byMetric  map[string][]*Instance
	clock     []*Instance
	billing   []*Instance
}

// Bind compiles every enabled rule of the set for ctx. prev, when not
// nil, supplies instances of unchanged rules, so a rule update recompiles
// only what changed.
func (s *Set) Bind(ctx *EvalContext, prev *Bound) (*Bound, error) {
	b := &Bound{Set: s, Context: ctx, instances: map[*Compiled]*Instance{}, byMetric: map[string][]*Instance{}}
	for _, r := range s.rules {
		if !r.Rule.IsEnabled() {
			continue
		}
		inst, ok := (*Instance)(nil), false
		if prev != nil && prev.Context == ctx {
			inst, ok = prev.instances[r]
		}
		if !ok {
			var err error
			if inst, err = r.Bind(ctx); err != nil {
				return nil, err
			}
		}
		b.instances[r] = inst
		if r.ClockDriven {
			b.clock = append(b.clock, inst)
		}
		if r.Rule.Kind == KindBilling {
			b.billing = append(b.billing, inst)
		}
	}
	for m, list := range s.byMetric {
		for _, r := range list {
			b.byMetric[m] = append(b.byMetric[m], b.instances[r])
		}
	}
	return b, nil
}

// ForMetric returns the instances that readings of metric trigger, in
// rule id order.
func (b *Bound) ForMetric(metric string) []*Instance { return b.byMetric[metric] }

// ClockDriven returns the instances that timers evaluate, in rule id
// order.
func (b *Bound) ClockDriven() []*Instance { return b.clock }

// Billing returns the billing rules' instances, which care events
// trigger, in rule id order.
func (b *Bound) Billing() []*Instance { return b.billing }

// Instance returns the bound instance of a rule of the set.
func (b *Bound) Instance(r *Compiled) *Instance { return b.instances[r] }

// With returns a copy of the set with r added, or replacing the rule with
// the same id.
func (s *Set) With(r *Compiled) (*Set, error) {
	list := make([]*Compiled, 0, len(s.rules)+1)
	for _, old := range s.rules {
		if old.Rule.ID != r.Rule.ID {
			list = append(list, old)
		}
	}
	return NewSet(append(list, r))
}

// Without returns a copy of the set without the rule with the id.
func (s *Set) Without(id string) *Set {
	list := make([]*Compiled, 0, len(s.rules))
	for _, old := range s.rules {
		if old.Rule.ID != id {
			list = append(list, old)
		}
	}
	return MustSet(list)
}
