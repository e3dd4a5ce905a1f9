package rules_test

import (
	"math"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/operators"
	"github.com/vytalwatch/vytalwatch/rules"
)

// baseTime is the end of every window in these tests.
var baseTime = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

// fakeData is an in-memory rules.Data: samples per metric, oldest first,
// read as of end.
type fakeData struct {
	end        time.Time
	samples    map[string][]operators.Point
	thresholds map[string]float64
	scale2     bool
}

func newFakeData() *fakeData {
	return &fakeData{end: baseTime, samples: map[string][]operators.Point{}, thresholds: map[string]float64{}}
}

// set records one sample of metric measured at end.
func (d *fakeData) set(metric string, value float64) *fakeData {
	return d.add(metric, 0, value)
}

// add records a sample of metric measured ago before end.
func (d *fakeData) add(metric string, ago time.Duration, value float64) *fakeData {
	d.samples[metric] = append(d.samples[metric], operators.Point{At: d.end.Add(-ago), Value: value})
	list := d.samples[metric]
	for i := len(list) - 1; i > 0 && list[i].At.Before(list[i-1].At); i-- {
		list[i], list[i-1] = list[i-1], list[i]
	}
	return d
}

func (d *fakeData) newest(metric string) (operators.Point, bool) {
	var found operators.Point
	ok := false
	for _, p := range d.samples[metric] {
		if !p.At.After(d.end) {
			found, ok = p, true
		}
	}
	return found, ok
}

func (d *fakeData) Last(metric string) float64 {
	p, ok := d.newest(metric)
	if !ok {
		return math.NaN()
	}
	return p.Value
}

func (d *fakeData) Window(metric string, width time.Duration, buf []operators.Point) []operators.Point {
	start := d.end.Add(-width)
	for _, p := range d.samples[metric] {
		if p.At.After(start) && !p.At.After(d.end) {
			buf = append(buf, p)
		}
	}
	return buf
}

func (d *fakeData) Since(metric string) float64 {
	p, ok := d.newest(metric)
	if !ok {
		return math.NaN()
	}
	return d.end.Sub(p.At).Hours()
}

func (d *fakeData) Threshold(name string) (float64, bool) {
	v, ok := d.thresholds[name]
	return v, ok
}

func (d *fakeData) News2Scale2() bool { return d.scale2 }

// testRule returns a valid rule on spo2 with the condition.
func testRule(condition string) rules.Rule {
	return rules.Rule{ID: "test-rule", Name: "Test rule", Severity: "high", Metrics: []string{"spo2"}, Condition: condition}
}

// mustCompile compiles a rule and fails the test on any problem.
func mustCompile(t testing.TB, r rules.Rule) *rules.Compiled {
	t.Helper()
	c, problems := rules.Compile(r)
	if len(problems) > 0 {
		t.Fatalf("Compile(%q) problems: %v", r.Condition, problems)
	}
	return c
}

// bind compiles and binds a rule to a new context with data.
func bind(t testing.TB, r rules.Rule, data rules.Data) *rules.Instance {
	t.Helper()
	ctx := rules.NewEvalContext()
	inst, err := mustCompile(t, r).Bind(ctx)
	if err != nil {
		t.Fatalf("Bind(%q): %v", r.Condition, err)
	}
	ctx.Set(data, testEnv())
	return inst
}

func testEnv() rules.Env {
	return rules.Env{
		Reading: rules.ReadingEnv{Metric: "spo2", Value: 85, At: baseTime},
		Patient: rules.PatientEnv{ID: "p1", Age: 70, Timezone: "UTC"},
	}
}

// condition evaluates a condition against data and fails the test on a
// run-time error.
func condition(t *testing.T, expr string, data rules.Data) operators.Truth {
	t.Helper()
	got, err := bind(t, testRule(expr), data).Condition()
	if err != nil {
		t.Fatalf("Condition(%q): %v", expr, err)
	}
	return got
}

