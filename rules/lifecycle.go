package rules

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/vytalwatch/vytalwatch"
	"github.com/vytalwatch/vytalwatch/operators"
)

// Alert statuses of one rule for one patient.
const (
	StatusInactive = "inactive"
	StatusPending  = "pending"
	StatusFiring   = "firing"
)

// AlertState is the persisted lifecycle state of one rule version for one
// patient. Event times are the readings' measured_at, or the clock for
// timer evaluations.
type AlertState struct {
	Fingerprint string `json:"fp"`
	Status      string `json:"status"`
	// PendingSince and PendingReadings count how long and over how many
	// readings the condition has held; PendingTrigger is the reading that
	// started it.
	PendingSince    time.Time `json:"pending_since,omitzero"`
	PendingReadings int       `json:"pending_readings,omitempty"`
	PendingTrigger  string    `json:"pending_trigger,omitempty"`
	FiredAt         time.Time `json:"fired_at,omitzero"`
	FiredEventID    string    `json:"fired_event_id,omitempty"`
	LastNotifiedAt  time.Time `json:"last_notified_at,omitzero"`
	Renotified      int       `json:"renotified,omitempty"`
	// Fired counts the firings of this rule version for the patient, so
	// that firings by the clock get distinct event ids.
	Fired int `json:"fired,omitempty"`
	// LastReadingAt is the newest reading time evaluated; older readings
	// are late. Timer evaluations do not move it: a reading measured just
	// before a sweep and delivered just after is not late.
	LastReadingAt time.Time `json:"last_reading_at,omitzero"`
}

// DecodeAlertState decodes a stored state. A state written for another
// definition of the rule is replaced by a fresh one.
func DecodeAlertState(data []byte, fingerprint string) (AlertState, error) {
	var s AlertState
	if len(data) == 0 {
		return AlertState{Fingerprint: fingerprint, Status: StatusInactive}, nil
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return AlertState{}, err
	}
	if s.Fingerprint != fingerprint {
		return AlertState{Fingerprint: fingerprint, Status: StatusInactive}, nil
	}
	return s, nil
}

// Encode returns the state's stored form.
func (s AlertState) Encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

// Evaluation is the outcome of evaluating a rule for a patient at one
// event time.
type Evaluation struct {
	At time.Time
	// Trigger is vytalwatch.TriggerReading or vytalwatch.TriggerTimer.
	Trigger string
	// ReadingID identifies the triggering reading; for timers, the
	// patient's newest reading.
	ReadingID string
	Condition operators.Truth
	// Reset is evaluated only for firing alerts.
	Reset operators.Truth
}

// Transition is an alert event the lifecycle decided on.
type Transition struct {
	Kind         string
	EventID      string
	At           time.Time
	Late         bool
	FiredEventID string
	Sequence     int
}

// NeedsReset reports whether Step will read the evaluation's Reset.
func (s *AlertState) NeedsReset() bool { return s.Status == StatusFiring }

// Step advances the alert lifecycle by one evaluation and returns the
// events it emits. Unknown conditions neither fire nor resolve. A late
// reading, older than one already evaluated, may fire an inactive alert
// but never resolves or advances a newer state.
func (c *Compiled) Step(s *AlertState, patient string, e Evaluation) []Transition {
	late := e.Trigger == vytalwatch.TriggerReading && e.At.Before(s.LastReadingAt)
	if e.Trigger == vytalwatch.TriggerReading && e.At.After(s.LastReadingAt) {
		s.LastReadingAt = e.At
	}
	switch s.Status {
	case StatusFiring:
		if late {
			return nil
		}
		return c.stepFiring(s, patient, e)
	case StatusPending:
		if late {
			return nil
		}
		return c.stepPending(s, patient, e)
	default:
		return c.stepInactive(s, patient, e, late)
	}
}

