package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
)

const patientColumns = `patient_id, timezone, coalesce(to_char(birth_date, 'YYYY-MM-DD'), ''), conditions, thresholds,
	news2_scale2, coalesce(to_char(enrollment_date, 'YYYY-MM-DD'), ''), created_at, updated_at,
	array(SELECT user_id::text FROM care_team c WHERE c.patient_id = patients.patient_id ORDER BY user_id)`

func scanPatient(row pgx.Row) (store.Patient, error) {
	var p store.Patient
	err := row.Scan(&p.PatientID, &p.Timezone, &p.BirthDate, &p.Conditions, &p.Thresholds, &p.News2Scale2,
		&p.EnrollmentDate, &p.CreatedAt, &p.UpdatedAt, &p.CareTeam)
	return p, notFound(err)
}

func normalizePatient(p *store.Patient) {
	if p.Conditions == nil {
		p.Conditions = []string{}
	}
	if p.Thresholds == nil {
		p.Thresholds = map[string]float64{}
	}
}

// CreatePatient stores a new patient with its care team and publishes the
// profile. A taken patient id is store.ErrConflict.
func (db *DB) CreatePatient(ctx context.Context, p store.Patient) (store.Patient, error) {
	normalizePatient(&p)
	var out store.Patient
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO patients (patient_id, timezone, birth_date, conditions, thresholds, news2_scale2, enrollment_date)
			VALUES ($1, $2, NULLIF($3, '')::date, $4, $5, $6, NULLIF($7, '')::date)`,
			p.PatientID, p.Timezone, p.BirthDate, p.Conditions, p.Thresholds, p.News2Scale2, p.EnrollmentDate)
		if isUniqueViolation(err) {
			return fmt.Errorf("patient %s: %w", p.PatientID, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create patient: %w", err)
		}
		if err := replaceCareTeam(ctx, tx, p.PatientID, p.CareTeam); err != nil {
			return err
		}
		out, err = publishPatient(ctx, tx, p.PatientID)
		return err
	})
	return out, err
}

// UpdatePatient replaces a patient's profile (not its care team) and
// publishes it.
func (db *DB) UpdatePatient(ctx context.Context, p store.Patient) (store.Patient, error) {
	normalizePatient(&p)
	var out store.Patient
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE patients SET timezone = $2, birth_date = NULLIF($3, '')::date, conditions = $4,
			thresholds = $5, news2_scale2 = $6, enrollment_date = NULLIF($7, '')::date, updated_at = now()
			WHERE patient_id = $1`,
			p.PatientID, p.Timezone, p.BirthDate, p.Conditions, p.Thresholds, p.News2Scale2, p.EnrollmentDate)
		if err != nil {
			return fmt.Errorf("update patient: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		out, err = publishPatient(ctx, tx, p.PatientID)
		return err
	})
	return out, err
}

func publishPatient(ctx context.Context, tx pgx.Tx, id string) (store.Patient, error) {
	p, err := scanPatient(tx.QueryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE patient_id = $1`, id))
	if err != nil {
		return p, err
	}
	data, err := json.Marshal(p.Profile())
	if err != nil {
		return p, err
	}
	return p, enqueue(ctx, tx, engine.DefaultTopics().Patients, []byte(id), data)
}

// DeletePatient deletes a patient and its care team and publishes a
// tombstone. Alerts and readings of the patient stay.
func (db *DB) DeletePatient(ctx context.Context, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM patients WHERE patient_id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete patient: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return enqueue(ctx, tx, engine.DefaultTopics().Patients, []byte(id), nil)
	})
}

// GetPatient returns a patient.
func (db *DB) GetPatient(ctx context.Context, id string) (store.Patient, error) {
	return scanPatient(db.pool.QueryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE patient_id = $1`, id))
}

// ListPatients returns patients by id, and whether more follow the page.
// Patient ids sort by their bytes (collation "C"), as billing listings
// do, so pages come out in the same order whatever the database's locale.
func (db *DB) ListPatients(ctx context.Context, f store.PatientFilter) ([]store.Patient, bool, error) {
	w := where{}
	if f.Member != "" {
		if !isUUID(f.Member) {
			return []store.Patient{}, false, nil
		}
		w.add(`patient_id IN (SELECT patient_id FROM care_team WHERE user_id = $%d)`, f.Member)
	}
	if f.AfterPatient != "" {
		w.add(`patient_id COLLATE "C" > $%d`, f.AfterPatient)
	}
	sql := `SELECT ` + patientColumns + ` FROM patients ` + w.clause() + ` ORDER BY patient_id COLLATE "C"`
	if f.Limit > 0 {
		w.args = append(w.args, f.Limit+1)
		sql += fmt.Sprintf(" LIMIT $%d", len(w.args))
	}
	rows, err := db.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("list patients: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Patient, error) { return scanPatient(r) })
	if err != nil {
		return nil, false, fmt.Errorf("list patients: %w", err)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

// SetCareTeam replaces a patient's care team.
func (db *DB) SetCareTeam(ctx context.Context, patientID string, users []string) (store.Patient, error) {
	var out store.Patient
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE patients SET updated_at = now() WHERE patient_id = $1`, patientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if err := replaceCareTeam(ctx, tx, patientID, users); err != nil {
			return err
		}
		out, err = scanPatient(tx.QueryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE patient_id = $1`, patientID))
		return err
	})
	return out, err
}

func replaceCareTeam(ctx context.Context, tx pgx.Tx, patientID string, users []string) error {
	for _, u := range users {
		if !isUUID(u) {
			return fmt.Errorf("care team member %q: %w", u, store.ErrUnknownUser)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM care_team WHERE patient_id = $1`, patientID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO care_team (patient_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) u ON CONFLICT DO NOTHING`,
		patientID, users)
	if isForeignKeyViolation(err) {
		return store.ErrUnknownUser
	}
	return err
}

// InCareTeam reports whether the user is on the patient's care team.
func (db *DB) InCareTeam(ctx context.Context, patientID, userID string) (bool, error) {
	if !isUUID(userID) {
		return false, nil
	}
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2)`,
		patientID, userID).Scan(&ok)
	return ok, err
}

// CareTeamPatients returns the ids of the patients whose care team
// contains the user.
func (db *DB) CareTeamPatients(ctx context.Context, userID string) (map[string]bool, error) {
	out := map[string]bool{}
	if !isUUID(userID) {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT patient_id FROM care_team WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("list care team patients: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

// LatestReadings returns a patient's newest reading per metric, by metric.
func (db *DB) LatestReadings(ctx context.Context, patientID string) ([]store.LatestReading, error) {
	rows, err := db.pool.Query(ctx, `SELECT metric, value, unit, measured_at, reading_id FROM latest_readings
		WHERE patient_id = $1 ORDER BY metric`, patientID)
	if err != nil {
		return nil, fmt.Errorf("read latest readings: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[store.LatestReading])
}
