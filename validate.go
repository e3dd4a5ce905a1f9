package vytalwatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// Rejection reasons. They are stable, machine-readable values: dead letters,
// metrics and summaries carry them, and dashboards group by them.
const (
	ReasonMalformed         = "malformed_payload"
	ReasonMissingField      = "missing_field"
	ReasonUnknownMetric     = "unknown_metric"
	ReasonMissingUnit       = "missing_unit"
	ReasonUnknownUnit       = "unknown_unit"
	ReasonNotNumeric        = "value_not_numeric"
	ReasonNotInteger        = "value_not_integer"
	ReasonOutOfRange        = "out_of_range"
	ReasonSentinel          = "sentinel_value"
	ReasonDiastolicNotBelow = "diastolic_not_below_systolic"
	ReasonInvalidComponents = "invalid_components"
	ReasonInvalidTimestamp  = "invalid_timestamp"
	ReasonTimestampInFuture = "timestamp_in_future"
	ReasonTimestampTooOld   = "timestamp_too_old"
	ReasonInvalidTimezone   = "invalid_timezone"
	ReasonInvalidSource     = "invalid_source"
	ReasonFieldTooLong      = "field_too_long"
	ReasonInvalidID         = "invalid_id"
)

// sentinelValues are codes that devices send in place of a measurement, such
// as 2047 (an 11-bit "no data" code) and the all-ones values of 12, 15 and
// 16-bit fields.
var sentinelValues = map[float64]bool{2047: true, 4095: true, 32767: true, 65535: true, -1: true}

