package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/vytalwatch/vytalwatch"
)

// File is a rule file: YAML (or JSON, which is YAML too) with a list of
// rules.
type File struct {
	Rules []Rule `yaml:"rules" json:"rules"`
}

// ParseFile parses and validates a rule file. The error, when not nil, is
// a *ValidationError listing every problem with its line and column.
func ParseFile(data []byte, source string) ([]*Compiled, error) {
	var f File
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return nil, yamlError(err, source)
	}
	locate := locator(data)
	var problems []Problem
	var out []*Compiled
	seen := map[string]bool{}
	for i := range f.Rules {
		r := f.Rules[i]
		field := fmt.Sprintf("rules[%d]", i)
		c, ps := Compile(r)
		if r.ID != "" && seen[r.ID] {
			ps = append(ps, Problem{Field: "id", Message: fmt.Sprintf("rule id %q appears twice in the file", r.ID), Hint: "give each rule its own id"})
		}
		seen[r.ID] = true
		for _, p := range ps {
			p.Field = field + "." + p.Field
			p.RuleID = r.ID
			locate(&p)
			problems = append(problems, p)
		}
		if len(ps) == 0 {
			out = append(out, c)
		}
	}
	if len(f.Rules) == 0 {
		problems = append(problems, Problem{Field: "rules", Message: "the file defines no rules", Hint: "start the file with rules: and a list"})
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Source: source, Problems: problems}
	}
	return out, nil
}

// ParseRuleJSON parses and validates one rule in JSON, as the API
// receives it.
func ParseRuleJSON(data []byte) (*Compiled, error) {
	var r Rule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Field: "rule", Message: "invalid rule JSON: " + err.Error()}}}
	}
	c, problems := Compile(r)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

func yamlError(err error, source string) error {
	msg := yaml.FormatError(err, false, false)
	p := Problem{Field: "file", Message: strings.TrimSpace(msg)}
	return &ValidationError{Source: source, Problems: []Problem{p}}
}

// locator returns a function that fills in a problem's line and column
// from the YAML document, mapping a position inside an expression onto
// the file.
func locator(data []byte) func(p *Problem) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return func(*Problem) {}
	}
	return func(p *Problem) {
		path, err := yaml.PathString("$." + p.Field)
		if err != nil {
			return
		}
		node, err := path.FilterFile(file)
		if err != nil || node == nil {
			// Fall back to the rule itself.
			if i := strings.Index(p.Field, "]"); i > 0 {
				if rp, err := yaml.PathString("$." + p.Field[:i+1]); err == nil {
					node, _ = rp.FilterFile(file)
				}
			}
			if node == nil {
				return
			}
		}
		tok := node.GetToken()
		if tok == nil || tok.Position == nil {
			return
		}
		line, col := tok.Position.Line, tok.Position.Column
		if p.Line > 0 {
			if _, block := node.(*ast.LiteralNode); block {
				// A block scalar's text starts on the next line, indented.
				line += p.Line
				col = tok.Position.IndentNum + p.Column + 1
			} else {
				line += p.Line - 1
				col += p.Column
			}
		}
		p.Line, p.Column = line, col
	}
}

// Compile validates a rule and compiles it. It returns every problem
// found, with Line and Column set inside expressions only.
func Compile(r Rule) (*Compiled, []Problem) {
	var problems []Problem
	add := func(field, hint, format string, args ...any) {
		problems = append(problems, Problem{Field: field, Message: fmt.Sprintf(format, args...), Hint: hint})
	}
	normalize(&r)
	checkIdentity(r, add)
	c := &Compiled{Rule: r, Windows: map[string]time.Duration{}}
	var err error
	if c.Hold, err = ParseHold(r.For); err != nil {
		add("for", "", "%v", err)
	}
	if r.Renotify != "" && r.Renotify != "0s" {
		if c.Renotify, err = ParseWindow(r.Renotify); err != nil {
			add("renotify", "", "%v", err)
		}
	}
	checkMetrics(r, add)
	checkScope(r, add)
	u := newUsage()
	problems = append(problems, checkField("condition", r.Condition, true, &u)...)
	if r.Reset != "" {
		problems = append(problems, checkField("reset", r.Reset, true, &u)...)
	}
	tmpl, open := parseTemplate(r.Message)
	if open >= 0 {
		line, col := offsetToPosition(r.Message, open)
		problems = append(problems, Problem{Field: "message", Line: line, Column: col, Message: "\"{{\" is never closed", Hint: "end each expression with }}"})
	} else {
		for _, part := range tmpl.parts {
			if part.expr {
				problems = append(problems, checkField("message", part.text, false, &u)...)
			}
		}
		c.template = tmpl
	}
	if len(problems) > 0 {
		return nil, problems
	}
	c.Windows = u.windows
	c.ClockDriven = u.clock || c.Hold.Duration > 0 || c.Renotify > 0
	c.Fingerprint = fingerprint(r)
	return c, nil
}

