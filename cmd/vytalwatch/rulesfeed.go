package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// ruleFeed keeps an engine's rules in step with the vitals.rules topic.
type ruleFeed struct {
	book   *engine.RuleBook
	logger *slog.Logger
	mu     sync.Mutex
	target func(*rules.Set)
}

// startRuleFeed follows the rules topic and returns once every rule
// already published has been read, so the engine starts with the whole
// set. Later messages reach the engine through setTarget.
func startRuleFeed(ctx context.Context, brokers []string, topic string, base []*rules.Compiled, logger *slog.Logger) (*ruleFeed, error) {
	f := &ruleFeed{book: engine.NewRuleBook(base), logger: logger.With("component", "rules")}
	caughtUp := make(chan struct{})
	go func() {
		_ = kafka.Follow(ctx, brokers, topic, caughtUp, f.apply)
	}()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("reading the rules topic %s did not finish within 60s", topic)
	}
	f.logger.Info("rules loaded", "rules", f.book.Set().Len())
	return f, nil
}

func (f *ruleFeed) apply(key, value []byte) {
	if err := f.book.Apply(string(key), value); err != nil {
		f.logger.Error("rule rejected; the previous version keeps running", "rule_id", string(key), "error", err)
		return
	}
	set := f.book.Set()
	f.logger.Info("rule changed", "rule_id", string(key), "deleted", len(value) == 0, "rules", set.Len())
	f.mu.Lock()
	target := f.target
	f.mu.Unlock()
	if target != nil {
		target(set)
	}
}

// setTarget sends every later rule change to fn.
func (f *ruleFeed) setTarget(fn func(*rules.Set)) {
	f.mu.Lock()
	f.target = fn
	f.mu.Unlock()
}

// runRulesPublish publishes the rules of a file to the rules topic, or
// deletes rules by id.
func runRulesPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topic := fs.String("topic", engine.DefaultTopics().Rules, "rules topic")
	var deletes stringList
	fs.Var(&deletes, "delete", "delete the rule with this id (repeatable)")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 1 || (len(positional) == 0 && len(deletes) == 0) {
		return fmt.Errorf("%w: rules publish takes RULES.yaml and/or --delete ID", errUsage)
	}
	brokers, err := kafka.ParseBrokers(os.Getenv("KAFKA_BROKERS"))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	current, err := publishedRules(ctx, brokers, *topic)
	if err != nil {
		return err
	}
	var records []engine.Record
	if len(positional) == 1 {
		list, err := rules.Load(positional[0], os.ReadFile)
		if err != nil {
			return err
		}
		for _, c := range list {
			r, publish, err := nextVersion(c.Rule, current[c.Rule.ID])
			if err != nil {
				return err
			}
			if !publish {
				fmt.Fprintf(stdout, "%s version %d unchanged\n", r.ID, r.Version)
				continue
			}
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s version %d\n", r.ID, r.Version)
			records = append(records, engine.Record{Topic: *topic, Key: []byte(r.ID), Value: data})
		}
	}
	for _, id := range deletes {
		if _, ok := current[id]; !ok {
			return fmt.Errorf("%w: no rule %q is published; nothing to delete", errUsage, id)
		}
		records = append(records, engine.Record{Topic: *topic, Key: []byte(id)})
	}
	if len(records) == 0 {
		fmt.Fprintln(stdout, "nothing to publish")
		return nil
	}
	p := kafka.NewProducer(brokers)
	defer p.Close()
	if err := p.Produce(ctx, records); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %d rule changes to %s\n", len(records), *topic)
	return nil
}

// publishedRules reads the rules topic whole and returns the published
// rules by id.
func publishedRules(ctx context.Context, brokers []string, topic string) (map[string]*rules.Compiled, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	book := map[string]*rules.Compiled{}
	caughtUp := make(chan struct{})
	done := make(chan struct{})
	var mu sync.Mutex
	go func() {
		defer close(done)
		_ = kafka.Follow(ctx, brokers, topic, caughtUp, func(key, value []byte) {
			mu.Lock()
			defer mu.Unlock()
			if len(value) == 0 {
				delete(book, string(key))
				return
			}
			if c, err := rules.ParseRuleJSON(value); err == nil {
				book[string(key)] = c
			}
		})
	}()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		return nil, fmt.Errorf("read the rules topic %s: %w", topic, ctx.Err())
	}
	cancel()
	<-done
	return book, nil
}

// nextVersion decides the version to publish a rule as. A rule without a
// version gets the next one, or is skipped when its definition is the
// published one; an explicit version must be newer than the published
// one.
func nextVersion(r rules.Rule, current *rules.Compiled) (rules.Rule, bool, error) {
	if current == nil {
		r.Version = max(r.Version, 1)
		return r, true, nil
	}
	if r.Version != 0 {
		if r.Version <= current.Version() {
			return r, false, fmt.Errorf("%w: rule %s version %d is not newer than the published version %d; omit version to publish the next one",
				errUsage, r.ID, r.Version, current.Version())
		}
		return r, true, nil
	}
	same := r
	same.Version = current.Version()
	if c, problems := rules.Compile(same); len(problems) == 0 && c.Fingerprint == current.Fingerprint {
		return same, false, nil
	}
	r.Version = current.Version() + 1
	return r, true, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return fmt.Sprint(*s) }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
