package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/billing"
)

// Topics names the engine's Kafka topics.
type Topics struct {
	Readings      string
	Patients      string
	CareEvents    string
	Alerts        string
	BillingEvents string
	DeadLetter    string
	Changelog     string
	Rules         string
}

// DefaultTopics returns the standard topic names.
func DefaultTopics() Topics {
	return Topics{
		Readings:      "vitals.readings",
		Patients:      "vitals.patients",
		CareEvents:    "vitals.care-events",
		Alerts:        "vitals.alerts",
		BillingEvents: "vitals.billing-events",
		DeadLetter:    "vitals.deadletter",
		Changelog:     "vitals.changelog",
		Rules:         "vitals.rules",
	}
}

// Inputs returns the co-partitioned input topics a task reads.
func (t Topics) Inputs() []string {
	var out []string
	for _, name := range []string{t.Readings, t.Patients, t.CareEvents} {
		if name != "" {
			out = append(out, name)
		}
	}
	return out
}

// Config configures the engine. Zero fields take the defaults that
// WithDefaults documents.
type Config struct {
	Topics     Topics
	Validation vytalwatch.ValidationConfig
	// BatchSize is the most messages one batch applies. Defaults to 2000.
	BatchSize int
	// TimerInterval is how often clock-driven rules are evaluated.
	// Defaults to 30s.
	TimerInterval time.Duration
	// MinRetention is the shortest time samples are kept, so that last()
	// and since() work for late readings. Defaults to 2 days.
	MinRetention time.Duration
	// DedupeRetention is how long reading identities are remembered,
	// counted back from the patient's newest reading. A duplicate older
	// than that is accepted again. Defaults to 45 days, longer than a
	// device billing period.
	DedupeRetention time.Duration
	// DisableTimers turns off clock-driven evaluation, for replays of
	// history and for tests that compare state between runs. Rules that
	// depend on the clock then act on readings only.
	DisableTimers bool
	// Billing holds the practice's billing choices.
	Billing billing.Config
	// ShutdownTimeout bounds the final batch on shutdown. Defaults to 15s.
	ShutdownTimeout time.Duration
	// ProduceRetryMax caps the backoff between attempts to write outputs
	// while the broker is unavailable. Defaults to 5s.
	ProduceRetryMax time.Duration
}

// WithDefaults returns the config with zero fields set to defaults.
func (c Config) WithDefaults() Config {
	if c.Topics == (Topics{}) {
		c.Topics = DefaultTopics()
	}
	c.Validation = c.Validation.WithDefaults()
	if c.BatchSize == 0 {
		c.BatchSize = 2000
	}
	if c.TimerInterval == 0 {
		c.TimerInterval = 30 * time.Second
	}
	if c.MinRetention == 0 {
		c.MinRetention = 48 * time.Hour
	}
	if c.DedupeRetention == 0 {
		c.DedupeRetention = 45 * 24 * time.Hour
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.ProduceRetryMax == 0 {
		c.ProduceRetryMax = 5 * time.Second
	}
	return c
}

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if c.Topics.Readings == "" || c.Topics.Alerts == "" || c.Topics.DeadLetter == "" {
		errs = append(errs, errors.New("topics: readings, alerts and deadletter topics must be named"))
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		errs = append(errs, fmt.Errorf("batch size %d must be 1 to 100000", c.BatchSize))
	}
	if c.TimerInterval < time.Second {
		errs = append(errs, fmt.Errorf("timer interval %s must be at least 1s", c.TimerInterval))
	}
	if c.DedupeRetention < c.MinRetention {
		errs = append(errs, fmt.Errorf("dedupe retention %s must not be shorter than sample retention %s", c.DedupeRetention, c.MinRetention))
	}
	return errors.Join(errs...)
}
