package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/rules"
)

// ruleHead is the start of a valid one-rule file; lines 1 to 5.
const ruleHead = `rules:
  - id: a
    name: A
    severity: high
    metrics: [spo2]
`

// parseProblems parses a file that must fail and returns its problems.
func parseProblems(t *testing.T, src string) []rules.Problem {
	t.Helper()
	list, err := rules.ParseFile([]byte(src), "test.yaml")
	if err == nil {
		t.Fatalf("ParseFile accepted %d rules, want problems:\n%s", len(list), src)
	}
	var ve *rules.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("ParseFile error %T (%v), want *rules.ValidationError", err, err)
	}
	if ve.Source != "test.yaml" {
		t.Errorf("Source = %q, want test.yaml", ve.Source)
	}
	return ve.Problems
}

// wantProblem is one expected problem. An empty hint means the hint is
// not checked; noHint requires none.
type wantProblem struct {
	field   string
	message string // a substring of the message
	line    int
	column  int
	hint    string
}

func checkProblem(t *testing.T, got rules.Problem, want wantProblem) {
	t.Helper()
	if got.Field != want.field {
		t.Errorf("Field = %q, want %q", got.Field, want.field)
	}
	if !strings.Contains(got.Message, want.message) {
		t.Errorf("%s: Message = %q, want it to contain %q", want.field, got.Message, want.message)
	}
	if got.Line != want.line {
		t.Errorf("%s: Line = %d, want %d", want.field, got.Line, want.line)
	}
	if got.Column != want.column {
		t.Errorf("%s: Column = %d, want %d", want.field, got.Column, want.column)
	}
	if want.hint != "" && got.Hint != want.hint {
		t.Errorf("%s: Hint = %q, want %q", want.field, got.Hint, want.hint)
	}
}

