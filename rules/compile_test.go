package rules_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/rules"
)

// compileProblems compiles a rule that must fail and returns its problems.
func compileProblems(t *testing.T, r rules.Rule) []rules.Problem {
	t.Helper()
	c, problems := rules.Compile(r)
	if len(problems) == 0 {
		t.Fatalf("Compile(%q) accepted the rule", r.Condition)
	}
	if c != nil {
		t.Errorf("Compile(%q) returned a rule with problems", r.Condition)
	}
	return problems
}

func TestCompileProblem(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *rules.Rule)
		want   wantProblem
	}{
		{"unknown metric", func(r *rules.Rule) { r.Condition = `last("spo") < 90` },
			wantProblem{"condition", `unknown metric "spo"`, 1, 6, `did you mean "spo2"?`}},
		{"unknown function", func(r *rules.Rule) { r.Condition = `lst("spo2") < 90` },
			wantProblem{"condition", "unknown function lst", 1, 1, "did you mean last?"}},
		{"bare metric", func(r *rules.Rule) { r.Condition = `spo2 < 90` },
			wantProblem{"condition", "unknown name spo2", 1, 1, `metrics are read through functions, such as last("spo2")`}},
		{"unknown name near reading", func(r *rules.Rule) { r.Condition = `readng.value > 1` },
			wantProblem{"condition", "unknown name readng", 1, 1, "did you mean reading?"}},
		{"second line", func(r *rules.Rule) { r.Condition = "last(\"spo2\") < 90 &&\n  lst(\"spo2\") < 80" },
			wantProblem{"condition", "unknown function lst", 2, 3, "did you mean last?"}},
		{"metric from a variable", func(r *rules.Rule) { r.Condition = `last(reading.metric) < 90` },
			wantProblem{"condition", "last needs a metric name in quotes", 1, 6, `such as last("spo2")`}},
		{"window from a variable", func(r *rules.Rule) { r.Condition = `mean("spo2", reading.metric) < 90` },
			wantProblem{"condition", "mean needs a window in quotes", 1, 14, `such as mean("heart_rate", "1h")`}},
		{"window from arithmetic", func(r *rules.Rule) { r.Condition = `mean("spo2", "1" + "h") < 90` },
			wantProblem{"condition", "mean needs a window in quotes", 1, 14, ""}},
		{"window too long", func(r *rules.Rule) { r.Condition = `mean("spo2", "36d") < 90` },
			wantProblem{"condition", `"36d" is longer than the maximum of 35d`, 1, 14, ""}},
		{"window invalid", func(r *rules.Rule) { r.Condition = `max("spo2", "1y") < 90` },
			wantProblem{"condition", `"1y" is not a duration`, 1, 13, ""}},
		{"window empty", func(r *rules.Rule) { r.Condition = `count("spo2", "0s") < 1` },
			wantProblem{"condition", `window "0s" is empty`, 1, 15, `such as "1h"`}},
		{"too many arguments", func(r *rules.Rule) { r.Condition = `last("spo2", "1h") < 90` },
			wantProblem{"condition", "last takes 1 arguments, not 2", 1, 1, ""}},
		{"too few arguments", func(r *rules.Rule) { r.Condition = `x || mean("spo2") < 90` },
			wantProblem{"condition", "mean takes 2 arguments, not 1", 1, 6, ""}},
		{"news2 arguments", func(r *rules.Rule) { r.Condition = `news2("spo2") > 5` },
			wantProblem{"condition", "news2 takes 0 arguments, not 1", 1, 1, ""}},
		{"threshold name", func(r *rules.Rule) { r.Condition = `last("spo2") < threshold("SpO2 low", 90)` },
			wantProblem{"condition", "threshold needs a threshold name in quotes", 1, 26, `such as threshold("sbp_high", 180)`}},
		{"threshold default", func(r *rules.Rule) { r.Condition = `last("spo2") < threshold("spo2_low", "90")` },
			wantProblem{"condition", "cannot use string as argument", 1, 38, ""}},
		{"constant division by zero", func(r *rules.Rule) { r.Condition = `last("spo2") < 10 % 0` },
			wantProblem{"condition", "integer divide by zero", 1, 19, ""}},
		{"not a truth value", func(r *rules.Rule) { r.Condition = `last("spo2")` },
			wantProblem{"condition", "expression gives float64, not true or false", 1, 1, `compare it, such as last("spo2") < 90`}},
		{"string condition", func(r *rules.Rule) { r.Condition = `patient.id` },
			wantProblem{"condition", "expression gives string, not true or false", 1, 1, ""}},
		{"empty condition", func(r *rules.Rule) { r.Condition = " \n" },
			wantProblem{"condition", "expression is empty", 0, 0, ""}},
		{"reset not a truth value", func(r *rules.Rule) { r.Reset = `mean("spo2", "1h")` },
			wantProblem{"reset", "expression gives float64", 1, 1, ""}},
		{"message expression", func(r *rules.Rule) { r.Message = `SpO₂ {{ last("spo") }}%` },
			wantProblem{"message", `unknown metric "spo"`, 1, 14, `did you mean "spo2"?`}},
		{"message unclosed", func(r *rules.Rule) { r.Message = "line one\nSpO₂ {{ last(\"spo2\")" },
			wantProblem{"message", `"{{" is never closed`, 2, 6, "end each expression with }}"}},
		{"id missing", func(r *rules.Rule) { r.ID = "" },
			wantProblem{"id", "id is missing", 0, 0, "such as bp-crisis"}},
		{"id double dash", func(r *rules.Rule) { r.ID = "a--b" },
			wantProblem{"id", `id "a--b" must be lowercase letters`, 0, 0, ""}},
		{"id too long", func(r *rules.Rule) { r.ID = strings.Repeat("a", 65) },
			wantProblem{"id", "at most 64 characters", 0, 0, ""}},
		{"name blank", func(r *rules.Rule) { r.Name = "  " },
			wantProblem{"name", "name is missing", 0, 0, ""}},
		{"kind", func(r *rules.Rule) { r.Kind = "admin" },
			wantProblem{"kind", `kind "admin" must be clinical or billing`, 0, 0, ""}},
		{"severity", func(r *rules.Rule) { r.Severity = "critcal" },
			wantProblem{"severity", `severity "critcal" must be one of critical, high, medium, low, info`, 0, 0, "did you mean critical?"}},
		{"version", func(r *rules.Rule) { r.Version = -1 },
			wantProblem{"version", "version -1 must be 1 or more", 0, 0, ""}},
		{"metrics empty", func(r *rules.Rule) { r.Metrics = nil },
			wantProblem{"metrics", "metrics is empty", 0, 0, "such as [systolic_bp, diastolic_bp]"}},
		{"metric unknown", func(r *rules.Rule) { r.Metrics = []string{"spo2", "pulse"} },
			wantProblem{"metrics[1]", `unknown metric "pulse"`, 0, 0, ""}},
		{"action", func(r *rules.Rule) { r.Actions = []string{"sms"} },
			wantProblem{"actions[0]", `action "sms" must be one of notify, ai_analysis, page`, 0, 0, ""}},
		{"for", func(r *rules.Rule) { r.For = "often" },
			wantProblem{"for", `for "often": give a duration such as 10m or a count such as "3 readings"`, 0, 0, ""}},
		{"constant condition", func(r *rules.Rule) { r.Condition = "((1 < 2))" },
			wantProblem{"condition", "condition reads no data, so it is the same for every reading of every patient", 1, 1, `read a metric, such as last("spo2") < 90`}},
		{"for too long", func(r *rules.Rule) { r.For = "99999999h" },
			wantProblem{"for", `for: "99999999h" is longer than the maximum of 35d`, 0, 0, ""}},
		{"renotify", func(r *rules.Rule) { r.Renotify = "36d" },
			wantProblem{"renotify", `"36d" is longer than the maximum of 35d`, 0, 0, ""}},
		{"scope ages", func(r *rules.Rule) { r.Scope.MinAge, r.Scope.MaxAge = ptr(65.0), ptr(18.0) },
			wantProblem{"scope", "min_age 65 is above max_age 18", 0, 0, ""}},
		{"scope condition", func(r *rules.Rule) { r.Scope.Conditions = []string{"copd", " "} },
			wantProblem{"scope.conditions[1]", "condition name is empty", 0, 0, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testRule(`last("spo2") < 90`)
			tc.change(&r)
			problems := compileProblems(t, r)
			if len(problems) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(problems), problems)
			}
			checkProblem(t, problems[0], tc.want)
		})
	}
}

