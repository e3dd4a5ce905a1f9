package vytalwatch

import (
	"time"
	"unicode/utf8"
)

// Alert event kinds.
const (
	AlertFired        = "fired"
	AlertResolved     = "resolved"
	AlertRenotified   = "renotified"
	AlertAcknowledged = "acknowledged"
)

// Alert triggers: what made the engine evaluate the rule.
const (
	TriggerReading = "reading"
	TriggerTimer   = "timer"
	// TriggerCareEvent is a time entry or claim arriving, which billing
	// rules are evaluated on.
	TriggerCareEvent = "care_event"
)

// AlertEvent is the JSON message on vitals.alerts, keyed by patient id.
type AlertEvent struct {
	// EventID is a hash of the kind, the rule id and version, the patient
	// and the triggering reading (or the firing this event follows), so a
	// replay produces the same id.
	EventID     string `json:"event_id"`
	Kind        string `json:"kind"`
	RuleID      string `json:"rule_id"`
	RuleVersion int    `json:"rule_version"`
	RuleName    string `json:"rule_name"`
	Severity    string `json:"severity"`
	PatientID   string `json:"patient_id"`
	// At is the event time of the transition: the triggering reading's
	// measured_at, or the engine clock for timer evaluations.
	At time.Time `json:"at"`
	// EmittedAt is the wall-clock time the engine produced the event. It
	// differs between replays and is not part of the event id.
	EmittedAt time.Time `json:"emitted_at"`
	Trigger   string    `json:"trigger"`
	// Late is set when the triggering reading is older than one the rule
	// had already evaluated for this patient.
	Late bool `json:"late,omitempty"`
	// Values holds the latest value of each metric the rule watches as of
	// At; null means the patient has no such reading.
	Values   map[string]*float64 `json:"values"`
	Readings []ReadingRef        `json:"readings,omitempty"`
	Message  string              `json:"message,omitempty"`
	Actions  []string            `json:"actions,omitempty"`
	// FiredEventID links a resolved or renotified event to its firing.
	FiredEventID string `json:"fired_event_id,omitempty"`
	// Sequence numbers the renotifications of one firing, from 1.
	Sequence int `json:"sequence,omitempty"`
}

// ReadingRef identifies a reading that caused an event.
type ReadingRef struct {
	ID         string    `json:"id"`
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
	SourceRef  string    `json:"source_ref,omitempty"`
}

// DeadLetter is the JSON message on vitals.deadletter: the rejected input
// with its reason and its place in the input topic.
type DeadLetter struct {
	Reason    string    `json:"reason"`
	Field     string    `json:"field,omitempty"`
	Value     string    `json:"value,omitempty"`
	Message   string    `json:"message"`
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key,omitempty"`
	ArrivedAt time.Time `json:"arrived_at"`
	// Payload is the raw message when it is valid UTF-8; otherwise
	// PayloadBase64 carries it. Either holds at most MaxDeadLetterPayload
	// bytes, with PayloadTruncated set when the message was longer.
	Payload          string `json:"payload,omitempty"`
	PayloadBase64    []byte `json:"payload_base64,omitempty"`
	PayloadTruncated bool   `json:"payload_truncated,omitempty"`
	PayloadBytes     int    `json:"payload_bytes"`
}

// MaxDeadLetterPayload bounds the raw payload a dead letter carries, so
// that a dead letter always fits a broker's message size limit however
// large the rejected message was.
const MaxDeadLetterPayload = 64 << 10

// NewDeadLetter builds the dead letter of a rejected message.
func NewDeadLetter(rej *Rejection, topic string, partition int, offset int64, key, payload []byte, arrived time.Time) DeadLetter {
	d := DeadLetter{
		Reason: rej.Reason, Field: rej.Field, Value: rej.Value, Message: rej.Message,
		Topic: topic, Partition: partition, Offset: offset, Key: string(key), ArrivedAt: arrived.UTC(),
		PayloadBytes: len(payload),
	}
	if len(d.Key) > 1024 {
		d.Key = d.Key[:1024]
	}
	if len(payload) > MaxDeadLetterPayload {
		payload = payload[:MaxDeadLetterPayload]
		d.PayloadTruncated = true
	}
	if utf8.Valid(payload) {
		d.Payload = string(payload)
	} else {
		d.PayloadBase64 = append([]byte(nil), payload...)
	}
	return d
}
