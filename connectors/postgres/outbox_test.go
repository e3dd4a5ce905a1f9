package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/kafka"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pgtest"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

func spo2Rule() rules.Rule {
	return rules.Rule{ID: "spo2-low", Name: "SpO2 low", Severity: "high", Metrics: []string{"spo2"},
		Condition: `last("spo2") < 90`, Message: `SpO2 {{ last("spo2") }} %`}
}

func outboxCount(t *testing.T, db *postgres.DB) int64 {
	t.Helper()
	n, err := db.PendingOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutboxPublishesRuleAsStored(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	b := startBroker(t)
	ctx := context.Background()

	created, err := db.CreateRule(ctx, spo2Rule(), "")
	if err != nil {
		t.Fatal(err)
	}
	if created.Rule.Version != 1 || !created.Rule.IsEnabled() {
		t.Errorf("created rule version %d enabled %v, want version 1 enabled", created.Rule.Version, created.Rule.IsEnabled())
	}
	if n := outboxCount(t, db); n != 1 {
		t.Fatalf("outbox holds %d records after a rule create, want 1", n)
	}

	p := kafka.NewProducer(b.Brokers())
	defer p.Close()
	relay := postgres.NewRelay(db, p, slog.New(slog.DiscardHandler), nil)
	n, err := relay.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("relay published %d records, want 1", n)
	}
	if n := outboxCount(t, db); n != 0 {
		t.Errorf("outbox holds %d records after the relay ran, want 0", n)
	}

	msgs, err := kafka.ReadAll(ctx, b.Brokers(), engine.DefaultTopics().Rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("rules topic holds %d messages, want 1", len(msgs))
	}
	if string(msgs[0].Key) != "spo2-low" {
		t.Errorf("key = %q, want spo2-low", msgs[0].Key)
	}
	stored, err := db.GetRule(ctx, "spo2-low")
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(stored.Rule)
	if err != nil {
		t.Fatal(err)
	}
	if string(msgs[0].Value) != string(want) {
		t.Errorf("published rule\n%s\nwant the stored rule\n%s", msgs[0].Value, want)
	}
	// The engine's rule book accepts what the relay published.
	book := engine.NewRuleBook(nil)
	if err := book.Apply(string(msgs[0].Key), msgs[0].Value); err != nil {
		t.Errorf("rule book rejected the published rule: %v", err)
	}
	if got, ok := book.Set().Get("spo2-low"); !ok || got.Version() != 1 {
		t.Errorf("rule book has spo2-low %v, want version 1", got)
	}
}

func TestOutboxFailedTransactionPublishesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	if _, err := db.CreateRule(ctx, spo2Rule(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}

	// A second create of the id conflicts.
	if _, err := db.CreateRule(ctx, spo2Rule(), ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}
	// The patient row is inserted before the care team, whose unknown
	// member fails the transaction.
	_, err := db.CreatePatient(ctx, store.Patient{PatientID: "p1", CareTeam: []string{"8f9c2b1e-0000-4000-8000-000000000000"}})
	if !errors.Is(err, store.ErrUnknownUser) {
		t.Errorf("patient with unknown care team member = %v, want ErrUnknownUser", err)
	}
	if _, err := db.GetPatient(ctx, "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("patient p1 after the failed create = %v, want ErrNotFound", err)
	}
	if n := outboxCount(t, db); n != 0 {
		t.Errorf("outbox holds %d records after failed transactions, want 0", n)
	}
}

