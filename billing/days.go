package billing

import (
	"time"

	"github.com/vytalwatch/vytalwatch"
)

// Observation is what a reading contributes to billing: when it was
// measured, and whether it can count as a day with data.
type Observation struct {
	MeasuredAt time.Time
	Metric     string
	// Manual marks a value typed in by hand, which CMS does not accept as
	// automatically transmitted data.
	Manual bool
	// Estimated marks a time the device estimated.
	Estimated bool
	// Location is the reading's own zone (its IANA zone, or the offset it
	// was written with), used when the patient's zone is unknown.
	Location *time.Location
}

// Qualifies reports whether the observation can make a day count: a vital
// metric (not a battery level or a step count), transmitted by the device.
// Rejected and duplicate readings never become observations at all.
func (o Observation) Qualifies() bool {
	spec, ok := vytalwatch.LookupMetric(o.Metric)
	return ok && spec.Vital && !o.Manual
}

// DaysOf returns the distinct local dates of the qualifying observations:
// dates in the patient's zone loc, else in each reading's own zone, else
// in UTC. A date is Estimated only when all its observations are.
func DaysOf(obs []Observation, loc *time.Location) []DayRecord {
	byDate := map[Date]*DayRecord{}
	var order []Date
	for _, o := range obs {
		if !o.Qualifies() {
			continue
		}
		d := DateOf(o.MeasuredAt, o.zone(loc))
		rec, ok := byDate[d]
		if !ok {
			rec = &DayRecord{Date: d, Estimated: true}
			byDate[d] = rec
			order = append(order, d)
		}
		rec.Estimated = rec.Estimated && o.Estimated
	}
	out := make([]DayRecord, 0, len(order))
	for _, d := range order {
		out = append(out, *byDate[d])
	}
	return out
}

func (o Observation) zone(patient *time.Location) *time.Location {
	switch {
	case patient != nil:
		return patient
	case o.Location != nil:
		return o.Location
	}
	return time.UTC
}

// ReadingZone returns the zone a reading names (its IANA time zone), else
// the fixed offset its measured_at was written with.
func ReadingZone(r *vytalwatch.Reading) *time.Location {
	if r.Timezone != "" {
		if loc, err := vytalwatch.LoadLocation(r.Timezone); err == nil {
			return loc
		}
	}
	if r.MeasuredOffset == 0 {
		return time.UTC
	}
	return time.FixedZone("", r.MeasuredOffset)
}

// ObservationOf returns what a validated reading contributes to billing.
func ObservationOf(r *vytalwatch.Reading) Observation {
	metric := r.Metric
	if len(r.Components) > 0 {
		metric = r.Components[0].Metric
	}
	return Observation{MeasuredAt: r.MeasuredAt, Metric: metric, Manual: r.ManualEntry, Estimated: r.EstimatedTime, Location: ReadingZone(r)}
}