func ptr[V any](v V) *V { return &v }

func TestCompileReportsEveryProblem(t *testing.T) {
	r := rules.Rule{
		ID: "Bad", Severity: "urgent", Condition: `lst("spo2") < 90`, Reset: `spo2 > 94`,
		For: "soon", Message: "{{ x", Actions: []string{"fax"},
	}
	problems := compileProblems(t, r)
	want := []string{"id", "name", "severity", "actions[0]", "for", "metrics", "condition", "reset", "message"}
	if len(problems) != len(want) {
		t.Fatalf("%d problems, want %d: %v", len(problems), len(want), problems)
	}
	for i, field := range want {
		if problems[i].Field != field {
			t.Errorf("problem %d: Field = %q, want %q", i, problems[i].Field, field)
		}
	}
}

func TestCompileRejectsHostile(t *testing.T) {
	cases := []struct {
		condition string
		message   string
		column    int
	}{
		{`all(patient.conditions, # == "copd")`, "predicates over collections, such as all(...), are not allowed", 1},
		{`any(patient.conditions, {# == "copd"})`, "predicates over collections, such as any(...)", 1},
		{`len(filter(patient.conditions, # == "copd")) > 0`, "predicates over collections, such as filter(...)", 5},
		{`len(map(patient.conditions, # + "x")) > 0`, "predicates over collections, such as map(...)", 5},
		{`count(patient.conditions, # == "copd") > 0`, "", 0},
		{`sum([1, 2]) > 0`, "function sum is not allowed in rules", 1},
		{`len(sortBy(patient.conditions, #)) > 0`, "predicates over collections, such as sortBy(...)", 5},
		{`reduce([1, 2], #acc + #, 0) > 0`, "predicates over collections, such as reduce(...)", 1},
		{`len(keys($env)) > 0`, "unknown function keys", 5},
		{`let x = 1; x > 0`, "variables (let) are not allowed", 5},
		{`last("spo2") < 90 ? true : false`, "conditional expressions (a ? b : c) are not allowed", 1},
		{`if last("spo2") < 90 { true } else { false }`, "conditional expressions (a ? b : c) are not allowed", 1},
		{`last("spo2") == nil`, "nil is not allowed in rules", 17},
		{`len(1..100000000) > 0`, "ranges (a..b) are not allowed", 6},
		{`{"a": true}.a`, "map literals are not allowed", 1},
		{`patient?.age > 1`, "this kind of expression (*ast.ChainNode) is not allowed", 0},
		{`patient.conditions[0:2] == []`, "this kind of expression (*ast.SliceNode)", 0},
		{`last("spo2") < 90; true`, "this kind of expression (*ast.SequenceNode)", 0},
		{`reading.at.Unix() > 0`, "only the rule functions can be called", 0},
		{`now() > reading.at`, "unknown function now", 1},
		{`string(1) == "1"`, "unknown function string", 1},
		{`mean("spo2", "36d") < 90`, `"36d" is longer than the maximum of 35d`, 14},
		{`mean("spo2", reading.metric) < 90`, "mean needs a window in quotes", 14},
		{`last(reading.metric) < 90`, "last needs a metric name in quotes", 6},
		{`last(lower("SPO2")) < 90`, "last needs a metric name in quotes", 6},
	}
	for _, c := range cases {
		problems := compileProblems(t, testRule(c.condition))
		if len(problems) != 1 {
			t.Errorf("%s: %d problems, want 1: %v", c.condition, len(problems), problems)
			continue
		}
		p := problems[0]
		if p.Field != "condition" {
			t.Errorf("%s: Field = %q, want condition", c.condition, p.Field)
		}
		if !strings.Contains(p.Message, c.message) {
			t.Errorf("%s: Message = %q, want %q", c.condition, p.Message, c.message)
		}
		if c.column > 0 && p.Column != c.column {
			t.Errorf("%s: Column = %d, want %d", c.condition, p.Column, c.column)
		}
	}
}

