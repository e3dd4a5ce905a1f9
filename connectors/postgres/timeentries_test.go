package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/billing"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
)

// outboxRecords returns the outbox's keys and values, oldest first.
func outboxRecords(t *testing.T, db *postgres.DB, topic string) (keys, values []string) {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT key, value FROM outbox WHERE topic = $1 ORDER BY id`, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		keys, values = append(keys, string(k)), append(values, string(v))
	}
	return keys, values
}

func newUser(t *testing.T, db *postgres.DB, email, role string) store.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), store.NewUser{Email: email, Role: role, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestTimeEntryPublishedOnceAndWithdrawn(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	nurse := newUser(t, db, "nurse@example.org", "clinician")
	if _, err := db.CreatePatient(ctx, store.Patient{PatientID: "p1"}); err != nil {
		t.Fatal(err)
	}
	entry := billing.TimeEntry{ID: "e1", PatientID: "p1", StaffID: nurse.ID, Role: "clinical_staff", Program: "rpm",
		StartedAt: time.Date(2026, 3, 5, 12, 0, 0, 123456789, time.FixedZone("", -5*3600)), Minutes: 25, Interactive: true}
	stored, created, err := db.AddTimeEntry(ctx, entry, nurse.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !created || stored.CreatedBy != nurse.ID || stored.Minutes != 25 || !stored.Interactive {
		t.Errorf("stored = %+v created %v, want the entry created by the nurse", stored, created)
	}
	wantEvent := `{"kind":"time_entry","patient_id":"p1","entry":{"entry_id":"e1","patient_id":"p1","staff_id":"` + nurse.ID +
		`","role":"clinical_staff","program":"rpm","started_at":"2026-03-05T17:00:00.123456Z","minutes":25,"interactive":true}}`
	keys, values := outboxRecords(t, db, postgres.CareEventsTopic)
	if len(values) != 1 {
		t.Fatalf("outbox holds %d care events, want 1: %q", len(values), values)
	}
	if keys[0] != "p1" || values[0] != wantEvent {
		t.Errorf("care event = %s %s, want p1 %s", keys[0], values[0], wantEvent)
	}

	// The same entry again is a retry: no second record.
	if _, created, err := db.AddTimeEntry(ctx, entry, nurse.ID); err != nil || created {
		t.Errorf("retry: created %v err %v, want the stored entry", created, err)
	}
	if _, values := outboxRecords(t, db, postgres.CareEventsTopic); len(values) != 1 {
		t.Errorf("outbox holds %d care events after a retry, want 1", len(values))
	}
	changed := entry
	changed.Minutes = 30
	if _, _, err := db.AddTimeEntry(ctx, changed, nurse.ID); !errors.Is(err, store.ErrEntryIDTaken) {
		t.Errorf("other values under the same id: err %v, want ErrEntryIDTaken", err)
	}
	invalid := entry
	invalid.ID, invalid.Program = "e2", "rtm"
	if _, _, err := db.AddTimeEntry(ctx, invalid, nurse.ID); !errors.Is(err, store.ErrInvalidCareEvent) {
		t.Errorf("program rtm: err %v, want ErrInvalidCareEvent", err)
	}
	missing := entry
	missing.PatientID = "nobody"
	if _, _, err := db.AddTimeEntry(ctx, missing, nurse.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown patient: err %v, want ErrNotFound", err)
	}

	if err := db.DeleteTimeEntry(ctx, "p1", "e1", nurse.ID); err != nil {
		t.Fatal(err)
	}
	_, values = outboxRecords(t, db, postgres.CareEventsTopic)
	if want := `{"kind":"time_entry_deleted","patient_id":"p1","entry_id":"e1"}`; values[len(values)-1] != want {
		t.Errorf("last care event = %s, want %s", values[len(values)-1], want)
	}
	if err := db.DeleteTimeEntry(ctx, "p1", "e1", nurse.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err %v, want ErrNotFound", err)
	}
	if _, _, err := db.AddTimeEntry(ctx, entry, nurse.ID); !errors.Is(err, store.ErrEntryDeleted) {
		t.Errorf("reusing a deleted id: err %v, want ErrEntryDeleted", err)
	}
	list, err := db.ListTimeEntries(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("list after delete = %+v, want none", list)
	}
}