// Operands of the truth tables: heart_rate is 100 and spo2 is missing.
var truthOperands = []struct {
	expr  string
	value operators.Truth
}{
	{`last("heart_rate") > 50`, operators.True},
	{`last("heart_rate") < 50`, operators.False},
	{`last("spo2") < 90`, operators.Unknown},
}

func truthData() *fakeData { return newFakeData().set("heart_rate", 100) }

func TestTruthOperandsAlone(t *testing.T) {
	for _, a := range truthOperands {
		if got := condition(t, a.expr, truthData()); got != a.value {
			t.Errorf("%s = %v, want %v", a.expr, got, a.value)
		}
	}
}

func TestTruthBinaryOperators(t *testing.T) {
	ops := []struct {
		op   string
		want func(a, b operators.Truth) operators.Truth
	}{
		{"||", operators.Or},
		{"or", operators.Or},
		{"&&", operators.And},
		{"and", operators.And},
		{"==", sameTruth},
		{"!=", func(a, b operators.Truth) operators.Truth { return operators.Not(sameTruth(a, b)) }},
	}
	for _, op := range ops {
		for _, a := range truthOperands {
			for _, b := range truthOperands {
				expr := "(" + a.expr + ") " + op.op + " (" + b.expr + ")"
				want := op.want(a.value, b.value)
				if got := condition(t, expr, truthData()); got != want {
					t.Errorf("%v %s %v: %s = %v, want %v", a.value, op.op, b.value, expr, got, want)
				}
			}
		}
	}
}

// sameTruth is the expected three-valued equality.
func sameTruth(a, b operators.Truth) operators.Truth {
	if a == operators.Unknown || b == operators.Unknown {
		return operators.Unknown
	}
	return operators.FromBool(a == b)
}

func TestTruthNot(t *testing.T) {
	for _, op := range []string{"!", "not "} {
		for _, a := range truthOperands {
			expr := op + "(" + a.expr + ")"
			if got, want := condition(t, expr, truthData()), operators.Not(a.value); got != want {
				t.Errorf("%s = %v, want %v", expr, got, want)
			}
		}
	}
}