func TestCompileNodeLimit(t *testing.T) {
	// "1 < 2" is three nodes, each " && 1 < 2" adds four, and
	// ` && last("spo2") < 2`, which makes the condition read data, adds
	// six: 197 nodes, and each "!" adds one.
	base := "1 < 2" + strings.Repeat(" && 1 < 2", 47) + ` && last("spo2") < 2`
	if _, problems := rules.Compile(testRule("!!!(" + base + ")")); len(problems) != 0 {
		t.Errorf("200 nodes: problems %v, want none", problems)
	}
	problems := compileProblems(t, testRule("!!!!("+base+")"))
	if len(problems) != 1 {
		t.Fatalf("201 nodes: %d problems, want 1: %v", len(problems), problems)
	}
	if !strings.Contains(problems[0].Message, "exceeds maximum allowed nodes") {
		t.Errorf("201 nodes: Message = %q", problems[0].Message)
	}
	if want := "an expression may have at most 200 nodes; split the rule into simpler rules"; problems[0].Hint != want {
		t.Errorf("201 nodes: Hint = %q, want %q", problems[0].Hint, want)
	}
}

func TestCompileAllowed(t *testing.T) {
	allowed := []string{
		`abs(delta("weight_kg", "1d")) >= 1`,
		`ceil(last("temperature_c")) == 38 || floor(last("temperature_c")) == 37`,
		`round(mean("heart_rate", "1h")) > 100`,
		`len(patient.conditions) > 0 && "copd" in patient.conditions`,
		`lower(patient.id) == "p1" && upper(reading.metric) == "SPO2"`,
		`patient.age >= 65 and not (last("spo2") > 92)`,
		`since("weight_kg") > 48`,
		`news2() >= 5 or news2_red()`,
		`known(last("spo2")) && !known(last("heart_rate"))`,
		`last("spo2") <= threshold("spo2_low", 92)`,
		`reading.at > reading.at`,
		"last(\"spo2\") < 90\n  && last(\"heart_rate\") > 100",
		`mean("steps", "5w") < 1000`,
		`last("spo2") ** 2 > 1`,
	}
	for _, cond := range allowed {
		if _, problems := rules.Compile(testRule(cond)); len(problems) != 0 {
			t.Errorf("Compile(%s): problems %v, want none", cond, problems)
		}
	}
}

