// Package rules holds clinician-authored alert rules: their YAML and JSON
// format, compilation of expressions against the typed environment,
// validation with positions and hints, three-valued evaluation, the alert
// lifecycle, rule tests and the built-in rule packs.
package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kinds of rule.
const (
	KindClinical = "clinical"
	KindBilling  = "billing"
)

var severities = []string{"critical", "high", "medium", "low", "info"}

var knownActions = []string{"notify", "ai_analysis", "page"}

var ruleIDPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// maxRuleIDLength bounds rule ids, which become parts of state keys and
// event ids.
const maxRuleIDLength = 64

// Rule is one alert rule as clinicians write it, in YAML or JSON. The field
// names are a contract: rule packs, tests and users' files depend on them.
type Rule struct {
	ID          string   `yaml:"id" json:"id"`
	Version     int      `yaml:"version,omitempty" json:"version,omitempty"`
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Kind        string   `yaml:"kind,omitempty" json:"kind,omitempty"`
	Severity    string   `yaml:"severity" json:"severity"`
	Metrics     []string `yaml:"metrics" json:"metrics"`
	Condition   string   `yaml:"condition" json:"condition"`
	// For is how long the condition must hold before the alert fires: a
	// duration such as 10m, or a count such as "3 readings". Empty or 0s
	// fires at once.
	For string `yaml:"for,omitempty" json:"for,omitempty"`
	// Reset is the condition that resolves a firing alert. Empty means
	// "not condition"; a separate reset gives hysteresis.
	Reset string `yaml:"reset,omitempty" json:"reset,omitempty"`
	// Renotify is how often a firing alert is sent again. Empty or 0s means
	// never.
	Renotify string   `yaml:"renotify,omitempty" json:"renotify,omitempty"`
	Scope    Scope    `yaml:"scope,omitempty" json:"scope,omitempty"`
	Actions  []string `yaml:"actions,omitempty" json:"actions,omitempty"`
	Message  string   `yaml:"message,omitempty" json:"message,omitempty"`
	// Enabled defaults to true; a disabled rule is kept but not evaluated.
	Enabled *bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
}

// Scope limits a rule to some patients. The zero Scope covers everyone.
type Scope struct {
	// Conditions matches patients whose profile lists any of them.
	Conditions []string `yaml:"conditions,omitempty" json:"conditions,omitempty"`
	// Patients matches the listed patient ids.
	Patients []string `yaml:"patients,omitempty" json:"patients,omitempty"`
	// MinAge and MaxAge bound the patient's age in years, inclusive; a
	// patient of unknown age is out of scope when either is set.
	MinAge *float64 `yaml:"min_age,omitempty" json:"min_age,omitempty"`
	MaxAge *float64 `yaml:"max_age,omitempty" json:"max_age,omitempty"`
}

// IsEnabled reports whether the rule is evaluated.
func (r *Rule) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// Hold is a parsed "for" clause: a duration or a number of readings.
type Hold struct {
	Duration time.Duration
	Readings int
}

// Zero reports whether the condition fires on its first true evaluation.
func (h Hold) Zero() bool { return h.Duration == 0 && h.Readings <= 1 }

var readingsPattern = regexp.MustCompile(`^(\d+)\s+readings?$`)

// ParseHold parses a "for" clause.
func ParseHold(s string) (Hold, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Hold{}, nil
	}
	if m := readingsPattern.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > 1000 {
			return Hold{}, fmt.Errorf("for %q: the count of readings must be 1 to 1000", s)
		}
		return Hold{Readings: n}, nil
	}
	if !windowPattern.MatchString(s) {
		return Hold{}, fmt.Errorf("for %q: give a duration such as 10m or a count such as \"3 readings\"", s)
	}
	d, err := ParseWindow(s)
	if err != nil {
		return Hold{}, fmt.Errorf("for: %w", err)
	}
	return Hold{Duration: d}, nil
}

var windowPattern = regexp.MustCompile(`^(\d+)(s|m|h|d|w)$`)

// maxWindow bounds window lengths, since windows are kept in the store
// for as long as the longest one.
const maxWindow = 35 * 24 * time.Hour

// ParseWindow parses a window or duration such as 30s, 30m, 24h, 7d or 2w.
func ParseWindow(s string) (time.Duration, error) {
	m := windowPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration; use a number and one of s, m, h, d, w, such as 30m or 7d", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > 100000 {
		return 0, fmt.Errorf("%q is longer than the maximum of 35d", s)
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if d > maxWindow {
		return 0, fmt.Errorf("%q is longer than the maximum of 35d", s)
	}
	return d, nil
}
