package vytalwatch_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/vytalwatch/vytalwatch"
)

func decodeValue(t *testing.T, metric string, value any, unit string) (vytalwatch.Reading, *vytalwatch.Rejection) {
	t.Helper()
	fields := map[string]any{"metric": metric, "value": value, "unit": unit}
	if unit == "" {
		fields["unit"] = deleteField
	}
	return vytalwatch.DecodeReading(encode(t, edit(fields)), arrival, vytalwatch.ValidationConfig{})
}

func TestConversionExact(t *testing.T) {
	cases := []struct {
		name   string
		metric string
		value  float64
		unit   string
		want   float64
	}{
		{"lb", "weight_kg", 180, "lb", 81.6466266},
		{"lb_av", "weight_kg", 180, "[lb_av]", 81.6466266},
		{"lbs", "weight_kg", 180, "lbs", 81.6466266},
		{"g", "weight_kg", 81500, "g", 81.5},
		{"kg", "weight_kg", 81.5, "kg", 81.5},
		{"mmol/L", "glucose_mg_dl", 5.5, "mmol/L", 99},
		{"mmol/l", "glucose_mg_dl", 5.5, "mmol/l", 99},
		{"mg/dl", "glucose_mg_dl", 99, "mg/dl", 99},
		{"degC", "temperature_c", 37.2, "degC", 37.2},
		{"mm[Hg]", "systolic_bp", 128, "mm[Hg]", 128},
		{"insp/min", "resp_rate", 16, "insp/min", 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, rej := decodeValue(t, tc.metric, tc.value, tc.unit)
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if r.Value != tc.want {
				t.Errorf("Value = %v, want exactly %v", r.Value, tc.want)
			}
			spec, _ := vytalwatch.LookupMetric(tc.metric)
			if r.Unit != spec.Unit {
				t.Errorf("Unit = %q, want %q", r.Unit, spec.Unit)
			}
		})
	}
}

func TestConversionFahrenheit(t *testing.T) {
	for _, unit := range []string{"[degF]", "degF", "°F"} {
		t.Run(unit, func(t *testing.T) {
			r, rej := decodeValue(t, "temperature_c", 100.4, unit)
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if math.Abs(r.Value-38.0) > 1e-9 {
				t.Errorf("Value = %v, want 38.0 within 1e-9", r.Value)
			}
			if r.Unit != "Cel" {
				t.Errorf("Unit = %q, want Cel", r.Unit)
			}
		})
	}
}

func TestConversionBoundsAfter(t *testing.T) {
	// Bounds apply to the converted value: 1000 lb is 453.6 kg, above 450.
	_, rej := decodeValue(t, "weight_kg", 1000, "lb")
	if rej == nil {
		t.Fatal("1000 lb accepted")
	}
	if rej.Reason != vytalwatch.ReasonOutOfRange {
		t.Errorf("Reason = %q, want %q", rej.Reason, vytalwatch.ReasonOutOfRange)
	}
	// 900 lb is 408.2 kg, within bounds although 900 > 450.
	if _, rej := decodeValue(t, "weight_kg", 900, "lb"); rej != nil {
		t.Errorf("900 lb rejected: %v", rej)
	}
}

func TestMetricBounds(t *testing.T) {
	for _, name := range vytalwatch.MetricNames() {
		spec, ok := vytalwatch.LookupMetric(name)
		if !ok {
			t.Fatalf("LookupMetric(%q) not found", name)
		}
		for _, v := range []float64{spec.Min, spec.Max} {
			t.Run(fmt.Sprintf("%s/%g", name, v), func(t *testing.T) {
				r, rej := decodeValue(t, name, v, spec.Unit)
				if rej != nil {
					t.Fatalf("bound %g rejected: %v", v, rej)
				}
				if r.Value != v {
					t.Errorf("Value = %v, want %v", r.Value, v)
				}
			})
		}
		below, above := math.Nextafter(spec.Min, math.Inf(-1)), math.Nextafter(spec.Max, math.Inf(1))
		if spec.Integer {
			below, above = spec.Min-1, spec.Max+1
		}
		for _, v := range []float64{below, above} {
			t.Run(fmt.Sprintf("%s/%g", name, v), func(t *testing.T) {
				// -1 is a device no-data code of vital metrics, which is
				// rejected as such; elsewhere it is just out of range.
				want := vytalwatch.ReasonOutOfRange
				if v == -1 && spec.Vital {
					want = vytalwatch.ReasonSentinel
				}
				_, rej := decodeValue(t, name, v, spec.Unit)
				if rej == nil {
					t.Fatalf("%v accepted", v)
				}
				if rej.Reason != want {
					t.Errorf("Reason = %q, want %q", rej.Reason, want)
				}
			})
		}
	}
}

func TestMetricNamesSorted(t *testing.T) {
	names := vytalwatch.MetricNames()
	if !slices.IsSorted(names) {
		t.Errorf("MetricNames = %v, not sorted", names)
	}
	if slices.Contains(names, vytalwatch.BloodPressure) {
		t.Error("MetricNames lists blood_pressure, which is a composite")
	}
	if len(names) != 12 {
		t.Errorf("len(MetricNames) = %d, want 12", len(names))
	}
}

func TestToCanonical(t *testing.T) {
	hr, _ := vytalwatch.LookupMetric(vytalwatch.HeartRate)
	if _, ok := hr.ToCanonical(72, "furlongs"); ok {
		t.Error("heart_rate accepted unit furlongs")
	}
	if _, ok := hr.ToCanonical(72, ""); ok {
		t.Error("heart_rate accepted an empty unit")
	}
	if v, ok := hr.ToCanonical(72, " bpm "); !ok || v != 72 {
		t.Errorf("ToCanonical(72, \" bpm \") = %v, %v", v, ok)
	}
	avpu, _ := vytalwatch.LookupMetric(vytalwatch.Consciousness)
	if v, ok := avpu.ToCanonical(1, ""); !ok || v != 1 {
		t.Errorf("consciousness ToCanonical(1, \"\") = %v, %v", v, ok)
	}
	if !slices.Contains(avpu.Units(), "1") {
		t.Errorf("consciousness Units = %v, missing 1", avpu.Units())
	}
}

func TestSuggest(t *testing.T) {
	names := vytalwatch.MetricNames()
	cases := []struct{ word, want string }{
		{"heart_rte", "heart_rate"},
		{"SPO2", "spo2"},
		{"weight", ""},
		{"xyz", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := vytalwatch.Suggest(tc.word, names); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