func normalize(r *Rule) {
	if r.Kind == "" {
		r.Kind = KindClinical
	}
	if r.For == "0s" || r.For == "0" {
		r.For = ""
	}
	if r.Renotify == "0" {
		r.Renotify = "0s"
	}
}

func checkIdentity(r Rule, add func(field, hint, format string, args ...any)) {
	switch {
	case r.ID == "":
		add("id", "such as bp-crisis", "id is missing")
	case len(r.ID) > maxRuleIDLength || !ruleIDPattern.MatchString(r.ID):
		add("id", "such as bp-crisis", "id %q must be lowercase letters, digits and single dashes, at most %d characters", r.ID, maxRuleIDLength)
	}
	if r.Version < 0 {
		add("version", "", "version %d must be 1 or more", r.Version)
	}
	if strings.TrimSpace(r.Name) == "" {
		add("name", "", "name is missing; clinicians see it on every alert")
	}
	if r.Kind != KindClinical && r.Kind != KindBilling {
		add("kind", "", "kind %q must be clinical or billing", r.Kind)
	}
	if !slices.Contains(severities, r.Severity) {
		hint := ""
		if s := vytalwatch.Suggest(r.Severity, severities); s != "" {
			hint = fmt.Sprintf("did you mean %s?", s)
		}
		add("severity", hint, "severity %q must be one of %s", r.Severity, strings.Join(severities, ", "))
	}
	for i, a := range r.Actions {
		if !slices.Contains(knownActions, a) {
			add(fmt.Sprintf("actions[%d]", i), "", "action %q must be one of %s", a, strings.Join(knownActions, ", "))
		}
	}
}

func checkMetrics(r Rule, add func(field, hint, format string, args ...any)) {
	if len(r.Metrics) == 0 {
		add("metrics", "such as [systolic_bp, diastolic_bp]", "metrics is empty; list the metrics whose readings trigger the rule")
	}
	for i, m := range r.Metrics {
		if _, ok := vytalwatch.LookupMetric(m); ok {
			continue
		}
		hint := ""
		if s := vytalwatch.Suggest(m, vytalwatch.MetricNames()); s != "" {
			hint = fmt.Sprintf("did you mean %s?", s)
		}
		add(fmt.Sprintf("metrics[%d]", i), hint, "unknown metric %q", m)
	}
}

func checkScope(r Rule, add func(field, hint, format string, args ...any)) {
	s := r.Scope
	if s.MinAge != nil && s.MaxAge != nil && *s.MinAge > *s.MaxAge {
		add("scope", "", "min_age %g is above max_age %g", *s.MinAge, *s.MaxAge)
	}
	for i, c := range s.Conditions {
		if strings.TrimSpace(c) == "" {
			add(fmt.Sprintf("scope.conditions[%d]", i), "", "condition name is empty")
		}
	}
}

func checkField(field, src string, wantBool bool, u *usage) []Problem {
	fu, eps := checkExpression(src, wantBool)
	var out []Problem
	for _, ep := range eps {
		out = append(out, Problem{Field: field, Line: ep.line, Column: ep.column, Message: ep.message, Hint: ep.hint})
	}
	u.merge(fu)
	return out
}

// fingerprint hashes the rule's canonical JSON.
func fingerprint(r Rule) string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
