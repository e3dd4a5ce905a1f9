package operators

import (
	"math"
	"time"
)

// Point is one sample of a metric: when it was measured and its value in
// canonical units.
//
// Callers must pass the window functions a slice sorted ascending by At, and
// equal times are allowed. Delta uses the order to find the earliest and
// latest values.
type Point struct {
	At    time.Time
	Value float64
}

// Mean returns the arithmetic mean of the values, or NaN for an empty window.
// A NaN value in the window makes the result NaN.
func Mean(points []Point) float64 {
	if len(points) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, p := range points {
		sum += p.Value
	}
	return sum / float64(len(points))
}

// Min returns the smallest value, or NaN for an empty window.
// A NaN value in the window makes the result NaN.
func Min(points []Point) float64 {
	if len(points) == 0 {
		return math.NaN()
	}
	result := points[0].Value
	for _, p := range points[1:] {
		result = math.Min(result, p.Value)
	}
	return result
}

// Max returns the largest value, or NaN for an empty window.
// A NaN value in the window makes the result NaN.
func Max(points []Point) float64 {
	if len(points) == 0 {
		return math.NaN()
	}
	result := points[0].Value
	for _, p := range points[1:] {
		result = math.Max(result, p.Value)
	}
	return result
}

// Count returns the number of points. It is a float64 so that rules can
// compare it with other numbers, and it is 0, not NaN, for an empty window.
func Count(points []Point) float64 {
	return float64(len(points))
}

// StdDev returns the sample standard deviation of the values, with n-1 in
// the denominator. It returns NaN for fewer than 2 points, where the sample
// standard deviation is undefined. It uses Welford's online algorithm, which
// avoids the cancellation of the sum-of-squares formula when the values are
// large compared with their spread.
func StdDev(points []Point) float64 {
	if len(points) < 2 {
		return math.NaN()
	}
	var mean, sumSquares float64
	for i, p := range points {
		deviation := p.Value - mean
		mean += deviation / float64(i+1)
		sumSquares += deviation * (p.Value - mean)
	}
	return math.Sqrt(sumSquares / float64(len(points)-1))
}

// Delta returns the last value minus the first value of the sorted window,
// which is the change from the earliest to the latest sample. It returns NaN
// for an empty window and 0 for a single point with a finite value. When
// several points share the earliest or latest time, the caller's order
// among them decides which one is used.
func Delta(points []Point) float64 {
	if len(points) == 0 {
		return math.NaN()
	}
	return points[len(points)-1].Value - points[0].Value
}

// Slope returns the least-squares slope of value against time, in value
// units per hour. It returns NaN for fewer than 2 points and when all points
// share one time, because no line through them has a defined slope.
//
// Times are taken as hours after the first point before any summing, so the
// large absolute Unix times never enter the sums. Both sums are centered on
// their means, which keeps the result stable when the values are large
// compared with their spread. Time differences saturate at about 292 years,
// the range of time.Duration.
func Slope(points []Point) float64 {
	if len(points) < 2 {
		return math.NaN()
	}
	first := points[0].At
	var sumHours, sumValues float64
	for _, p := range points {
		sumHours += p.At.Sub(first).Hours()
		sumValues += p.Value
	}
	n := float64(len(points))
	meanHours := sumHours / n
	meanValue := sumValues / n

	var covariance, variance float64
	for _, p := range points {
		dt := p.At.Sub(first).Hours() - meanHours
		covariance += dt * (p.Value - meanValue)
		variance += dt * dt
	}
	if variance == 0 {
		return math.NaN()
	}
	return covariance / variance
}
