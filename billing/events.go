package billing

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Care event kinds.
const (
	CareTimeEntry        = "time_entry"
	CareTimeEntryDeleted = "time_entry_deleted"
	CareClaim            = "claim"
)

// CareEvent is the JSON message on vitals.care-events, keyed by patient
// id: a time entry logged or withdrawn, or a code another practitioner
// billed. Enrollment and time zone changes travel in the patient profile.
type CareEvent struct {
	Kind      string     `json:"kind"`
	PatientID string     `json:"patient_id"`
	Entry     *TimeEntry `json:"entry,omitempty"`
	EntryID   string     `json:"entry_id,omitempty"`
	Claim     *Claim     `json:"claim,omitempty"`
}

// programs lists the programs a time entry may count toward.
var programs = map[string]bool{ProgramRPM: true, ProgramCCM: true, ProgramPCM: true, Program99091: true}

// DecodeCareEvent parses and checks a care event.
func DecodeCareEvent(data []byte) (CareEvent, error) {
	var e CareEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("invalid care event JSON: %w", err)
	}
	if e.PatientID == "" {
		return e, fmt.Errorf("care event has no patient_id")
	}
	switch e.Kind {
	case CareTimeEntry:
		return e, checkEntry(e)
	case CareTimeEntryDeleted:
		if e.EntryID == "" {
			return e, fmt.Errorf("time_entry_deleted needs entry_id")
		}
	case CareClaim:
		if e.Claim == nil || e.Claim.Provider == "" || e.Claim.Code == "" {
			return e, fmt.Errorf("claim needs provider, code and service_date")
		}
	default:
		return e, fmt.Errorf("care event kind %q is not one of time_entry, time_entry_deleted, claim", e.Kind)
	}
	return e, nil
}

func checkEntry(e CareEvent) error {
	t := e.Entry
	switch {
	case t == nil:
		return fmt.Errorf("time_entry needs entry")
	case t.PatientID != e.PatientID:
		return fmt.Errorf("time entry patient %q differs from the event's patient %q", t.PatientID, e.PatientID)
	}
	if err := t.Check(); err != nil {
		return err
	}
	t.Program = strings.ToLower(t.Program)
	return nil
}

// Check returns the first problem of a time entry, naming the field and
// what it must be.
func (t TimeEntry) Check() error {
	switch {
	case t.ID == "" || len(t.ID) > 200:
		return fmt.Errorf("time entry needs an entry_id of at most 200 bytes")
	case t.PatientID == "":
		return fmt.Errorf("time entry %q needs a patient_id", t.ID)
	case strings.TrimSpace(t.StaffID) == "":
		return fmt.Errorf("time entry %q needs the staff_id of who spent the time", t.ID)
	case !programs[strings.ToLower(t.Program)]:
		return fmt.Errorf("time entry program %q is not one of rpm, ccm, pcm, 99091", t.Program)
	case t.StartedAt.IsZero():
		return fmt.Errorf("time entry needs started_at")
	case t.Minutes < 0 || t.Minutes > 24*60:
		return fmt.Errorf("time entry minutes %d must be 0 to 1440", t.Minutes)
	}
	return nil
}

// StorageID names the event's subject, under which it is stored: the
// time entry, or the claim.
func (e CareEvent) StorageID() string {
	switch e.Kind {
	case CareTimeEntry:
		return "t:" + e.Entry.ID
	case CareTimeEntryDeleted:
		return "t:" + e.EntryID
	}
	return "c:" + e.Claim.Provider + "/" + e.Claim.Code + "/" + e.Claim.ServiceDate.String()
}

// Snapshot is the eligibility of one patient for one month, as the engine
// publishes it on vitals.billing-events whenever it changes.
type Snapshot struct {
	EventID    string    `json:"event_id"`
	Kind       string    `json:"kind"`
	PatientID  string    `json:"patient_id"`
	Month      Month     `json:"month"`
	Report     Report    `json:"report"`
	ComputedAt time.Time `json:"computed_at"`
}

// SnapshotKind is the Kind of eligibility snapshots.
const SnapshotKind = "eligibility"
