package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/rules"
)

// setRule compiles a rule with the id, metrics and condition.
func setRule(t *testing.T, id string, metrics []string, condition string) *rules.Compiled {
	t.Helper()
	r := testRule(condition)
	r.ID = id
	r.Metrics = metrics
	return mustCompile(t, r)
}

func ids(list []*rules.Compiled) string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.Rule.ID
	}
	return strings.Join(out, ",")
}

func instanceIDs(list []*rules.Instance) string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.Rule.ID
	}
	return strings.Join(out, ",")
}

func TestSetRejectsDuplicates(t *testing.T) {
	a := setRule(t, "a", []string{"spo2"}, `last("spo2") < 90`)
	b := setRule(t, "a", []string{"heart_rate"}, `last("heart_rate") > 120`)
	_, err := rules.NewSet([]*rules.Compiled{a, b})
	if err == nil {
		t.Fatal("NewSet accepted two rules with id a")
	}
	if !strings.Contains(err.Error(), `rule id "a" appears twice`) {
		t.Errorf("error %q, want it to name the id", err)
	}
}

func TestSetOrder(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{
		setRule(t, "c", []string{"spo2"}, `last("spo2") < 90`),
		setRule(t, "a", []string{"heart_rate", "spo2"}, `last("spo2") < 90`),
		setRule(t, "b", []string{"spo2"}, `last("spo2") < 90`),
	})
	if got := ids(set.Rules()); got != "a,b,c" {
		t.Errorf("Rules() = %s, want a,b,c", got)
	}
	if set.Len() != 3 {
		t.Errorf("Len() = %d, want 3", set.Len())
	}
	if r, ok := set.Get("b"); !ok || r.Rule.ID != "b" {
		t.Errorf("Get(b) = %v, %v", r, ok)
	}
	if _, ok := set.Get("z"); ok {
		t.Errorf("Get(z) found a rule")
	}
	bound, err := set.Bind(rules.NewEvalContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(bound.ForMetric("spo2")); got != "a,b,c" {
		t.Errorf("ForMetric(spo2) = %s, want a,b,c", got)
	}
	if got := instanceIDs(bound.ForMetric("heart_rate")); got != "a" {
		t.Errorf("ForMetric(heart_rate) = %s, want a", got)
	}
	if got := bound.ForMetric("steps"); len(got) != 0 {
		t.Errorf("ForMetric(steps) = %s, want none", instanceIDs(got))
	}
}

func TestSetMetricListedTwice(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{setRule(t, "a", []string{"spo2", "spo2"}, `last("spo2") < 90`)})
	bound, err := set.Bind(rules.NewEvalContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(bound.ForMetric("spo2")); got != "a" {
		t.Errorf("ForMetric(spo2) = %s, want a once", got)
	}
}

