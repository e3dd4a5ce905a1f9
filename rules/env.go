package rules

import (
	"time"

	"github.com/vytalwatch/vytalwatch/operators"
)

// Env is the typed environment rule expressions see besides the functions:
// the triggering reading and the patient's profile.
type Env struct {
	Reading ReadingEnv `expr:"reading"`
	Patient PatientEnv `expr:"patient"`
	// Billing is filled in for billing rules only.
	Billing BillingEnv `expr:"billing"`
}

// BillingEnv is where the patient stands against the CPT thresholds as of
// the evaluation.
type BillingEnv struct {
	// Days counts the days with data in the current 30-day device period,
	// up to the evaluation's date.
	Days float64 `expr:"days"`
	// DaysLeft counts the days of the period on which a reading could still
	// add a day: the rest of the period, today included if it has no data
	// yet.
	DaysLeft float64 `expr:"days_left"`
	// Minutes are the RPM minutes of the calendar month so far.
	Minutes float64 `expr:"minutes"`
	// Interactive is set once the month has a real-time interactive
	// communication.
	Interactive bool `expr:"interactive"`
	// MonthDaysLeft counts the days of the calendar month after today.
	MonthDaysLeft float64 `expr:"month_days_left"`
}

// ReadingEnv is the reading that triggered an evaluation. For evaluations
// by the clock, Metric is empty and Value is unknown (NaN).
type ReadingEnv struct {
	Metric string    `expr:"metric"`
	Value  float64   `expr:"value"`
	At     time.Time `expr:"at"`
}

// PatientEnv is the patient's profile. Age is NaN when unknown.
type PatientEnv struct {
	ID         string   `expr:"id"`
	Age        float64  `expr:"age"`
	Conditions []string `expr:"conditions"`
	Timezone   string   `expr:"timezone"`
}

// Data is the patient state an evaluation reads: windows end at the
// triggering reading's measured_at, or at the clock for timer evaluations.
// Implementations record storage errors themselves and return unknown
// values, so that a broken store fails the batch, not one rule.
type Data interface {
	// Last returns the newest value of metric at or before the end of the
	// window, or NaN when there is none.
	Last(metric string) float64
	// Window appends to buf the samples of metric in (end-width, end],
	// sorted by time.
	Window(metric string, width time.Duration, buf []operators.Point) []operators.Point
	// Since returns the hours from the newest sample of metric to the end
	// of the window, or NaN when there is none.
	Since(metric string) float64
	// Threshold returns the patient's value of a named threshold, if the
	// profile sets one.
	Threshold(name string) (float64, bool)
	// News2Scale2 reports whether the patient's SpO2 is scored on NEWS2
	// scale 2, a clinician's choice for hypercapnic respiratory failure.
	News2Scale2() bool
}

// EvalContext carries the state of one evaluation to the rule functions.
// Programs are bound to one context, and a context is used by one
// goroutine: set it, then evaluate.
type EvalContext struct {
	data    Data
	env     Env
	points  []operators.Point
	windows map[string]time.Duration
}

// NewEvalContext returns an empty context.
func NewEvalContext() *EvalContext {
	return &EvalContext{windows: map[string]time.Duration{}}
}

// Set points the context at the patient data and environment of the next
// evaluation.
func (c *EvalContext) Set(data Data, env Env) {
	c.data = data
	c.env = env
}

// Env returns the environment of the current evaluation.
func (c *EvalContext) Env() *Env { return &c.env }

func (c *EvalContext) window(s string) time.Duration {
	if d, ok := c.windows[s]; ok {
		return d
	}
	d, err := ParseWindow(s)
	if err != nil {
		// Compilation accepts only literal, valid windows, so this is a
		// programming error.
		panic(err)
	}
	c.windows[s] = d
	return d
}

func (c *EvalContext) samples(metric, window string) []operators.Point {
	c.points = c.data.Window(metric, c.window(window), c.points[:0])
	return c.points
}

func (c *EvalContext) news2Inputs() operators.News2Inputs {
	return operators.News2Inputs{
		RespRate:       c.data.Last("resp_rate"),
		SpO2:           c.data.Last("spo2"),
		SystolicBP:     c.data.Last("systolic_bp"),
		Pulse:          c.data.Last("heart_rate"),
		TemperatureC:   c.data.Last("temperature_c"),
		Consciousness:  c.data.Last("consciousness"),
		SupplementalO2: c.data.Last("supplemental_o2"),
		Scale2:         c.data.News2Scale2(),
	}
}