func TestParseFileProblem(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want wantProblem
	}{
		{"unknown metric plain", ruleHead +
			`    condition: last("spo") < 90` + "\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 6, 21, `did you mean "spo2"?`}},
		{"unknown function", ruleHead +
			`    condition: lst("spo2") < 90` + "\n",
			wantProblem{"rules[0].condition", "unknown function lst", 6, 16, "did you mean last?"}},
		{"bare metric name", ruleHead +
			`    condition: spo2 < 90` + "\n",
			wantProblem{"rules[0].condition", "unknown name spo2", 6, 16, `metrics are read through functions, such as last("spo2")`}},
		{"later in the line", ruleHead +
			`    condition: last("spo2") < 90 || heart_rate > 100` + "\n",
			wantProblem{"rules[0].condition", "unknown name heart_rate", 6, 37, `metrics are read through functions, such as last("heart_rate")`}},
		{"single quoted", ruleHead +
			`    condition: 'last("spo") < 90'` + "\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 6, 22, ""}},
		{"double quoted with escapes", ruleHead +
			`    condition: "last(\"spo\") < 90"` + "\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 6, 23, ""}},
		{"block scalar second line", ruleHead +
			"    condition: |\n" +
			"      last(\"spo2\") < 90 &&\n" +
			"        last(\"spo\") < 90\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 8, 14, ""}},
		{"block scalar first line", ruleHead +
			"    condition: |\n" +
			"      lst(\"spo2\") < 90 &&\n" +
			"      last(\"heart_rate\") > 100\n",
			wantProblem{"rules[0].condition", "unknown function lst", 7, 7, "did you mean last?"}},
		{"block scalar strip and deep indent", ruleHead +
			"    condition: |-\n" +
			"        last(\"spo\") < 90\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 7, 14, ""}},
		{"block scalar blank line", "rules:\n" +
			"- id: a\n" +
			"  name: A\n" +
			"  severity: high\n" +
			"  metrics: [spo2]\n" +
			"  condition: |\n" +
			"    last(\"spo2\") < 90 &&\n" +
			"\n" +
			"    nil\n",
			wantProblem{"rules[0].condition", "nil is not allowed", 9, 5, "test for missing data with known(...)"}},
		{"folded scalar", ruleHead +
			"    condition: >\n" +
			"      last(\"spo2\") < 90 &&\n" +
			"      last(\"spo\") < 90\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 8, 12, ""}},
		{"multi-line plain scalar", ruleHead +
			"    condition:\n" +
			"      last(\"spo2\") < 90 &&\n" +
			"      last(\"spo\") < 90\n",
			wantProblem{"rules[0].condition", `unknown metric "spo"`, 8, 12, ""}},
		{"syntax error at the end", ruleHead +
			`    condition: last("spo2") < 90 &&` + "\n",
			wantProblem{"rules[0].condition", "unexpected token EOF", 6, 35, ""}},
		{"empty condition", ruleHead +
			`    condition: ''` + "\n",
			wantProblem{"rules[0].condition", "expression is empty", 6, 16, ""}},
		{"missing condition", ruleHead,
			wantProblem{"rules[0].condition", "expression is empty", 2, 5, ""}},
		{"not a truth value", ruleHead +
			`    condition: last("spo2") + 1` + "\n",
			wantProblem{"rules[0].condition", "expression gives float64, not true or false", 6, 16, `compare it, such as last("spo2") < 90`}},
		{"reset", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    reset: last("spo2") >= thresold("x", 94)` + "\n",
			wantProblem{"rules[0].reset", "unknown function thresold", 7, 28, "did you mean threshold?"}},
		{"message after non-ASCII text", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    message: 'SpO₂ {{ last("spo2") }} {{ lst("spo2") }}'` + "\n",
			wantProblem{"rules[0].message", "unknown function lst", 7, 42, "did you mean last?"}},
		{"message unclosed", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    message: 'SpO₂ {{ last("spo2") }} {{ last('` + "\n",
			wantProblem{"rules[0].message", `"{{" is never closed`, 7, 39, "end each expression with }}"}},
		{"message empty expression", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    message: 'x {{ }}'` + "\n",
			wantProblem{"rules[0].message", "expression is empty", 7, 20, ""}},
		{"window too long", ruleHead +
			`    condition: mean("spo2", "36d") < 90` + "\n",
			wantProblem{"rules[0].condition", `"36d" is longer than the maximum of 35d`, 6, 29, ""}},
		{"severity", "rules:\n  - id: a\n    name: A\n    severity: hgh\n    metrics: [spo2]\n    condition: last(\"spo2\") < 90\n",
			wantProblem{"rules[0].severity", `severity "hgh" must be one of`, 4, 15, "did you mean high?"}},
		{"metric list", "rules:\n  - id: a\n    name: A\n    severity: high\n    metrics: [spo2, heart_rat]\n    condition: last(\"spo2\") < 90\n",
			wantProblem{"rules[0].metrics[1]", `unknown metric "heart_rat"`, 5, 21, "did you mean heart_rate?"}},
		{"for", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    for: 3 parsecs` + "\n",
			wantProblem{"rules[0].for", `for "3 parsecs"`, 7, 10, ""}},
		{"renotify", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    renotify: 1y` + "\n",
			wantProblem{"rules[0].renotify", `"1y" is not a duration`, 7, 15, ""}},
		{"action", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			`    actions: [notify, email]` + "\n",
			wantProblem{"rules[0].actions[1]", `action "email" must be one of notify, ai_analysis, page`, 7, 23, ""}},
		{"missing name", "rules:\n  - id: a\n    severity: high\n    metrics: [spo2]\n    condition: last(\"spo2\") < 90\n",
			wantProblem{"rules[0].name", "name is missing", 2, 5, ""}},
		{"id", "rules:\n  - id: Bad_Id\n    name: A\n    severity: high\n    metrics: [spo2]\n    condition: last(\"spo2\") < 90\n",
			wantProblem{"rules[0].id", `id "Bad_Id" must be lowercase letters`, 2, 9, "such as bp-crisis"}},
		{"unknown field", "rules:\n  - id: a\n    name: A\n    severty: high\n    severity: high\n    metrics: [spo2]\n    condition: last(\"spo2\") < 90\n",
			wantProblem{"rules[0].severty", `unknown field "severty"`, 4, 5, "did you mean severity?"}},
		{"unknown scope field", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			"    scope:\n" +
			"      conditons: [copd]\n",
			wantProblem{"rules[0].scope.conditons", `unknown field "conditons"`, 8, 7, "did you mean conditions?"}},
		{"unknown top-level field", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			"rule: x\n",
			wantProblem{"rule", `unknown field "rule"`, 7, 1, "did you mean rules?"}},
		{"wrong type", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			"    version: two\n",
			wantProblem{"file", "cannot unmarshal string", 7, 14, ""}},
		{"tab indentation", "rules:\n\t- id: a\n",
			wantProblem{"file", "cannot start any token", 2, 1, ""}},
		{"no rules", "rules: []\n",
			wantProblem{"rules", "the file defines no rules", 0, 0, "start the file with rules: and a list"}},
		{"scope ages", ruleHead +
			`    condition: last("spo2") < 90` + "\n" +
			"    scope: {min_age: 80, max_age: 18}\n",
			wantProblem{"rules[0].scope", "min_age 80 is above max_age 18", 7, 13, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			problems := parseProblems(t, tc.src)
			if len(problems) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(problems), problems)
			}
			checkProblem(t, problems[0], tc.want)
		})
	}
}

func TestParseFileAllProblems(t *testing.T) {
	src := `rules:
  - id: a
    name: A
    severity: hgh
    metrics: [spo3]
    condition: lst("spo2") < 90
    reset: spo2 < 90
    message: "x {{ last("
  - id: B
    name: ""
    severity: high
    metrics: [spo2]
    for: 3 parsecs
    condition: |
      last("spo2") < 90 &&
        mean("spo2", reading.metric) > 1
  - id: a
    name: Duplicate
    severity: low
    metrics: [spo2]
    condition: last("spo2") < 90
`
	want := []wantProblem{
		{"rules[0].severity", `severity "hgh"`, 4, 15, "did you mean high?"},
		{"rules[0].metrics[0]", `unknown metric "spo3"`, 5, 15, "did you mean spo2?"},
		{"rules[0].condition", "unknown function lst", 6, 16, "did you mean last?"},
		{"rules[0].reset", "unknown name spo2", 7, 12, `metrics are read through functions, such as last("spo2")`},
		{"rules[0].message", `"{{" is never closed`, 8, 17, "end each expression with }}"},
		{"rules[1].id", `id "B" must be lowercase`, 9, 9, "such as bp-crisis"},
		{"rules[1].name", "name is missing", 10, 11, ""},
		{"rules[1].for", `for "3 parsecs"`, 13, 10, ""},
		{"rules[1].condition", "mean needs a window in quotes", 16, 22, `such as mean("heart_rate", "1h")`},
		{"rules[2].id", `rule id "a" appears twice`, 17, 9, "give each rule its own id"},
	}
	got := parseProblems(t, src)
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		checkProblem(t, got[i], want[i])
	}
	if got[0].RuleID != "a" {
		t.Errorf("RuleID = %q, want a", got[0].RuleID)
	}
}

func TestParseFileLineBreaks(t *testing.T) {
	lf := "# Windows editors write \\r\\n.\n" + ruleHead +
		"    condition: |\n" +
		"      last(\"spo2\") < 90 &&\n" +
		"        last(\"spo\") < 90\n"
	for name, src := range map[string]string{
		"lf":   lf,
		"crlf": strings.ReplaceAll(lf, "\n", "\r\n"),
		"cr":   strings.ReplaceAll(lf, "\n", "\r"),
	} {
		problems := parseProblems(t, src)
		if len(problems) != 1 {
			t.Errorf("%s: %d problems, want 1: %v", name, len(problems), problems)
			continue
		}
		checkProblem(t, problems[0], wantProblem{"rules[0].condition", `unknown metric "spo"`, 9, 14, ""})
	}
}

func TestParseFileDecoderPanic(t *testing.T) {
	// The YAML decoder panics on a tagged list without a value.
	problems := parseProblems(t, "rules:\n  - id: a\n    metrics: !x\n")
	if len(problems) != 1 {
		t.Fatalf("%d problems, want 1: %v", len(problems), problems)
	}
	checkProblem(t, problems[0], wantProblem{"file", "invalid YAML: the decoder failed", 0, 0, ""})
}

func TestParseTestFileDecoderPanic(t *testing.T) {
	_, err := rules.ParseTestFile([]byte("tests:\n  - name: a\n    readings: !x\n"), "t.yaml")
	if err == nil {
		t.Fatal("ParseTestFile accepted a tagged list without a value")
	}
	if !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("error %q, want invalid YAML", err)
	}
}

func TestValidationErrorText(t *testing.T) {
	_, err := rules.ParseFile([]byte(ruleHead+`    condition: lst("spo2") < 90`+"\n"), "x.yaml")
	if err == nil {
		t.Fatal("ParseFile accepted an unknown function")
	}
	want := `x.yaml:6:16: rules[0].condition: unknown function lst; the rule functions are ` +
		`last, mean, min, max, count, stddev, delta, slope, since, news2, news2_red, threshold, known (did you mean last?)`
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestParseFileValid(t *testing.T) {
	src := `rules:
  - id: zeta
    name: Z
    severity: low
    metrics: [heart_rate]
    condition: last("heart_rate") > 120
  - id: alpha
    version: 3
    name: A
    kind: billing
    severity: info
    metrics: [steps]
    condition: |
      count("steps", "2d") < 1
    for: 3 readings
    renotify: 12h
    enabled: false
`
	list, err := rules.ParseFile([]byte(src), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d rules, want 2", len(list))
	}
	z, a := list[0], list[1]
	if z.Rule.ID != "zeta" {
		t.Errorf("first rule %s, want zeta in file order", z.Rule.ID)
	}
	if z.Rule.Kind != rules.KindClinical {
		t.Errorf("default kind %q, want clinical", z.Rule.Kind)
	}
	if z.Version() != 1 {
		t.Errorf("default Version() = %d, want 1", z.Version())
	}
	if !z.Rule.IsEnabled() {
		t.Errorf("rule without enabled: IsEnabled() = false")
	}
	if a.Rule.IsEnabled() {
		t.Errorf("enabled: false: IsEnabled() = true")
	}
	if a.StateKey() != "alpha@3" {
		t.Errorf("StateKey() = %q, want alpha@3", a.StateKey())
	}
	if a.Hold != (rules.Hold{Readings: 3}) {
		t.Errorf("Hold = %+v, want 3 readings", a.Hold)
	}
	if a.Renotify != 12*time.Hour {
		t.Errorf("Renotify = %v, want 12h", a.Renotify)
	}
	if a.Windows["steps"] != 48*time.Hour {
		t.Errorf("Windows[steps] = %v, want 48h", a.Windows["steps"])
	}
	if !a.ClockDriven {
		t.Errorf("window rule: ClockDriven = false")
	}
	if z.ClockDriven {
		t.Errorf("last-only rule without hold: ClockDriven = true")
	}
}

func TestParseRuleJSON(t *testing.T) {
	c, err := rules.ParseRuleJSON([]byte(`{"id":"j","name":"J","severity":"high","metrics":["spo2"],"condition":"last(\"spo2\") < 90"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rule.ID != "j" {
		t.Errorf("ID = %q, want j", c.Rule.ID)
	}
}

func TestParseRuleJSONProblems(t *testing.T) {
	_, err := rules.ParseRuleJSON([]byte(`{"id":"j","name":"J","severity":"high","metrics":["spo2"],"condition":"last(\"spo2\") < 90 || lst(\"spo2\") < 80"}`))
	var ve *rules.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want *rules.ValidationError", err)
	}
	if len(ve.Problems) != 1 {
		t.Fatalf("%d problems, want 1: %v", len(ve.Problems), ve.Problems)
	}
	// Positions are inside the field's text, since JSON has no lines.
	checkProblem(t, ve.Problems[0], wantProblem{"condition", "unknown function lst", 1, 22, "did you mean last?"})
}

func TestParseRuleJSONUnknownField(t *testing.T) {
	_, err := rules.ParseRuleJSON([]byte(`{"id":"j","severty":"high"}`))
	var ve *rules.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want *rules.ValidationError", err)
	}
	if len(ve.Problems) != 1 {
		t.Fatalf("%d problems, want 1", len(ve.Problems))
	}
	if !strings.Contains(ve.Problems[0].Message, `unknown field "severty"`) {
		t.Errorf("Message = %q, want the unknown field", ve.Problems[0].Message)
	}
}

func TestParseHold(t *testing.T) {
	cases := []struct {
		in   string
		want rules.Hold
		zero bool
	}{
		{"", rules.Hold{}, true},
		{"10m", rules.Hold{Duration: 10 * time.Minute}, false},
		{" 2h ", rules.Hold{Duration: 2 * time.Hour}, false},
		{"3 readings", rules.Hold{Readings: 3}, false},
		{"1 reading", rules.Hold{Readings: 1}, true},
		{"1000 readings", rules.Hold{Readings: 1000}, false},
		{"0s", rules.Hold{}, true},
	}
	for _, c := range cases {
		got, err := rules.ParseHold(c.in)
		if err != nil {
			t.Errorf("ParseHold(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseHold(%q) = %+v, want %+v", c.in, got, c.want)
		}
		if got.Zero() != c.zero {
			t.Errorf("ParseHold(%q).Zero() = %v, want %v", c.in, got.Zero(), c.zero)
		}
	}
	for _, bad := range []string{"0 readings", "1001 readings", "3 parsecs", "readings", "-1m", "36d", "10"} {
		if got, err := rules.ParseHold(bad); err == nil {
			t.Errorf("ParseHold(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestParseWindow(t *testing.T) {
	cases := map[string]time.Duration{
		"30s": 30 * time.Second,
		"30m": 30 * time.Minute,
		"24h": 24 * time.Hour,
		"7d":  7 * 24 * time.Hour,
		"2w":  14 * 24 * time.Hour,
		"35d": 35 * 24 * time.Hour,
		"5w":  35 * 24 * time.Hour,
		"0s":  0,
	}
	for in, want := range cases {
		got, err := rules.ParseWindow(in)
		if err != nil {
			t.Errorf("ParseWindow(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseWindow(%q) = %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"36d", "6w", "841h", "1y", "1.5h", "h", "", "-1h", "100001s", "99999999999999999999s"} {
		if got, err := rules.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParseFile checks that no file makes ParseFile panic and that every
// problem it locates lies inside the file.
func FuzzParseFile(f *testing.F) {
	f.Add(ruleHead + `    condition: last("spo") < 90` + "\n")
	f.Add(ruleHead + "    condition: |\n      last(\"spo2\") < 90 &&\n        lst(\"spo\") < 90\n")
	f.Add(ruleHead + "    condition: >-\n      last(\"spo2\") < 90 &&\n\n      nil\n")
	f.Add(ruleHead + "    condition: \"last(\\\"spo\\\") < 90 \\t\"\n    message: 'x {{ y'\n")
	f.Add(ruleHead + "    condition:\n      last(\"spo2\") < 90 &&\n      mean(\"spo2\", reading.metric) > 1\n")
	f.Add("rules:\n- {id: a, name: A, severity: high, metrics: [spo2], condition: 'lst(\"x\")', scope: {bad: 1}}\n")
	f.Add(`{"rules": [{"id": "a", "condition": "last(\"spo\") < 1"}]}`)
	f.Fuzz(func(t *testing.T, src string) {
		_, err := rules.ParseFile([]byte(src), "fuzz.yaml")
		var ve *rules.ValidationError
		if err == nil || !errors.As(err, &ve) {
			return
		}
		// YAML ends lines at \r\n, \n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(src, "\r\n", "\n"), "\n") + strings.Count(src, "\r") - strings.Count(src, "\r\n") + 1
		for _, p := range ve.Problems {
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("problem %v outside the file's %d lines", p, lines)
			}
			if p.Line > 0 && p.Column < 1 {
				t.Fatalf("problem %v has a line but no column", p)
			}
		}
	})
}
