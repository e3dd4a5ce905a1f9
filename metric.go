package vytalwatch

import (
	"sort"
	"strings"
)

// Canonical metric names. Readings on the canonical topic use exactly these
// names, and rules refer to them in calls such as last("spo2").
const (
	HeartRate      = "heart_rate"
	SystolicBP     = "systolic_bp"
	DiastolicBP    = "diastolic_bp"
	SpO2           = "spo2"
	RespRate       = "resp_rate"
	TemperatureC   = "temperature_c"
	WeightKg       = "weight_kg"
	GlucoseMgDL    = "glucose_mg_dl"
	Consciousness  = "consciousness"
	SupplementalO2 = "supplemental_o2"
	Battery        = "battery_percentage"
	Steps          = "steps"

	// BloodPressure is the metric of a composite reading whose components
	// are systolic_bp, diastolic_bp and optionally heart_rate.
	BloodPressure = "blood_pressure"
)

// Conversion factors to canonical units.
const (
	KgPerPound     = 0.45359237
	MgDLPerMmolL   = 18.0 // glucose; the customary clinical factor
	dimensionless  = "1"
	celsiusUnit    = "Cel"
	kilogramUnit   = "kg"
	glucoseMgDLUnt = "mg/dL"
)

// MetricSpec describes one metric: its canonical unit, the units accepted
// and converted at the edge, and the plausibility bounds applied after
// conversion.
type MetricSpec struct {
	Name string
	// Unit is the canonical unit that every stored value is in.
	Unit string
	// Min and Max are inclusive plausibility bounds in the canonical unit.
	Min, Max float64
	// Vital is true for physiologic metrics that count as a day with data
	// for device-supply billing; battery and step counts are not vitals.
	Vital bool
	// UnitOptional allows an empty unit, for dimensionless codes such as
	// consciousness, where "1" is implied.
	UnitOptional bool
	// Integer requires a whole number, for coded metrics.
	Integer bool
	// convert maps an accepted unit spelling to a function that returns the
	// value in the canonical unit.
	convert map[string]func(float64) float64
}

func identity(v float64) float64 { return v }

func fahrenheitToCelsius(f float64) float64 { return (f - 32) * 5 / 9 }

func poundsToKg(lb float64) float64 { return lb * KgPerPound }

func gramsToKg(g float64) float64 { return g / 1000 }

func mmolToMgDL(v float64) float64 { return v * MgDLPerMmolL }

func units(canonical func(float64) float64, spellings ...string) map[string]func(float64) float64 {
	m := make(map[string]func(float64) float64, len(spellings))
	for _, s := range spellings {
		m[s] = canonical
	}
	return m
}

func merge(maps ...map[string]func(float64) float64) map[string]func(float64) float64 {
	out := map[string]func(float64) float64{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// metricSpecs holds the default bounds. The bounds reject what no device
// can measure on a living adult (zeros, sentinel codes, a systolic of
// 11647), and keep the implausible-but-possible extremes, because those are
// exactly the readings an alert must not miss.
var metricSpecs = map[string]*MetricSpec{
	HeartRate: {Name: HeartRate, Unit: "bpm", Min: 20, Max: 300, Vital: true,
		convert: units(identity, "bpm", "/min", "beats/min", "{beats}/min")},
	SystolicBP: {Name: SystolicBP, Unit: "mmHg", Min: 40, Max: 300, Vital: true,
		convert: units(identity, "mmHg", "mm[Hg]", "mm Hg")},
	DiastolicBP: {Name: DiastolicBP, Unit: "mmHg", Min: 20, Max: 200, Vital: true,
		convert: units(identity, "mmHg", "mm[Hg]", "mm Hg")},
	SpO2: {Name: SpO2, Unit: "%", Min: 50, Max: 100, Vital: true,
		convert: units(identity, "%")},
	RespRate: {Name: RespRate, Unit: "breaths/min", Min: 3, Max: 80, Vital: true,
		convert: units(identity, "breaths/min", "/min", "{breaths}/min", "insp/min")},
	TemperatureC: {Name: TemperatureC, Unit: celsiusUnit, Min: 25, Max: 45, Vital: true,
		convert: merge(units(identity, celsiusUnit, "°C", "degC"),
			units(fahrenheitToCelsius, "[degF]", "°F", "degF"))},
	WeightKg: {Name: WeightKg, Unit: kilogramUnit, Min: 2, Max: 450, Vital: true,
		convert: merge(units(identity, kilogramUnit),
			units(poundsToKg, "[lb_av]", "lb", "lbs"),
			units(gramsToKg, "g"))},
	GlucoseMgDL: {Name: GlucoseMgDL, Unit: glucoseMgDLUnt, Min: 10, Max: 1000, Vital: true,
		convert: merge(units(identity, glucoseMgDLUnt, "mg/dl"),
			units(mmolToMgDL, "mmol/L", "mmol/l"))},
	Consciousness: {Name: Consciousness, Unit: dimensionless, Min: 0, Max: 1,
		UnitOptional: true, Integer: true, convert: units(identity, dimensionless, "{score}")},
	SupplementalO2: {Name: SupplementalO2, Unit: dimensionless, Min: 0, Max: 1,
		UnitOptional: true, Integer: true, convert: units(identity, dimensionless, "{boolean}")},
	Battery: {Name: Battery, Unit: "%", Min: 0, Max: 100,
		convert: units(identity, "%")},
	Steps: {Name: Steps, Unit: "{steps}", Min: 0, Max: 200000, UnitOptional: true, Integer: true,
		convert: units(identity, "{steps}", dimensionless)},
}

// LookupMetric returns the specification of a canonical metric name.
func LookupMetric(name string) (*MetricSpec, bool) {
	spec, ok := metricSpecs[name]
	return spec, ok
}

// MetricNames returns every canonical metric name, sorted.
func MetricNames() []string {
	names := make([]string, 0, len(metricSpecs))
	for name := range metricSpecs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Units returns the unit spellings accepted for the metric, sorted.
func (s *MetricSpec) Units() []string {
	out := make([]string, 0, len(s.convert))
	for u := range s.convert {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// ToCanonical converts a value in unit to the canonical unit. It returns
// false when the unit is not one the metric accepts.
func (s *MetricSpec) ToCanonical(value float64, unit string) (float64, bool) {
	unit = strings.TrimSpace(unit)
	if unit == "" && s.UnitOptional {
		return value, true
	}
	fn, ok := s.convert[unit]
	if !ok {
		return 0, false
	}
	return fn(value), true
}