func TestCompileWindows(t *testing.T) {
	r := testRule(`mean("heart_rate", "1h") > 100 && max("heart_rate", "4h") > 120 && last("spo2") < 95`)
	r.Reset = `count("weight_kg", "7d") > 0`
	r.Message = `{{ min("heart_rate", "2h") }} {{ slope("glucose_mg_dl", "3h") }}`
	c := mustCompile(t, r)
	want := map[string]time.Duration{
		"heart_rate":    4 * time.Hour,
		"spo2":          0,
		"weight_kg":     7 * 24 * time.Hour,
		"glucose_mg_dl": 3 * time.Hour,
	}
	if len(c.Windows) != len(want) {
		t.Errorf("Windows = %v, want %v", c.Windows, want)
	}
	for m, w := range want {
		got, ok := c.Windows[m]
		if !ok {
			t.Errorf("Windows has no %s", m)
			continue
		}
		if got != w {
			t.Errorf("Windows[%s] = %v, want %v", m, got, w)
		}
	}
}

func TestCompileNews2Windows(t *testing.T) {
	c := mustCompile(t, testRule(`news2() >= 5`))
	for _, m := range []string{"resp_rate", "spo2", "systolic_bp", "heart_rate", "temperature_c", "consciousness", "supplemental_o2"} {
		if w, ok := c.Windows[m]; !ok || w != 0 {
			t.Errorf("Windows[%s] = %v, %v, want 0, true", m, w, ok)
		}
	}
}

func TestCompileClockDriven(t *testing.T) {
	cases := []struct {
		change func(r *rules.Rule)
		want   bool
	}{
		{func(r *rules.Rule) {}, false},
		{func(r *rules.Rule) { r.For = "3 readings" }, false},
		{func(r *rules.Rule) { r.For = "10m" }, true},
		{func(r *rules.Rule) { r.Renotify = "1h" }, true},
		{func(r *rules.Rule) { r.Renotify = "0s" }, false},
		{func(r *rules.Rule) { r.Condition = `since("spo2") > 24` }, true},
		{func(r *rules.Rule) { r.Condition = `count("spo2", "1d") < 1` }, true},
		{func(r *rules.Rule) { r.Message = `{{ mean("spo2", "1h") }}` }, true},
	}
	for i, c := range cases {
		r := testRule(`last("spo2") < 90`)
		c.change(&r)
		if got := mustCompile(t, r).ClockDriven; got != c.want {
			t.Errorf("case %d: ClockDriven = %v, want %v", i, got, c.want)
		}
	}
}