func TestTruthExactTable(t *testing.T) {
	// The expected values written out, so a wrong operators package
	// cannot hide a wrong rule evaluation.
	isTrue, isFalse, isUnknown := `last("heart_rate") > 50`, `last("heart_rate") < 50`, `last("spo2") < 90`
	cases := []struct {
		expr string
		want operators.Truth
	}{
		{isTrue + " || " + isUnknown, operators.True},
		{isUnknown + " || " + isTrue, operators.True},
		{isFalse + " || " + isUnknown, operators.Unknown},
		{isUnknown + " || " + isUnknown, operators.Unknown},
		{isFalse + " || " + isFalse, operators.False},
		{isTrue + " && " + isUnknown, operators.Unknown},
		{isFalse + " && " + isUnknown, operators.False},
		{isUnknown + " && " + isFalse, operators.False},
		{isUnknown + " && " + isUnknown, operators.Unknown},
		{isTrue + " && " + isTrue, operators.True},
		{"!(" + isUnknown + ")", operators.Unknown},
		{"!(" + isTrue + ")", operators.False},
		{"(" + isUnknown + ") == (" + isTrue + ")", operators.Unknown},
		{"(" + isTrue + ") == (" + isTrue + ")", operators.True},
		{"(" + isTrue + ") != (" + isFalse + ")", operators.True},
		{"(" + isUnknown + ") != (" + isFalse + ")", operators.Unknown},
		{`last("spo2") == last("spo2")`, operators.Unknown},
		{`last("spo2") != 90`, operators.Unknown},
		{`last("heart_rate") == 100`, operators.True},
		{`last("heart_rate") != 100`, operators.False},
		{`last("heart_rate") >= 100`, operators.True},
		{`last("heart_rate") <= 99.5`, operators.False},
	}
	for _, c := range cases {
		if got := condition(t, c.expr, truthData()); got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestTruthSpO2WithoutHeartRate(t *testing.T) {
	const expr = `last("heart_rate") > 120 || last("spo2") < 90`
	data := newFakeData().set("spo2", 85)
	if got := condition(t, expr, data); got != operators.True {
		t.Errorf("%s with SpO2 85 and no heart rate = %v, want true", expr, got)
	}
}

func TestTruthArithmeticMissing(t *testing.T) {
	data := newFakeData().set("systolic_bp", 150)
	cases := []struct {
		expr string
		want operators.Truth
	}{
		{`last("systolic_bp") - last("diastolic_bp") > 1`, operators.Unknown},
		{`last("systolic_bp") - last("diastolic_bp") < 1`, operators.Unknown},
		{`abs(last("diastolic_bp")) > 1`, operators.Unknown},
		{`-last("diastolic_bp") < 0`, operators.Unknown},
		{`last("systolic_bp") / 2 == 75`, operators.True},
		{`round(last("systolic_bp") / 7) == 21`, operators.True},
	}
	for _, c := range cases {
		if got := condition(t, c.expr, data); got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestTruthKnown(t *testing.T) {
	data := newFakeData().set("spo2", 85)
	cases := []struct {
		expr string
		want operators.Truth
	}{
		{`known(last("spo2"))`, operators.True},
		{`known(last("heart_rate"))`, operators.False},
		{`!known(last("heart_rate"))`, operators.True},
		{`known(last("heart_rate") > 100)`, operators.False},
		{`known(last("spo2") > 100)`, operators.True},
		{`known(news2())`, operators.False},
		{`known(news2_red())`, operators.True},
		{`known(3)`, operators.True},
	}
	for _, c := range cases {
		if got := condition(t, c.expr, data); got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

// news2Data holds a complete set of NEWS2 vital signs that each score 0.
func news2Data() *fakeData {
	return newFakeData().
		set("resp_rate", 16).
		set("spo2", 97).
		set("systolic_bp", 120).
		set("heart_rate", 70).
		set("temperature_c", 37)
}

func TestNews2UnknownUntilFivePresent(t *testing.T) {
	vitals := []string{"resp_rate", "spo2", "systolic_bp", "heart_rate", "temperature_c"}
	for _, missing := range vitals {
		data := news2Data()
		delete(data.samples, missing)
		if got := condition(t, `news2() >= 0`, data); got != operators.Unknown {
			t.Errorf("news2() >= 0 without %s = %v, want unknown", missing, got)
		}
	}
	if got := condition(t, `news2() == 0`, news2Data()); got != operators.True {
		t.Errorf("news2() == 0 with all five normal = %v, want true", got)
	}
}

func TestNews2Score(t *testing.T) {
	// Resp rate 22 scores 2, SpO2 94 scores 1, pulse 95 scores 1: 4.
	data := news2Data().set("resp_rate", 22).set("spo2", 94).set("heart_rate", 95)
	if got := condition(t, `news2() == 4`, data); got != operators.True {
		t.Errorf("news2() == 4 = %v, want true", got)
	}
}

func TestNews2RedAlone(t *testing.T) {
	// SpO2 88 scores 3 on scale 1; nothing else is known.
	data := newFakeData().set("spo2", 88)
	if got := condition(t, `news2_red()`, data); got != operators.True {
		t.Errorf("news2_red() with only SpO2 88 = %v, want true", got)
	}
	if got := condition(t, `news2_red() && last("spo2") < 90`, data); got != operators.True {
		t.Errorf("news2_red() && SpO2 < 90 = %v, want true", got)
	}
	if got := condition(t, `news2_red() == true`, data); got != operators.True {
		t.Errorf("news2_red() == true = %v, want true", got)
	}
}

func TestNews2RedIncomplete(t *testing.T) {
	// A normal SpO2 alone cannot rule out a red score elsewhere.
	data := newFakeData().set("spo2", 97)
	got := condition(t, `news2_red()`, data)
	if got != operators.Unknown {
		t.Errorf("news2_red() with only SpO2 97 = %v, want unknown", got)
	}
	if got := condition(t, `news2_red()`, news2Data()); got != operators.False {
		t.Errorf("news2_red() with all five normal = %v, want false", got)
	}
}

func TestNews2Scale2(t *testing.T) {
	// SpO2 88 on air scores 0 on scale 2.
	data := news2Data().set("spo2", 88)
	data.scale2 = true
	if got := condition(t, `news2() == 0`, data); got != operators.True {
		t.Errorf("news2() == 0 on scale 2 = %v, want true", got)
	}
}

func TestCountEmptyWindow(t *testing.T) {
	data := newFakeData().add("spo2", 3*time.Hour, 95)
	if got := condition(t, `count("spo2", "1h") == 0`, data); got != operators.True {
		t.Errorf("count of an empty window == 0: %v, want true", got)
	}
	if got := condition(t, `count("spo2", "1h") < 1`, data); got != operators.True {
		t.Errorf("count of an empty window < 1: %v, want true", got)
	}
	if got := condition(t, `mean("spo2", "1h") < 100`, data); got != operators.Unknown {
		t.Errorf("mean of an empty window < 100: %v, want unknown", got)
	}
}

func TestWindowFunctions(t *testing.T) {
	data := newFakeData().
		add("heart_rate", 3*time.Hour, 200). // outside every window below
		add("heart_rate", 40*time.Minute, 80).
		add("heart_rate", 20*time.Minute, 90).
		add("heart_rate", 0, 100)
	cases := []string{
		`count("heart_rate", "1h") == 3`,
		`mean("heart_rate", "1h") == 90`,
		`min("heart_rate", "1h") == 80`,
		`max("heart_rate", "1h") == 100`,
		`stddev("heart_rate", "1h") == 10`,
		`delta("heart_rate", "1h") == 20`,
		`slope("heart_rate", "1h") > 29.999 && slope("heart_rate", "1h") < 30.001`,
		`count("heart_rate", "4h") == 4`,
		`since("heart_rate") == 0`,
		`last("heart_rate") == 100`,
	}
	for _, expr := range cases {
		if got := condition(t, expr, data); got != operators.True {
			t.Errorf("%s = %v, want true", expr, got)
		}
	}
}

func TestSinceHours(t *testing.T) {
	data := newFakeData().add("weight_kg", 30*time.Hour, 80)
	if got := condition(t, `since("weight_kg") == 30`, data); got != operators.True {
		t.Errorf("since 30h = %v, want true", got)
	}
	if got := condition(t, `since("spo2") > 24`, data); got != operators.Unknown {
		t.Errorf("since of a metric never measured > 24 = %v, want unknown", got)
	}
}

func TestThresholdDefaultAndOverride(t *testing.T) {
	const expr = `last("spo2") <= threshold("spo2_low", 92)`
	data := newFakeData().set("spo2", 90)
	if got := condition(t, expr, data); got != operators.True {
		t.Errorf("default threshold 92 with SpO2 90 = %v, want true", got)
	}
	data.thresholds["spo2_low"] = 87
	if got := condition(t, expr, data); got != operators.False {
		t.Errorf("override 87 with SpO2 90 = %v, want false", got)
	}
	if got := condition(t, `threshold("spo2_low", 92.5) == 87`, data); got != operators.True {
		t.Errorf("threshold with a float default = %v, want the override", got)
	}
	if got := condition(t, `threshold("other", 92.5) == 92.5`, data); got != operators.True {
		t.Errorf("threshold without override = %v, want the default", got)
	}
}

func TestPatientAndReadingEnv(t *testing.T) {
	cases := []string{
		`patient.age >= 70`,
		`patient.id == "p1"`,
		`patient.timezone == "UTC"`,
		`len(patient.conditions) == 0`,
		`reading.metric == "spo2"`,
		`reading.value == 85`,
		`upper(reading.metric) == "SPO2"`,
	}
	for _, expr := range cases {
		if got := condition(t, expr, newFakeData()); got != operators.True {
			t.Errorf("%s = %v, want true", expr, got)
		}
	}
}

func TestUnknownAgeComparison(t *testing.T) {
	ctx := rules.NewEvalContext()
	inst, err := mustCompile(t, testRule(`patient.age > 65 || patient.age <= 65`)).Bind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env.Patient.Age = math.NaN()
	ctx.Set(newFakeData(), env)
	got, err := inst.Condition()
	if err != nil {
		t.Fatal(err)
	}
	if got != operators.Unknown {
		t.Errorf("age test with unknown age = %v, want unknown", got)
	}
}

func TestResetDefaultIsNotCondition(t *testing.T) {
	const expr = `last("spo2") < 90`
	cases := []struct {
		data *fakeData
		want operators.Truth
	}{
		{newFakeData().set("spo2", 85), operators.False},
		{newFakeData().set("spo2", 95), operators.True},
		{newFakeData(), operators.Unknown},
	}
	for _, c := range cases {
		got, err := bind(t, testRule(expr), c.data).Reset()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Reset() with spo2 %v = %v, want %v", c.data.Last("spo2"), got, c.want)
		}
	}
}

func TestResetExplicit(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.Reset = `last("spo2") >= 94`
	inst := bind(t, r, newFakeData().set("spo2", 92))
	got, err := inst.Reset()
	if err != nil {
		t.Fatal(err)
	}
	if got != operators.False {
		t.Errorf("Reset() at 92 with reset >= 94 = %v, want false", got)
	}
}

func TestRuntimeErrorIsolation(t *testing.T) {
	ctx := rules.NewEvalContext()
	broken, err := mustCompile(t, testRule(`patient.conditions[5] == "copd"`)).Bind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	healthy := testRule(`last("spo2") < 90`)
	healthy.ID = "healthy"
	good, err := mustCompile(t, healthy).Bind(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Set(newFakeData().set("spo2", 85), testEnv())

	got, err := broken.Condition()
	if err == nil {
		t.Fatalf("indexing past the conditions: Condition() = %v, want an error", got)
	}
	if got != operators.Unknown {
		t.Errorf("Condition() with an error = %v, want unknown", got)
	}
	if got, err := good.Condition(); err != nil || got != operators.True {
		t.Errorf("second rule after the error: Condition() = %v, %v, want true, nil", got, err)
	}
	// The broken rule's own machine must recover as well.
	ctx.Env().Patient.Conditions = []string{"a", "b", "c", "d", "e", "copd"}
	if got, err := broken.Condition(); err != nil || got != operators.True {
		t.Errorf("broken rule with six conditions: Condition() = %v, %v, want true, nil", got, err)
	}
}

func TestRuntimeDivisionByZero(t *testing.T) {
	inst := bind(t, testRule(`10 % len(patient.conditions) == 0`), newFakeData())
	if _, err := inst.Condition(); err == nil {
		t.Errorf("integer modulo by zero: want an error")
	}
}

func BenchmarkEvaluate(b *testing.B) {
	r := testRule(`last("spo2") < 90 || mean("heart_rate", "1h") > threshold("hr_high", 110) && known(last("resp_rate"))`)
	data := newFakeData().set("spo2", 95).set("resp_rate", 18)
	for i := 0; i < 12; i++ {
		data.add("heart_rate", time.Duration(i)*5*time.Minute, 110+float64(i))
	}
	inst := bind(b, r, data)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := inst.Condition()
		if err != nil || got != operators.True {
			b.Fatalf("Condition() = %v, %v, want true", got, err)
		}
	}
}