func TestSetDisabledRule(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.ID = "off"
	r.Enabled = new(bool)
	off := mustCompile(t, r)
	on := setRule(t, "on", []string{"spo2"}, `mean("spo2", "1h") < 90`)
	set := rules.MustSet([]*rules.Compiled{off, on})
	if set.Len() != 2 {
		t.Errorf("Len() = %d, want 2: disabled rules are kept", set.Len())
	}
	bound, err := set.Bind(rules.NewEvalContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(bound.ForMetric("spo2")); got != "on" {
		t.Errorf("ForMetric(spo2) = %s, want on", got)
	}
	if bound.Instance(off) != nil {
		t.Errorf("disabled rule has an instance")
	}
}

func TestSetClockDriven(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{
		setRule(t, "z-window", []string{"spo2"}, `mean("spo2", "1h") < 90`),
		setRule(t, "last-only", []string{"spo2"}, `last("spo2") < 90`),
		setRule(t, "a-since", []string{"weight_kg"}, `since("weight_kg") > 48`),
	})
	bound, err := set.Bind(rules.NewEvalContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(bound.ClockDriven()); got != "a-since,z-window" {
		t.Errorf("ClockDriven() = %s, want a-since,z-window", got)
	}
}

func TestSetWith(t *testing.T) {
	a := setRule(t, "a", []string{"spo2"}, `last("spo2") < 90`)
	b := setRule(t, "b", []string{"spo2"}, `last("spo2") < 85`)
	set := rules.MustSet([]*rules.Compiled{a, b})

	a2 := setRule(t, "a", []string{"heart_rate"}, `last("heart_rate") > 130`)
	replaced, err := set.With(a2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := replaced.Get("a"); got != a2 {
		t.Errorf("With: Get(a) is not the new rule")
	}
	if replaced.Len() != 2 {
		t.Errorf("With: Len() = %d, want 2", replaced.Len())
	}
	if got, _ := set.Get("a"); got != a {
		t.Errorf("With changed the original set")
	}
	bound, err := replaced.Bind(rules.NewEvalContext(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDs(bound.ForMetric("spo2")); got != "b" {
		t.Errorf("With: ForMetric(spo2) = %s, want b", got)
	}
	if got := instanceIDs(bound.ForMetric("heart_rate")); got != "a" {
		t.Errorf("With: ForMetric(heart_rate) = %s, want a", got)
	}

	added, err := set.With(setRule(t, "c", []string{"spo2"}, `last("spo2") < 80`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(added.Rules()); got != "a,b,c" {
		t.Errorf("With new id: Rules() = %s, want a,b,c", got)
	}
}

func TestSetWithout(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{
		setRule(t, "a", []string{"spo2"}, `last("spo2") < 90`),
		setRule(t, "b", []string{"spo2"}, `last("spo2") < 85`),
	})
	removed := set.Without("a")
	if got := ids(removed.Rules()); got != "b" {
		t.Errorf("Without(a): Rules() = %s, want b", got)
	}
	if _, ok := removed.Get("a"); ok {
		t.Errorf("Without(a): Get(a) still finds the rule")
	}
	if set.Len() != 2 {
		t.Errorf("Without changed the original set")
	}
	if got := set.Without("missing").Len(); got != 2 {
		t.Errorf("Without(missing): Len() = %d, want 2", got)
	}
}

func TestSetRetention(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{
		setRule(t, "a", []string{"heart_rate"}, `mean("heart_rate", "1h") > 100`),
		setRule(t, "b", []string{"heart_rate"}, `max("heart_rate", "6h") > 100 && last("spo2") < 90`),
		setRule(t, "c", []string{"weight_kg"}, `delta("weight_kg", "7d") > 2`),
	})
	cases := map[string]time.Duration{
		"heart_rate": 6 * time.Hour,
		"weight_kg":  7 * 24 * time.Hour,
		"spo2":       0,
		"steps":      0,
	}
	for metric, want := range cases {
		if got := set.Retention(metric); got != want {
			t.Errorf("Retention(%s) = %v, want %v", metric, got, want)
		}
	}
}

func TestSetBindReuse(t *testing.T) {
	a := setRule(t, "a", []string{"spo2"}, `last("spo2") < 90`)
	b := setRule(t, "b", []string{"spo2"}, `last("spo2") < 85`)
	set := rules.MustSet([]*rules.Compiled{a, b})
	ctx := rules.NewEvalContext()
	first, err := set.Bind(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	b2 := setRule(t, "b", []string{"spo2"}, `last("spo2") < 80`)
	updated, err := set.With(b2)
	if err != nil {
		t.Fatal(err)
	}
	second, err := updated.Bind(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if second.Instance(a) != first.Instance(a) {
		t.Errorf("unchanged rule a was bound again")
	}
	if second.Instance(b2) == nil {
		t.Fatalf("changed rule b has no instance")
	}
	if second.Instance(b2) == first.Instance(b) {
		t.Errorf("changed rule b reuses the old instance")
	}
	if second.Instance(b2).Compiled != b2 {
		t.Errorf("instance of b is not bound to the new rule")
	}
	if second.Set != updated || second.Context != ctx {
		t.Errorf("Bound does not record its set and context")
	}

	// Instances of another context are never reused.
	third, err := updated.Bind(rules.NewEvalContext(), second)
	if err != nil {
		t.Fatal(err)
	}
	if third.Instance(a) == second.Instance(a) {
		t.Errorf("instance reused across contexts")
	}
}

func TestSetBoundEvaluates(t *testing.T) {
	set := rules.MustSet([]*rules.Compiled{
		setRule(t, "low", []string{"spo2"}, `last("spo2") < 90`),
		setRule(t, "very-low", []string{"spo2"}, `last("spo2") < 80`),
	})
	ctx := rules.NewEvalContext()
	bound, err := set.Bind(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Set(newFakeData().set("spo2", 85), testEnv())
	want := []string{"true", "false"}
	for i, inst := range bound.ForMetric("spo2") {
		got, err := inst.Condition()
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != want[i] {
			t.Errorf("%s: Condition() = %v, want %s", inst.Rule.ID, got, want[i])
		}
	}
}
