// Package vytalwatch holds the domain types that every part of the engine
// shares: the canonical reading and its validation, the metric registry with
// units and plausibility bounds, reading identity for deduplication, and the
// output events (alerts and dead letters).
package vytalwatch

import (
	"time"
)

// Sources a reading may come from.
const (
	SourceDevice = "device"
	SourceTenovi = "tenovi"
	SourceFHIR   = "fhir"
	SourceCSV    = "csv"
	SourceAPI    = "api"
)

var validSources = map[string]bool{
	SourceDevice: true, SourceTenovi: true, SourceFHIR: true, SourceCSV: true, SourceAPI: true,
}

// Reading is the canonical JSON message on vitals.readings, keyed by
// patient id. A blood-pressure measurement is one reading whose metric is
// blood_pressure and whose components carry systolic_bp, diastolic_bp and
// optionally heart_rate, all sharing one measurement id.
type Reading struct {
	PatientID     string      `json:"patient_id"`
	DeviceID      string      `json:"device_id,omitempty"`
	MeasurementID string      `json:"measurement_id,omitempty"`
	Metric        string      `json:"metric"`
	Value         float64     `json:"value"`
	Unit          string      `json:"unit,omitempty"`
	Components    []Component `json:"components,omitempty"`
	MeasuredAt    time.Time   `json:"measured_at"`
	ReceivedAt    time.Time   `json:"received_at"`
	Source        string      `json:"source"`
	Timezone      string      `json:"timezone,omitempty"`
	EstimatedTime bool        `json:"estimated_time,omitempty"`
	ManualEntry   bool        `json:"manual_entry,omitempty"`
	// MeasuredOffset is the UTC offset, in seconds east, that measured_at
	// was written with; MeasuredAt itself is UTC. Billing uses it for the
	// local date when neither the profile nor the reading names a zone.
	MeasuredOffset int `json:"-"`
	// SourceRef locates the reading in its source, such as a CSV row id.
	// It is for tracing only and is not part of the reading's identity.
	SourceRef string `json:"source_ref,omitempty"`
}

// Component is one metric of a composite reading.
type Component struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
}

// Sample is one validated value in canonical units, as windows store it.
// A composite reading yields one sample per component.
type Sample struct {
	Metric string
	Value  float64
}

// Samples returns the reading's values as samples, one per component for a
// composite reading. Call it on a validated reading, whose units are
// canonical.
func (r *Reading) Samples() []Sample {
	if len(r.Components) > 0 {
		out := make([]Sample, len(r.Components))
		for i, c := range r.Components {
			out[i] = Sample{Metric: c.Metric, Value: c.Value}
		}
		return out
	}
	return []Sample{{Metric: r.Metric, Value: r.Value}}
}

// HasMetric reports whether the reading carries a value of metric.
func (r *Reading) HasMetric(metric string) bool {
	if len(r.Components) == 0 {
		return r.Metric == metric
	}
	for _, c := range r.Components {
		if c.Metric == metric {
			return true
		}
	}
	return false
}
