package rules_test

import (
	"testing"
	"time"
)

// render compiles a rule with the message, binds it to data and renders
// the message.
func render(t *testing.T, message string, data *fakeData) string {
	t.Helper()
	r := testRule(`last("spo2") < 90`)
	r.Message = message
	return bind(t, r, data).Message()
}

func TestTemplateBloodPressure(t *testing.T) {
	const message = `BP {{ last("systolic_bp") }}/{{ last("diastolic_bp") }} mmHg`
	cases := []struct {
		systolic, diastolic float64
		want                string
	}{
		{182, 121, "BP 182/121 mmHg"},
		{182.456, 121.5, "BP 182.46/121.5 mmHg"},
		{182.454, 121.004, "BP 182.45/121 mmHg"},
		{0.1 + 0.2, 120, "BP 0.3/120 mmHg"},
	}
	for _, c := range cases {
		data := newFakeData().set("systolic_bp", c.systolic).set("diastolic_bp", c.diastolic)
		if got := render(t, message, data); got != c.want {
			t.Errorf("%v/%v: Message() = %q, want %q", c.systolic, c.diastolic, got, c.want)
		}
	}
}

func TestTemplateUnknown(t *testing.T) {
	const message = `BP {{ last("systolic_bp") }}/{{ last("diastolic_bp") }} mmHg`
	data := newFakeData().set("systolic_bp", 182)
	if got, want := render(t, message, data), "BP 182/? mmHg"; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
	if got, want := render(t, message, newFakeData()), "BP ?/? mmHg"; got != want {
		t.Errorf("no data: Message() = %q, want %q", got, want)
	}
}

func TestTemplateValues(t *testing.T) {
	data := newFakeData().set("spo2", 85).set("heart_rate", -0.001)
	cases := []struct {
		message string
		want    string
	}{
		{"", ""},
		{"no expressions", "no expressions"},
		{`{{ last("spo2") }}%`, "85%"},
		{`{{last("spo2")}}{{ last("spo2") }}`, "8585"},
		{`{{ last("heart_rate") }}`, "0"},
		{`{{ last("spo2") * 1e18 }}`, "85000000000000000000"},
		{`{{ -last("spo2") / 3 }}`, "-28.33"},
		{`{{ last("spo2") < 90 }}`, "true"},
		{`{{ last("spo2") > 90 }}`, "false"},
		{`{{ last("resp_rate") > 20 }}`, "?"},
		{`{{ known(last("resp_rate")) }}`, "false"},
		{`{{ len(patient.conditions) }}`, "0"},
		{`{{ patient.id }} on {{ reading.metric }}`, "p1 on spo2"},
		{`at {{ reading.at }}`, "at 2026-03-10T10:00:00Z"},
		{`{{ patient.conditions[3] }}`, "?"},
		{`{{ count("spo2", "1h") }} readings`, "1 readings"},
		{`}} alone`, "}} alone"},
		{`a {{ news2() }} b`, "a ? b"},
	}
	for _, c := range cases {
		if got := render(t, c.message, data); got != c.want {
			t.Errorf("%q: Message() = %q, want %q", c.message, got, c.want)
		}
	}
}

func TestTemplateFollowsContext(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.Message = `SpO2 {{ last("spo2") }}%`
	data := newFakeData().set("spo2", 85)
	inst := bind(t, r, data)
	if got, want := inst.Message(), "SpO2 85%"; got != want {
		t.Errorf("Message() = %q, want %q", got, want)
	}
	data.end = baseTime.Add(time.Minute)
	data.set("spo2", 83)
	if got, want := inst.Message(), "SpO2 83%"; got != want {
		t.Errorf("after a new reading: Message() = %q, want %q", got, want)
	}
}

func TestTemplateUnclosed(t *testing.T) {
	cases := []struct {
		message      string
		line, column int
	}{
		{"{{", 1, 1},
		{"BP {{ last(\"systolic_bp\") }}/{{ last(\"diastolic_bp\")", 1, 30},
		{"°C {{ last(\"temperature_c\")", 1, 4},
		{"first line\n  {{ x", 2, 3},
	}
	for _, c := range cases {
		r := testRule(`last("spo2") < 90`)
		r.Message = c.message
		problems := compileProblems(t, r)
		if len(problems) != 1 {
			t.Errorf("%q: %d problems, want 1: %v", c.message, len(problems), problems)
			continue
		}
		checkProblem(t, problems[0], wantProblem{"message", `"{{" is never closed`, c.line, c.column, "end each expression with }}"})
	}
}

func TestTemplateExpressionProblem(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.Message = "BP {{ last(\"systolic_bp\") }}/{{\n  last(\"diastolc_bp\") }}"
	problems := compileProblems(t, r)
	if len(problems) != 1 {
		t.Fatalf("%d problems, want 1: %v", len(problems), problems)
	}
	checkProblem(t, problems[0], wantProblem{"message", `unknown metric "diastolc_bp"`, 2, 8, `did you mean "diastolic_bp"?`})
}

func TestTemplateMessageMayBeAnyType(t *testing.T) {
	r := testRule(`last("spo2") < 90`)
	r.Message = `{{ patient.id }} {{ last("spo2") }} {{ last("spo2") < 90 }}`
	mustCompile(t, r)
}
