package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
	"github.com/vytalwatch/vytalwatch/connectors/postgres/pglocal"
)

// Demo accounts. The clinician's care team has every patient of the
// demo's input. The billing user has TOTP, which approving a month needs.
const (
	demoClinician = "clinician@demo.local"
	demoAdmin     = "admin@demo.local"
	demoBilling   = "billing@demo.local"
)

// demoAPI is the demo's Postgres side: a private cluster (unless
// DATABASE_URL is set), the API, the sinks and the outbox relay.
type demoAPI struct {
	cluster   *pglocal.Cluster
	db        *postgres.DB
	stack     *stack
	clinician account
	admin     account
	billing   account
}

// startAPI starts PostgreSQL, migrates it, seeds the demo accounts and
// patients, and starts the API, the sinks and the relay on the demo's
// broker.
func (d *demo) startAPI(ctx context.Context) (*demoAPI, error) {
	a := &demoAPI{}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		cluster, err := pglocal.Start(ctx, pglocal.Options{Logger: d.logger})
		if errors.Is(err, pglocal.ErrNoServer) {
			return nil, fmt.Errorf("%w; or set DATABASE_URL, or run the demo with --api-addr '' to skip the API", err)
		}
		if err != nil {
			return nil, err
		}
		a.cluster, databaseURL = cluster, cluster.URL()
	}

	db, err := openDatabase(ctx, databaseURL, true, d.logger)
	if err != nil {
		a.close()
		return nil, err
	}
	a.db = db
	if err := a.seed(ctx, d.patientIDs()); err != nil {
		a.close()
		return nil, err
	}

	envProblems = nil
	cfg, generated, problems := loadAPIConfig(nil)
	if problems = append(problems, envProblems...); len(problems) > 0 {
		a.close()
		return nil, configError(problems)
	}
	if generated {
		d.logger.Info("api tokens are signed with a key generated at start; set VYTALWATCH_JWT_KEY to keep them valid across restarts")
	}

	a.stack, err = startStack(ctx, db, stackConfig{brokers: d.broker.Brokers(), apiAddr: d.opts.apiAddr, api: cfg,
		sinks: true, relay: true, registry: prometheus.NewRegistry(), logger: d.logger})
	if err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// patientIDs returns the distinct patients of the demo's input.
func (d *demo) patientIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, r := range d.rows {
		if !seen[r.PatientID] {
			seen[r.PatientID] = true
			ids = append(ids, r.PatientID)
		}
	}
	sort.Strings(ids)
	return ids
}

// seed creates the demo accounts and patients. Accounts that already
// exist (a demo run against the same DATABASE_URL) keep their passwords.
func (a *demoAPI) seed(ctx context.Context, patients []string) error {
	var err error
	if a.admin, err = seedAccount(ctx, a.db, demoAdmin, api.RoleAdmin, true); err != nil {
		return err
	}
	if a.clinician, err = seedAccount(ctx, a.db, demoClinician, api.RoleClinician, false); err != nil {
		return err
	}
	if a.billing, err = seedAccount(ctx, a.db, demoBilling, api.RoleBilling, true); err != nil {
		return err
	}
	for _, id := range patients {
		_, err := a.db.CreatePatient(ctx, store.Patient{PatientID: id, CareTeam: []string{a.clinician.id}})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("seed patient %s: %w", id, err)
		}
	}
	return nil
}

func seedAccount(ctx context.Context, db *postgres.DB, email, role string, withTOTP bool) (account, error) {
	acct, err := createAccount(ctx, db, email, role, withTOTP)
	if err == nil {
		return acct, nil
	}
	u, lookupErr := db.UserByEmail(ctx, email)
	if lookupErr != nil {
		return acct, err
	}
	return account{id: u.ID, email: email, password: "(unchanged from an earlier run)", totpSecret: u.TOTPSecret}, nil
}

// printHelp prints how to reach the demo's API and log in.
func (a *demoAPI) printHelp(w io.Writer, brokerAddr string) {
	base := "http://" + a.stack.addr
	var b strings.Builder
	fmt.Fprintf(&b, "\nAPI on %s (OpenAPI document at %s/openapi.json)\n", base, base)
	fmt.Fprintf(&b, "  clinician  %s  password %s  (care team: every demo patient)\n", a.clinician.email, a.clinician.password)
	fmt.Fprintf(&b, "  admin      %s  password %s  TOTP secret %s\n", a.admin.email, a.admin.password, a.admin.totpSecret)
	fmt.Fprintf(&b, "  billing    %s  password %s  TOTP secret %s\n", a.billing.email, a.billing.password, a.billing.totpSecret)
	fmt.Fprintf(&b, "Log in as the clinician:\n  curl -s -X POST %s/v1/auth/login -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"email\": \"%s\", \"password\": \"%s\"}'\n", base, a.clinician.email, a.clinician.password)
	fmt.Fprintf(&b, "Log in as the admin: add \"totp_code\": \"$(vytalwatch totp code --secret %s)\"\n", a.admin.totpSecret)
	fmt.Fprintf(&b, "Log in as billing the same way with its secret. Approving a month needs a code in X-TOTP-Code from a later\n"+
		"  30-second step than the login's, because each code works once: -H \"X-TOTP-Code: $(vytalwatch totp code --secret %s)\"\n",
		a.billing.totpSecret)
	fmt.Fprintf(&b, "New readings: KAFKA_BROKERS=%s vytalwatch replay --file readings.csv\n", brokerAddr)
	if a.cluster != nil {
		fmt.Fprintf(&b, "Database (removed at exit): %s\n", redactURL(a.cluster.URL()))
	}
	fmt.Fprint(w, b.String())
}

// close stops the API, the sinks and the relay, then the database.
func (a *demoAPI) close() {
	if a.stack != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.stack.stop(ctx)
		cancel()
	}
	if a.db != nil {
		a.db.Close()
	}
	if a.cluster != nil {
		_ = a.cluster.Close()
	}
}
