package rules

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
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
	// YAML reads \r\n and a lone \r as line breaks, but go-yaml v1.19.2
	// counts the lines after a comment that ends in \r\n one too many, so
	// positions are taken from a copy with \n breaks.
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, &ValidationError{Source: source, Problems: []Problem{yamlProblem(err)}}
	}

	// Unknown fields are collected from the document, not by a strict
	// decoder, which would stop at the first one.
	problems := unknownFields(file)
	var f File
	if err := decodeYAML(data, &f); err != nil {
		problems = append(problems, yamlProblem(err))
		sortProblems(problems)
		return nil, &ValidationError{Source: source, Problems: problems}
	}

	locate := locator(file, data)
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
		sortProblems(problems)
		return nil, &ValidationError{Source: source, Problems: problems}
	}
	return out, nil
}

// sortProblems orders problems as they appear in the file, and those
// without a position last.
func sortProblems(problems []Problem) {
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
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

// decodeYAML decodes a YAML document into v, turning a panic of the
// decoder into an error.
// NOTE: go-yaml v1.19.2 panics with a nil pointer dereference when a list
// field has a tag and no value, as in "metrics: !x".
func decodeYAML(data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid YAML: the decoder failed (%v); check tags (!name) and indentation", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, opts...)
}

// yamlProblem converts an error of the YAML parser or decoder to a
// problem at the error's position.
func yamlProblem(err error) Problem {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Problem{Field: "file", Message: ye.GetMessage()}
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			p.Line, p.Column = tok.Position.Line, tok.Position.Column
		}
		return p
	}
	return Problem{Field: "file", Message: strings.TrimSpace(yaml.FormatError(err, false, false))}
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
	problems = append(problems, checkField("condition", r.Condition, true, &u, r.Condition, 0, r.Kind)...)
	if r.Reset != "" {
		problems = append(problems, checkField("reset", r.Reset, true, &u, r.Reset, 0, r.Kind)...)
	}
	tmpl, open := parseTemplate(r.Message)
	if open >= 0 {
		problems = append(problems, locatedProblem(Problem{Field: "message", Message: "\"{{\" is never closed", Hint: "end each expression with }}"}, r.Message, open))
	} else {
		for _, part := range tmpl.parts {
			if part.expr {
				problems = append(problems, checkField("message", part.text, false, &u, r.Message, part.offset, r.Kind)...)
			}
		}
		c.template = tmpl
	}
	if len(problems) > 0 {
		return nil, problems
	}
	c.Windows = u.windows
	c.ClockCondition = u.clock
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

// checkField checks one expression of a field. The expression starts at
// character offset base of the field's whole text, which is where problems
// are located.
func checkField(field, src string, wantBool bool, u *usage, whole string, base int, kind string) []Problem {
	fu, eps := checkExpression(src, wantBool, kind)
	if field == "condition" && len(eps) == 0 && !fu.readsData {
		eps = []exprProblem{{offset: 0, message: "condition reads no data, so it is the same for every reading of every patient",
			hint: `read a metric, such as last("spo2") < 90`}}
	}
	var out []Problem
	for _, ep := range eps {
		p := Problem{Field: field, Message: ep.message, Hint: ep.hint}
		switch {
		case ep.offset >= 0:
			p = locatedProblem(p, whole, base+ep.offset)
		case base > 0:
			// An empty expression inside a message: point at its closing
			// braces.
			p = locatedProblem(p, whole, base)
		}
		out = append(out, p)
	}
	u.merge(fu)
	return out
}

// locatedProblem sets p's position to the character offset in the field's
// text.
func locatedProblem(p Problem, text string, offset int) Problem {
	p.Line, p.Column = offsetToPosition(text, offset)
	p.offset = offset
	return p
}

// fingerprint hashes the rule's canonical JSON.
// An omitted version is version 1, so both give one fingerprint.
func fingerprint(r Rule) string {
	r.Version = max(r.Version, 1)
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