func TestRuleVersionsGrowAcrossDelete(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	r := spo2Rule()
	if _, err := db.CreateRule(ctx, r, ""); err != nil {
		t.Fatal(err)
	}
	r.Condition = `last("spo2") < 88`
	updated, err := db.UpdateRule(ctx, r, "")
	if err != nil {
		t.Fatal(err)
	}
	if updated.Rule.Version != 2 {
		t.Errorf("updated version = %d, want 2", updated.Rule.Version)
	}
	disabled, err := db.SetRuleEnabled(ctx, "spo2-low", false)
	if err != nil {
		t.Fatal(err)
	}
	if disabled.Rule.Version != 2 || disabled.Rule.IsEnabled() {
		t.Errorf("disabled rule version %d enabled %v, want version 2 disabled", disabled.Rule.Version, disabled.Rule.IsEnabled())
	}
	if err := db.DeleteRule(ctx, "spo2-low"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetRule(ctx, "spo2-low"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted rule = %v, want ErrNotFound", err)
	}
	if _, err := db.UpdateRule(ctx, r, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a deleted rule = %v, want ErrNotFound", err)
	}
	recreated, err := db.CreateRule(ctx, spo2Rule(), "")
	if err != nil {
		t.Fatal(err)
	}
	if recreated.Rule.Version != 3 || !recreated.Rule.IsEnabled() {
		t.Errorf("re-created rule version %d enabled %v, want version 3 enabled", recreated.Rule.Version, recreated.Rule.IsEnabled())
	}
	versions, err := db.RuleVersions(ctx, "spo2-low")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, v := range versions {
		got = append(got, v.Version)
	}
	if !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("versions = %v, want [1 2 3]", got)
	}

	// create, update, disable, delete and re-create: five messages, the
	// tombstone fourth.
	rows, err := db.Pool().Query(ctx, `SELECT key, value FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var values [][]byte
	for rows.Next() {
		var key, value []byte
		if err := rows.Scan(&key, &value); err != nil {
			t.Fatal(err)
		}
		values = append(values, value)
	}
	if len(values) != 5 {
		t.Fatalf("outbox holds %d records, want 5", len(values))
	}
	if values[3] != nil {
		t.Errorf("fourth record = %s, want a tombstone", values[3])
	}
}

func TestRotateRefreshDetectsReuse(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	u, err := db.CreateUser(ctx, store.NewUser{Email: "nurse@example.org", Role: "clinician", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	s, err := db.CreateSession(ctx, u.ID, false, []byte("r1"), exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RotateRefresh(ctx, []byte("r1"), []byte("r2"), exp); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RotateRefresh(ctx, []byte("r1"), []byte("r3"), exp); !errors.Is(err, store.ErrRefreshReused) {
		t.Errorf("reuse of r1 = %v, want ErrRefreshReused", err)
	}
	if _, err := db.RotateRefresh(ctx, []byte("r2"), []byte("r4"), exp); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("r2 after reuse revoked the session = %v, want ErrNotFound", err)
	}
	a, err := db.CheckAccess(ctx, u.ID, s.ID, "jti")
	if err != nil {
		t.Fatal(err)
	}
	if !a.SessionRevoked {
		t.Error("session not revoked after refresh token reuse")
	}
}

func TestRedeemInviteOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	admin, err := db.CreateUser(ctx, store.NewUser{Email: "admin@example.org", Role: "admin", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateInvite(ctx, []byte("code"), "billing", admin.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A taken email fails the registration and leaves the invite unused.
	if _, err := db.RedeemInvite(ctx, []byte("code"), "admin@example.org", "y"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("redeem with a taken email = %v, want ErrConflict", err)
	}
	u, err := db.RedeemInvite(ctx, []byte("code"), "clerk@example.org", "y")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "billing" {
		t.Errorf("role = %q, want billing from the invite", u.Role)
	}
	if _, err := db.RedeemInvite(ctx, []byte("code"), "other@example.org", "y"); !errors.Is(err, store.ErrInviteInvalid) {
		t.Errorf("second redeem = %v, want ErrInviteInvalid", err)
	}
}

func TestListAlertsPagesByCursor(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	// b and c fire at the same minute; the id breaks the tie.
	minutes := map[string]int{"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}
	for id, m := range minutes {
		_, err := db.Pool().Exec(ctx, `INSERT INTO alerts (id, patient_id, rule_id, rule_version, severity, status, fired_at)
			VALUES ($1, 'p1', 'r', 1, 'high', 'open', $2)`, id, t0.Add(time.Duration(m)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
	}
	var pages [][]string
	var cursor *store.AlertCursor
	for range 4 {
		alerts, next, err := db.ListAlerts(ctx, store.AlertFilter{Limit: 2, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range alerts {
			ids = append(ids, a.ID)
		}
		pages = append(pages, ids)
		if next == nil {
			break
		}
		cursor = next
	}
	want := [][]string{{"e", "d"}, {"c", "b"}, {"a"}}
	if !reflect.DeepEqual(pages, want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
}