func TestCompileNormalizes(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.For = "0"
	r.Renotify = "0"
	c := mustCompile(t, r)
	if !c.Hold.Zero() {
		t.Errorf("for 0: Hold = %+v, want zero", c.Hold)
	}
	if c.Renotify != 0 {
		t.Errorf("renotify 0: Renotify = %v, want 0", c.Renotify)
	}
	if c.Rule.Kind != rules.KindClinical {
		t.Errorf("Kind = %q, want clinical", c.Rule.Kind)
	}
	metrics := c.Metrics()
	metrics[0] = "changed"
	if c.Rule.Metrics[0] != "spo2" {
		t.Errorf("Metrics() shares the rule's slice")
	}
}

func TestInScope(t *testing.T) {
	profile := &vytalwatch.PatientProfile{Conditions: []string{"copd"}}
	cases := []struct {
		name    string
		scope   rules.Scope
		patient string
		profile *vytalwatch.PatientProfile
		age     float64
		want    bool
	}{
		{"empty scope", rules.Scope{}, "p1", nil, math.NaN(), true},
		{"listed patient", rules.Scope{Patients: []string{"p1"}}, "p1", nil, 40, true},
		{"other patient", rules.Scope{Patients: []string{"p2"}}, "p1", nil, 40, false},
		{"condition matches", rules.Scope{Conditions: []string{"chf", "copd"}}, "p1", profile, 40, true},
		{"condition differs", rules.Scope{Conditions: []string{"chf"}}, "p1", profile, 40, false},
		{"condition without profile", rules.Scope{Conditions: []string{"copd"}}, "p1", nil, 40, false},
		{"min age inclusive", rules.Scope{MinAge: ptr(65.0)}, "p1", nil, 65, true},
		{"below min age", rules.Scope{MinAge: ptr(65.0)}, "p1", nil, 64.9, false},
		{"max age inclusive", rules.Scope{MaxAge: ptr(17.0)}, "p1", nil, 17, true},
		{"above max age", rules.Scope{MaxAge: ptr(17.0)}, "p1", nil, 17.1, false},
		{"unknown age", rules.Scope{MinAge: ptr(0.0)}, "p1", nil, math.NaN(), false},
	}
	for _, c := range cases {
		r := testRule(`last("spo2") < 90`)
		r.Scope = c.scope
		if got := mustCompile(t, r).InScope(c.patient, c.profile, c.age); got != c.want {
			t.Errorf("%s: InScope = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzCompile checks that no condition or message makes Compile panic,
// and that any rule Compile accepts binds and evaluates without a panic.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		`last("spo2") < 90`,
		`last("heart_rate") > 120 || last("spo2") < 90`,
		`mean("heart_rate", "1h") > threshold("hr_high", 110) && known(last("resp_rate"))`,
		`news2() >= 5 || news2_red()`,
		`count("spo2", "1d") < 1`,
		`patient.conditions[5] == "copd"`,
		`!(last("a") - last("b") > 1)`,
		`all([1], # > 0)`,
		`let x = 1; x`,
		`1..3 == [1, 2, 3]`,
		`10 % len(patient.conditions) == 0`,
		`reading.value / 0 > 1`,
		"last(\"spo2\") <\n 90",
		`"\u00e9" == lower("É")`,
		`{{`,
		`)`,
	}
	for _, s := range seeds {
		f.Add(s, "")
	}
	f.Add(`last("spo2") < 90`, `BP {{ last("systolic_bp") }}/{{ last("diastolic_bp") }} mmHg`)
	f.Add(`last("spo2") < 90`, `{{ patient.conditions[2] }} {{ 0 % 0 }} {{`)
	data := newFakeData().
		set("spo2", 85).
		add("heart_rate", time.Hour, 130).
		set("heart_rate", 125).
		set("resp_rate", 22)
	f.Fuzz(func(t *testing.T, condition, message string) {
		r := testRule(condition)
		r.Message = message
		c, problems := rules.Compile(r)
		if len(problems) > 0 {
			if c != nil {
				t.Fatalf("Compile(%q) returned a rule and problems", condition)
			}
			for _, p := range problems {
				if p.Message == "" {
					t.Fatalf("Compile(%q): problem without a message: %+v", condition, p)
				}
			}
			return
		}
		ctx := rules.NewEvalContext()
		inst, err := c.Bind(ctx)
		if err != nil {
			// Every accepted rule must also compile for evaluation.
			t.Fatalf("Compile accepted %q but Bind failed: %v", condition, err)
		}
		ctx.Set(data, testEnv())
		_, _ = inst.Condition()
		_, _ = inst.Reset()
		_ = inst.Message()
	})
}
