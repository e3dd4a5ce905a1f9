package operators_test

import (
	"math"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/operators"
)

// tolerance bounds the error of results that are not exact in floating point.
const tolerance = 1e-9

var base = time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)

// series returns points at start plus the given hours, with the given values.
func series(start time.Time, hours []float64, values []float64) []operators.Point {
	points := make([]operators.Point, len(values))
	for i, v := range values {
		at := start.Add(time.Duration(hours[i] * float64(time.Hour)))
		points[i] = operators.Point{At: at, Value: v}
	}
	return points
}

// hourly returns points one hour apart, starting at base, with the given values.
func hourly(values ...float64) []operators.Point {
	hours := make([]float64, len(values))
	for i := range hours {
		hours[i] = float64(i)
	}
	return series(base, hours, values)
}

// aggregateCase is one window and the expected result of one aggregate. A
// NaN want expects a NaN result. exact requires bit-equal results, and
// otherwise the result may differ from want by tolerance.
type aggregateCase struct {
	name   string
	points []operators.Point
	want   float64
	exact  bool
}

func checkAggregate(t *testing.T, fn string, aggregate func([]operators.Point) float64, tests []aggregateCase) {
	t.Helper()
	for _, tc := range tests {
		got := aggregate(tc.points)
		switch {
		case math.IsNaN(tc.want):
			if !math.IsNaN(got) {
				t.Errorf("%s(%s) = %v, want NaN", fn, tc.name, got)
			}
		case tc.exact:
			if got != tc.want {
				t.Errorf("%s(%s) = %v, want exactly %v", fn, tc.name, got, tc.want)
			}
		default:
			if math.Abs(got-tc.want) > tolerance {
				t.Errorf("%s(%s) = %v, want %v within %g", fn, tc.name, got, tc.want, tolerance)
			}
		}
	}
}

func TestMean(t *testing.T) {
	nan := math.NaN()
	checkAggregate(t, "Mean", operators.Mean, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), 97, true},
		{"three points", hourly(1, 2, 6), 3, true},
		{"negative values", hourly(-4, 2), -1, true},
		{"tied times", series(base, []float64{0, 0, 1}, []float64{10, 20, 30}), 20, true},
		{"inexact", hourly(0.1, 0.2), 0.15, false},
		{"NaN value", hourly(1, nan, 3), nan, false},
	})
}

func TestMin(t *testing.T) {
	nan := math.NaN()
	checkAggregate(t, "Min", operators.Min, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), 97, true},
		{"minimum in middle", hourly(5, -2, 7), -2, true},
		{"minimum last", hourly(5, 4, 3), 3, true},
		{"tied times", series(base, []float64{0, 0}, []float64{8, 6}), 6, true},
		{"NaN value", hourly(1, nan, 3), nan, false},
	})
}

func TestMax(t *testing.T) {
	nan := math.NaN()
	checkAggregate(t, "Max", operators.Max, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), 97, true},
		{"maximum in middle", hourly(5, 9, 7), 9, true},
		{"maximum first", hourly(5, 4, 3), 5, true},
		{"tied times", series(base, []float64{0, 0}, []float64{6, 8}), 8, true},
		{"NaN value", hourly(1, nan, 3), nan, false},
	})
}

func TestCount(t *testing.T) {
	checkAggregate(t, "Count", operators.Count, []aggregateCase{
		{"nil", nil, 0, true},
		{"empty", []operators.Point{}, 0, true},
		{"one point", hourly(97), 1, true},
		{"tied times", series(base, []float64{0, 0, 0}, []float64{1, 2, 3}), 3, true},
		{"NaN value", hourly(math.NaN(), 1), 2, true},
	})
}

func TestStdDev(t *testing.T) {
	nan := math.NaN()
	checkAggregate(t, "StdDev", operators.StdDev, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), nan, false},
		{"two points", hourly(1, 3), math.Sqrt2, false},
		// The squared deviations sum to 32, so the sample variance is 32/7.
		{"eight points", hourly(2, 4, 4, 4, 5, 5, 7, 9), math.Sqrt(32.0 / 7), false},
		{"constant", hourly(5, 5, 5), 0, true},
		{"tied times", series(base, []float64{0, 0}, []float64{1, 3}), math.Sqrt2, false},
		// The sum-of-squares formula returns NaN here, because of cancellation.
		{"large offset", hourly(1e9+4, 1e9+7, 1e9+13, 1e9+16), math.Sqrt(30), false},
		{"NaN value", hourly(1, nan, 3), nan, false},
	})
}

func TestDelta(t *testing.T) {
	nan := math.NaN()
	checkAggregate(t, "Delta", operators.Delta, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), 0, true},
		{"rise", hourly(70, 60, 85), 15, true},
		{"fall", hourly(98, 99, 94), -4, true},
		{"tied first times", series(base, []float64{0, 0, 2}, []float64{10, 12, 15}), 5, true},
		{"tied last times", series(base, []float64{0, 2, 2}, []float64{10, 12, 15}), 5, true},
		{"NaN last value", hourly(1, nan), nan, false},
	})
}

func TestSlope(t *testing.T) {
	nan := math.NaN()
	year2100 := time.Date(2100, 6, 1, 12, 0, 0, 0, time.UTC)
	checkAggregate(t, "Slope", operators.Slope, []aggregateCase{
		{"empty", nil, nan, false},
		{"one point", hourly(97), nan, false},
		{"all times tied", series(base, []float64{0, 0, 0}, []float64{1, 2, 3}), nan, false},
		{"two points", hourly(10, 13), 3, false},
		{"line", hourly(10, 12, 14), 2, false},
		{"flat", hourly(5, 5, 5), 0, true},
		{"falling", series(base, []float64{0, 0.5}, []float64{100, 99}), -2, false},
		// Least squares through (0,0), (0,2) and (1,4) has slope 3.
		{"tied times", series(base, []float64{0, 0, 1}, []float64{0, 2, 4}), 3, false},
		{"minutes apart", series(base, []float64{0, 0.25}, []float64{60, 61}), 4, false},
		{"year 2100", series(year2100, []float64{0, 1, 2}, []float64{10, 12, 14}), 2, false},
		{"year 2100 seconds", series(year2100, []float64{0, 1.0 / 3600}, []float64{0, 1}), 3600, false},
		{"large values", hourly(1e9, 1e9+2, 1e9+4), 2, false},
		{"NaN value", hourly(1, nan, 3), nan, false},
	})
}

func BenchmarkMean(b *testing.B) {
	values := make([]float64, 1440)
	for i := range values {
		values[i] = 60 + float64(i%40)
	}
	points := hourly(values...)
	for b.Loop() {
		operators.Mean(points)
	}
}
