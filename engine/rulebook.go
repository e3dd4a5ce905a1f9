package engine

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vytalwatch/vytalwatch/rules"
)

// RuleBook merges the rules an instance starts with (a file or a built-in
// pack) with the rules published on the compacted vitals.rules topic,
// keyed by rule id. A published rule replaces the one with its id, and an
// empty message (a tombstone) deletes it. Every engine instance reads the
// whole topic, so all instances converge on the same set.
type RuleBook struct {
	mu        sync.Mutex
	base      map[string]*rules.Compiled
	published map[string]*rules.Compiled
	deleted   map[string]bool
}

// NewRuleBook returns a book with the starting rules.
func NewRuleBook(base []*rules.Compiled) *RuleBook {
	b := &RuleBook{base: map[string]*rules.Compiled{}, published: map[string]*rules.Compiled{}, deleted: map[string]bool{}}
	for _, r := range base {
		b.base[r.Rule.ID] = r
	}
	return b
}

// Apply records one message of the rules topic. An invalid rule is
// rejected with an error naming it and leaves the book unchanged, so the
// version before it keeps running.
func (b *RuleBook) Apply(key string, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(bytes.TrimSpace(value)) == 0 {
		delete(b.published, key)
		b.deleted[key] = true
		return nil
	}
	c, err := rules.ParseRuleJSON(value)
	if err != nil {
		return fmt.Errorf("rule %q on the rules topic is invalid: %w", key, err)
	}
	if c.Rule.ID != key {
		return fmt.Errorf("rule message keyed %q contains rule %q; key each rule message by its rule id", key, c.Rule.ID)
	}
	if c.Rule.Version < 1 {
		return fmt.Errorf("rule %q on the rules topic has no version; published rules need version 1 or more", key)
	}
	if old, ok := b.published[key]; ok {
		switch {
		case old.Version() > c.Version():
			return fmt.Errorf("rule %q version %d is older than the running version %d; ignored", key, c.Version(), old.Version())
		case old.Version() == c.Version() && old.Fingerprint != c.Fingerprint:
			// Alert state and event ids belong to a version; two
			// definitions under one number would mix them.
			return fmt.Errorf("rule %q version %d was already published with another definition; publish changes as version %d", key, c.Version(), c.Version()+1)
		}
	}
	b.published[key] = c
	delete(b.deleted, key)
	return nil
}

// Set returns the current rule set.
func (b *RuleBook) Set() *rules.Set {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []*rules.Compiled
	for id, r := range b.base {
		if _, replaced := b.published[id]; replaced || b.deleted[id] {
			continue
		}
		list = append(list, r)
	}
	for _, r := range b.published {
		list = append(list, r)
	}
	return rules.MustSet(list)
}
