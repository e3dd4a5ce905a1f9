package engine

import (
	"math"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/operators"
	"github.com/vytalwatch/vytalwatch/state"
)

// patientData serves one patient's state to rule functions as of one
// event time. A storage error is kept in err and fails the batch after
// the evaluation, so a broken store is never mistaken for missing data.
type patientData struct {
	batch   *state.Batch
	patient string
	asOf    int64
	profile *vytalwatch.PatientProfile
	err     error
}

func (d *patientData) reset(b *state.Batch, patient string, asOf time.Time, profile *vytalwatch.PatientProfile) {
	d.batch, d.patient, d.asOf, d.profile = b, patient, asOf.UnixNano(), profile
}

func (d *patientData) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Last returns the newest value at or before the evaluation time.
func (d *patientData) Last(metric string) float64 {
	_, v, ok, err := d.batch.Latest(d.patient, metric, d.asOf)
	if err != nil {
		d.fail(err)
		return math.NaN()
	}
	if !ok {
		return math.NaN()
	}
	return v
}

// Window appends the samples of (asOf-width, asOf].
func (d *patientData) Window(metric string, width time.Duration, buf []operators.Point) []operators.Point {
	err := d.batch.Range(d.patient, metric, d.asOf-int64(width)+1, d.asOf, func(at int64, v float64) {
		buf = append(buf, operators.Point{At: time.Unix(0, at), Value: v})
	})
	if err != nil {
		d.fail(err)
	}
	return buf
}

// Since returns hours from the newest sample to the evaluation time.
func (d *patientData) Since(metric string) float64 {
	at, _, ok, err := d.batch.Latest(d.patient, metric, d.asOf)
	if err != nil {
		d.fail(err)
		return math.NaN()
	}
	if !ok {
		return math.NaN()
	}
	return time.Duration(d.asOf - at).Hours()
}

// Threshold returns the profile's override of a named threshold.
func (d *patientData) Threshold(name string) (float64, bool) {
	if d.profile == nil {
		return 0, false
	}
	v, ok := d.profile.Thresholds[name]
	return v, ok
}

// News2Scale2 reports the profile's NEWS2 SpO2 scale choice.
func (d *patientData) News2Scale2() bool {
	return d.profile != nil && d.profile.News2Scale2
}