func (c *Compiled) stepInactive(s *AlertState, patient string, e Evaluation, late bool) []Transition {
	if e.Condition != operators.True {
		return nil
	}
	if c.Hold.Zero() || late {
		if late && !c.Hold.Zero() {
			// A late reading cannot prove that the condition held for the
			// required time or readings.
			return nil
		}
		return []Transition{c.fire(s, patient, e, c.triggerKey(s, e), late)}
	}
	s.Status = StatusPending
	s.PendingSince = e.At
	s.PendingReadings = 0
	if e.Trigger == vytalwatch.TriggerReading {
		s.PendingReadings = 1
	}
	s.PendingTrigger = c.triggerKey(s, e)
	return nil
}

func (c *Compiled) stepPending(s *AlertState, patient string, e Evaluation) []Transition {
	switch e.Condition {
	case operators.False:
		s.Status = StatusInactive
		s.PendingSince, s.PendingReadings, s.PendingTrigger = time.Time{}, 0, ""
		return nil
	case operators.Unknown:
		return nil
	}
	if e.Trigger == vytalwatch.TriggerReading {
		s.PendingReadings++
	}
	held := false
	if c.Hold.Readings > 0 {
		held = s.PendingReadings >= c.Hold.Readings
	} else {
		held = !e.At.Before(s.PendingSince.Add(c.Hold.Duration))
	}
	if !held {
		return nil
	}
	key := "reading:" + e.ReadingID
	if e.Trigger != vytalwatch.TriggerReading {
		key = e.Trigger + ":" + s.PendingTrigger
	}
	return []Transition{c.fire(s, patient, e, key, false)}
}

func (c *Compiled) stepFiring(s *AlertState, patient string, e Evaluation) []Transition {
	if e.Reset == operators.True {
		t := Transition{
			Kind:         vytalwatch.AlertResolved,
			EventID:      vytalwatch.EventID(vytalwatch.AlertResolved, c.Rule.ID, strconv.Itoa(c.Version()), c.Fingerprint, patient, s.FiredEventID),
			At:           e.At,
			FiredEventID: s.FiredEventID,
		}
		s.Status = StatusInactive
		s.PendingSince, s.PendingReadings, s.PendingTrigger = time.Time{}, 0, ""
		s.FiredAt, s.FiredEventID, s.LastNotifiedAt, s.Renotified = time.Time{}, "", time.Time{}, 0
		return []Transition{t}
	}
	if c.Renotify <= 0 || e.At.Before(s.LastNotifiedAt.Add(c.Renotify)) {
		return nil
	}
	s.Renotified++
	s.LastNotifiedAt = e.At
	return []Transition{{
		Kind: vytalwatch.AlertRenotified,
		EventID: vytalwatch.EventID(vytalwatch.AlertRenotified, c.Rule.ID, strconv.Itoa(c.Version()), c.Fingerprint, patient,
			s.FiredEventID, strconv.Itoa(s.Renotified)),
		At:           e.At,
		FiredEventID: s.FiredEventID,
		Sequence:     s.Renotified,
	}}
}

// triggerKey names what caused an evaluation, for event ids: the reading,
// or for the clock the patient's newest reading and the firing count.
func (c *Compiled) triggerKey(s *AlertState, e Evaluation) string {
	if e.Trigger != vytalwatch.TriggerReading {
		return e.Trigger + ":" + e.ReadingID + ":" + strconv.Itoa(s.Fired)
	}
	return "reading:" + e.ReadingID
}

func (c *Compiled) fire(s *AlertState, patient string, e Evaluation, key string, late bool) Transition {
	// The fingerprint is part of the id, so that a definition changed
	// without a new version number still never repeats an old event's id,
	// which sinks would drop as a duplicate.
	id := vytalwatch.EventID(vytalwatch.AlertFired, c.Rule.ID, strconv.Itoa(c.Version()), c.Fingerprint, patient, key)
	s.Status = StatusFiring
	s.FiredAt, s.FiredEventID = e.At, id
	// Renotification counts from the newest time seen, so a late firing
	// is not renotified at once.
	s.LastNotifiedAt = e.At
	if s.LastReadingAt.After(e.At) {
		s.LastNotifiedAt = s.LastReadingAt
	}
	s.PendingSince, s.PendingReadings, s.PendingTrigger = time.Time{}, 0, ""
	s.Renotified = 0
	s.Fired++
	return Transition{Kind: vytalwatch.AlertFired, EventID: id, At: e.At, Late: late}
}