// Rejection explains why a reading was not accepted. It names the field and
// the offending value, and its message tells how to fix it.
type Rejection struct {
	Reason  string `json:"reason"`
	Field   string `json:"field,omitempty"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Message }

func reject(reason, field, value, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Field: field, Value: value, Message: fmt.Sprintf(format, args...)}
}

// DefaultMaxAge is how far behind its arrival a reading may be measured
// when ValidationConfig.MaxAge is zero.
const DefaultMaxAge = 10 * 365 * 24 * time.Hour

// ValidationConfig holds the clock limits of validation.
type ValidationConfig struct {
	// MaxFutureSkew is how far measured_at may be ahead of received_at.
	// Defaults to 10 minutes.
	MaxFutureSkew time.Duration
	// MaxAge is how far measured_at may be behind received_at before the
	// device clock is assumed wrong (reset to 1970 or 2000, say).
	// Defaults to 10 years.
	MaxAge time.Duration
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c ValidationConfig) WithDefaults() ValidationConfig {
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = 10 * time.Minute
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	return c
}

// wireReading mirrors Reading with raw values, so that each field's problem
// can be reported precisely.
type wireReading struct {
	PatientID     *string         `json:"patient_id"`
	DeviceID      string          `json:"device_id"`
	MeasurementID string          `json:"measurement_id"`
	Metric        *string         `json:"metric"`
	Value         json.RawMessage `json:"value"`
	Unit          *string         `json:"unit"`
	Components    []wireComponent `json:"components"`
	MeasuredAt    *string         `json:"measured_at"`
	ReceivedAt    *string         `json:"received_at"`
	Source        *string         `json:"source"`
	Timezone      string          `json:"timezone"`
	EstimatedTime bool            `json:"estimated_time"`
	ManualEntry   bool            `json:"manual_entry"`
	SourceRef     string          `json:"source_ref"`
}

type wireComponent struct {
	Metric string          `json:"metric"`
	Value  json.RawMessage `json:"value"`
	Unit   *string         `json:"unit"`
}

var (
	readingFields   = jsonFieldNames(reflect.TypeFor[wireReading]())
	componentFields = jsonFieldNames(reflect.TypeFor[wireComponent]())
)

func jsonFieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	return names
}

// UnknownReadingField returns the first field of payload, in sorted
// order, that a reading does not have, as a path such as "colour" or
// "components[1].colour", or "" when there is none. Names must match
// exactly, although DecodeReading, like encoding/json, also takes other
// capitalizations. A payload that is not an object, or whose components
// are not a list of objects, gives "", because DecodeReading rejects it.
func UnknownReadingField(payload []byte) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return ""
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !readingFields[name] {
			return name
		}
	}
	var components []map[string]json.RawMessage
	if raw, ok := fields["components"]; !ok || json.Unmarshal(raw, &components) != nil {
		return ""
	}
	for i, c := range components {
		for _, name := range slices.Sorted(maps.Keys(c)) {
			if !componentFields[name] {
				return fmt.Sprintf("components[%d].%s", i, name)
			}
		}
	}
	return ""
}

// DecodeReading parses and validates one canonical reading. arrival is when
// the message reached the broker, and replaces a missing received_at.
// On success the returned reading has canonical units and UTC times.
func DecodeReading(payload []byte, arrival time.Time, cfg ValidationConfig) (Reading, *Rejection) {
	cfg = cfg.WithDefaults()
	var w wireReading
	if err := json.Unmarshal(payload, &w); err != nil {
		return Reading{}, reject(ReasonMalformed, "", "", "payload is not a JSON reading object (%v); send one object with patient_id, metric, value, unit and measured_at", err)
	}
	if rej := checkUTF8(payload); rej != nil {
		return Reading{}, rej
	}
	r := Reading{
		DeviceID: w.DeviceID, MeasurementID: w.MeasurementID, Timezone: w.Timezone,
		EstimatedTime: w.EstimatedTime, ManualEntry: w.ManualEntry, SourceRef: w.SourceRef,
	}
	if rej := decodeIDs(&w, &r); rej != nil {
		return Reading{}, rej
	}
	if rej := decodeSource(&w, &r); rej != nil {
		return Reading{}, rej
	}
	if rej := decodeTimes(&w, &r, arrival, cfg); rej != nil {
		return Reading{}, rej
	}
	if w.Metric == nil || *w.Metric == "" {
		return Reading{}, reject(ReasonMissingField, "metric", "", "metric is missing; set it to one of %s", strings.Join(MetricNames(), ", "))
	}
	r.Metric = *w.Metric
	if r.Metric == BloodPressure {
		if rej := decodeComponents(&w, &r); rej != nil {
			return Reading{}, rej
		}
		return r, nil
	}
	if len(w.Components) > 0 {
		return Reading{}, reject(ReasonInvalidComponents, "components", r.Metric, "only blood_pressure readings carry components; send metric %q as a plain value", r.Metric)
	}
	value, unit, rej := decodeValue(r.Metric, "", w.Value, w.Unit)
	if rej != nil {
		return Reading{}, rej
	}
	r.Value, r.Unit = value, unit
	return r, nil
}

func decodeIDs(w *wireReading, r *Reading) *Rejection {
	if w.PatientID == nil || strings.TrimSpace(*w.PatientID) == "" {
		return reject(ReasonMissingField, "patient_id", "", "patient_id is missing; every reading must name its patient")
	}
	r.PatientID = *w.PatientID
	// A slice, not a map, so that a reading with several bad ids is always
	// rejected on the same field.
	ids := []struct{ field, value string }{
		{"patient_id", r.PatientID}, {"device_id", r.DeviceID},
		{"measurement_id", r.MeasurementID}, {"source_ref", r.SourceRef},
	}
	for _, id := range ids {
		if len(id.value) > MaxIDLength {
			return reject(ReasonFieldTooLong, id.field, quoteID(id.value), "%s is %d bytes long; ids may be at most %d bytes", id.field, len(id.value), MaxIDLength)
		}
	}
	for _, id := range ids {
		if err := CheckLine(id.value); err != nil {
			return reject(ReasonInvalidID, id.field, quoteID(id.value),
				"%s %s contains %v; remove it, because ids must be printable UTF-8 text without NUL or other control characters", id.field, quoteID(id.value), err)
		}
	}
	if !ValidPatientID(r.PatientID) {
		return reject(ReasonInvalidID, "patient_id", quoteID(r.PatientID),
			"patient_id %s is not a valid patient id; use %s, as POST /v1/patients requires", quoteID(r.PatientID), PatientIDFormat)
	}
	return nil
}

// checkUTF8 rejects a payload with invalid UTF-8 in any string, naming
// the field. Unmarshal has already replaced such bytes with U+FFFD, so
// the raw payload is checked.
func checkUTF8(payload []byte) *Rejection {
	if utf8.Valid(payload) {
		return nil
	}
	field, _ := FindBadJSONText(payload, func(string) error { return nil })
	reason := ReasonMalformed
	switch field {
	case "patient_id", "device_id", "measurement_id", "source_ref":
		reason = ReasonInvalidID
	}
	name := field
	if name == "" {
		name = "the payload"
	}
	return reject(reason, field, "", "%s contains invalid UTF-8; send the reading as UTF-8 text", name)
}

// quoteID returns an id as a Go-quoted ASCII string of at most about 40
// characters, so that a rejection shows control characters and invalid
// bytes visibly and stays short.
func quoteID(id string) string {
	if len(id) > 32 {
		return strconv.QuoteToASCII(id[:32]) + "..."
	}
	return strconv.QuoteToASCII(id)
}

func decodeSource(w *wireReading, r *Reading) *Rejection {
	if w.Source == nil || *w.Source == "" {
		r.Source = SourceDevice
		return nil
	}
	if !validSources[*w.Source] {
		return reject(ReasonInvalidSource, "source", *w.Source, "source %q is not one of device, tenovi, fhir, csv, api", *w.Source)
	}
	r.Source = *w.Source
	return nil
}

func decodeTimes(w *wireReading, r *Reading, arrival time.Time, cfg ValidationConfig) *Rejection {
	if w.MeasuredAt == nil || *w.MeasuredAt == "" {
		return reject(ReasonMissingField, "measured_at", "", "measured_at is missing; give the time of measurement in RFC 3339 with an offset, such as 2026-03-10T08:15:00-05:00")
	}
	measured, err := time.Parse(time.RFC3339Nano, *w.MeasuredAt)
	if err != nil {
		return reject(ReasonInvalidTimestamp, "measured_at", *w.MeasuredAt, "measured_at %q is not RFC 3339 with an offset; use a form such as 2026-03-10T08:15:00-05:00", *w.MeasuredAt)
	}
	received := arrival
	if w.ReceivedAt != nil && *w.ReceivedAt != "" {
		received, err = time.Parse(time.RFC3339Nano, *w.ReceivedAt)
		if err != nil {
			return reject(ReasonInvalidTimestamp, "received_at", *w.ReceivedAt, "received_at %q is not RFC 3339 with an offset; omit it to use the broker's arrival time", *w.ReceivedAt)
		}
	}
	// The broker's arrival time is the clock a sender cannot set, so a
	// received_at ahead of it is not believed: otherwise a sender could
	// pass any future measured_at by dating received_at with it.
	if !arrival.IsZero() && received.After(arrival.Add(cfg.MaxFutureSkew)) {
		return reject(ReasonTimestampInFuture, "received_at", *w.ReceivedAt,
			"received_at %s is %s ahead of the broker's arrival time %s (at most %s allowed); check the sender's clock",
			*w.ReceivedAt, received.Sub(arrival).Round(time.Second), arrival.UTC().Format(time.RFC3339), cfg.MaxFutureSkew)
	}
	if r.Timezone != "" {
		if _, err := LoadLocation(r.Timezone); err != nil || r.Timezone == "Local" {
			return reject(ReasonInvalidTimezone, "timezone", r.Timezone, "timezone %q is not an IANA zone name; use a name such as America/New_York, or omit it", r.Timezone)
		}
	}
	if measured.After(received.Add(cfg.MaxFutureSkew)) {
		return reject(ReasonTimestampInFuture, "measured_at", *w.MeasuredAt,
			"measured_at %s is %s ahead of received_at %s (at most %s allowed); check the device clock",
			*w.MeasuredAt, measured.Sub(received).Round(time.Second), received.UTC().Format(time.RFC3339), cfg.MaxFutureSkew)
	}
	if measured.Before(received.Add(-cfg.MaxAge)) {
		return reject(ReasonTimestampTooOld, "measured_at", *w.MeasuredAt,
			"measured_at %s is more than %s before received_at %s; check the device clock",
			*w.MeasuredAt, cfg.MaxAge.Round(time.Hour), received.UTC().Format(time.RFC3339))
	}
	_, r.MeasuredOffset = measured.Zone()
	r.MeasuredAt = measured.UTC()
	r.ReceivedAt = received.UTC()
	return nil
}

func decodeComponents(w *wireReading, r *Reading) *Rejection {
	if len(w.Components) == 0 {
		return reject(ReasonInvalidComponents, "components", "", "a blood_pressure reading needs components with systolic_bp and diastolic_bp")
	}
	seen := map[string]bool{}
	for i, c := range w.Components {
		field := fmt.Sprintf("components[%d]", i)
		switch c.Metric {
		case SystolicBP, DiastolicBP, HeartRate:
		default:
			return reject(ReasonInvalidComponents, field+".metric", c.Metric, "component metric %q is not one of systolic_bp, diastolic_bp, heart_rate", c.Metric)
		}
		if seen[c.Metric] {
			return reject(ReasonInvalidComponents, field+".metric", c.Metric, "component %s appears twice; send each component once", c.Metric)
		}
		seen[c.Metric] = true
		value, unit, rej := decodeValue(c.Metric, field+".", c.Value, c.Unit)
		if rej != nil {
			return rej
		}
		r.Components = append(r.Components, Component{Metric: c.Metric, Value: value, Unit: unit})
	}
	if !seen[SystolicBP] || !seen[DiastolicBP] {
		return reject(ReasonInvalidComponents, "components", "", "a blood_pressure reading needs both systolic_bp and diastolic_bp components")
	}
	// Canonical component order keeps identities and events independent of
	// the order a device happened to send.
	sort.Slice(r.Components, func(i, j int) bool { return r.Components[i].Metric < r.Components[j].Metric })
	var sys, dia float64
	for _, c := range r.Components {
		switch c.Metric {
		case SystolicBP:
			sys = c.Value
		case DiastolicBP:
			dia = c.Value
		}
	}
	if dia >= sys {
		return reject(ReasonDiastolicNotBelow, "components", fmt.Sprintf("%g/%g", sys, dia),
			"diastolic %g is not below systolic %g; the cuff reading is invalid, take it again", dia, sys)
	}
	r.Unit = "mmHg"
	return nil
}

// decodeValue parses a numeric value with its unit, converts it to the
// metric's canonical unit and checks its bounds.
func decodeValue(metric, prefix string, raw json.RawMessage, unitPtr *string) (float64, string, *Rejection) {
	spec, ok := LookupMetric(metric)
	if !ok {
		return 0, "", unknownMetric(prefix+"metric", metric)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, "", reject(ReasonMissingField, prefix+"value", "", "value is missing for %s; send a number in %s", metric, spec.Unit)
	}
	if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return 0, "", reject(ReasonNotNumeric, prefix+"value", truncate(string(raw)), "value %s for %s is not a JSON number; send a number such as 72", truncate(string(raw)), metric)
	}
	var value float64
	if err := json.Unmarshal(raw, &value); err != nil || math.IsNaN(value) || math.IsInf(value, 0) {
		return 0, "", reject(ReasonNotNumeric, prefix+"value", truncate(string(raw)), "value %s for %s is not a finite number", truncate(string(raw)), metric)
	}
	unit := ""
	if unitPtr != nil {
		unit = strings.TrimSpace(*unitPtr)
	}
	if unit == "" && !spec.UnitOptional {
		return 0, "", reject(ReasonMissingUnit, prefix+"unit", "", "unit is missing for %s; send one of %s", metric, strings.Join(spec.Units(), ", "))
	}
	// No-data codes matter only where a device measures a vital; a step
	// count or battery level of 2047 is a real value.
	if spec.Vital && sentinelValues[value] {
		return 0, "", reject(ReasonSentinel, prefix+"value", fmt.Sprint(value), "value %g for %s is a device no-data code, not a measurement", value, metric)
	}
	converted, ok := spec.ToCanonical(value, unit)
	if !ok {
		return 0, "", reject(ReasonUnknownUnit, prefix+"unit", unit, "unit %q is not accepted for %s; send one of %s", unit, metric, strings.Join(spec.Units(), ", "))
	}
	if spec.Integer && converted != math.Trunc(converted) {
		return 0, "", reject(ReasonNotInteger, prefix+"value", fmt.Sprint(value), "value %g for %s must be a whole-number code", value, metric)
	}
	if converted < spec.Min || converted > spec.Max {
		return 0, "", reject(ReasonOutOfRange, prefix+"value", fmt.Sprint(value),
			"value %g %s for %s is outside the plausible range %g-%g %s; check the device or the unit",
			value, unit, metric, spec.Min, spec.Max, spec.Unit)
	}
	return converted, spec.Unit, nil
}

func unknownMetric(field, metric string) *Rejection {
	hint := ""
	if s := Suggest(metric, MetricNames()); s != "" {
		hint = fmt.Sprintf("did you mean %q? ", s)
	}
	return reject(ReasonUnknownMetric, field, metric, "metric %q is not known; %suse one of %s", metric, hint, strings.Join(MetricNames(), ", "))
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Suggest returns the candidate closest to word when it is close enough to
// be a likely typo, or "" when none is.
func Suggest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(strings.ToLower(word), c)
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

var locations sync.Map // IANA name -> *time.Location

// LoadLocation is time.LoadLocation with a cache, because loading a zone
// reads the zone database on every call.
func LoadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}
