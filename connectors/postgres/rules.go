package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/engine"
	"github.com/vytalwatch/vytalwatch/rules"
)

// definitionJSON is the rule's stored definition: its JSON without
// version and enabled, which the rules row and the version's key hold.
func definitionJSON(r rules.Rule) ([]byte, error) {
	r.Version, r.Enabled = 0, nil
	return json.Marshal(r)
}

// publishedJSON is the message for vitals.rules: the definition with
// version and enabled.
func publishedJSON(def []byte, version int, enabled bool) ([]byte, rules.Rule, error) {
	var r rules.Rule
	if err := json.Unmarshal(def, &r); err != nil {
		return nil, r, fmt.Errorf("decode stored rule definition: %w", err)
	}
	r.Version, r.Enabled = version, &enabled
	data, err := json.Marshal(r)
	return data, r, err
}

// CreateRule stores the first version of a rule, or the next version of a
// deleted rule with the same id, and publishes it. A rule with the id
// that is not deleted is store.ErrConflict. r must be valid (rules.Compile).
func (db *DB) CreateRule(ctx context.Context, r rules.Rule, createdBy string) (store.StoredRule, error) {
	var out store.StoredRule
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var current int
		var deleted bool
		err := tx.QueryRow(ctx, `SELECT current_version, deleted_at IS NOT NULL FROM rules WHERE id = $1 FOR UPDATE`, r.ID).
			Scan(&current, &deleted)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, `INSERT INTO rules (id, current_version, enabled) VALUES ($1, 1, $2)`, r.ID, r.IsEnabled())
			if isUniqueViolation(err) {
				return fmt.Errorf("rule %s: %w", r.ID, store.ErrConflict)
			}
			if err != nil {
				return err
			}
			current = 1
		case err != nil:
			return err
		case !deleted:
			return fmt.Errorf("rule %s: %w", r.ID, store.ErrConflict)
		default:
			current++
			if _, err := tx.Exec(ctx, `UPDATE rules SET current_version = $2, enabled = $3, deleted_at = NULL, updated_at = now()
				WHERE id = $1`, r.ID, current, r.IsEnabled()); err != nil {
				return err
			}
		}
		out, err = db.storeVersion(ctx, tx, r, current, r.IsEnabled(), createdBy)
		return err
	})
	return out, err
}

// UpdateRule stores a new version of an existing rule and publishes it.
// enabled keeps its value unless r sets it.
func (db *DB) UpdateRule(ctx context.Context, r rules.Rule, createdBy string) (store.StoredRule, error) {
	var out store.StoredRule
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var current int
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT current_version, enabled FROM rules WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, r.ID).
			Scan(&current, &enabled)
		if err != nil {
			return notFound(err)
		}
		if r.Enabled != nil {
			enabled = *r.Enabled
		}
		current++
		if _, err := tx.Exec(ctx, `UPDATE rules SET current_version = $2, enabled = $3, updated_at = now() WHERE id = $1`,
			r.ID, current, enabled); err != nil {
			return err
		}
		out, err = db.storeVersion(ctx, tx, r, current, enabled, createdBy)
		return err
	})
	return out, err
}

func (db *DB) storeVersion(ctx context.Context, tx pgx.Tx, r rules.Rule, version int, enabled bool, createdBy string) (store.StoredRule, error) {
	def, err := definitionJSON(r)
	if err != nil {
		return store.StoredRule{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rule_versions (rule_id, version, definition, created_by) VALUES ($1, $2, $3, $4)`,
		r.ID, version, def, nullUUID(createdBy)); err != nil {
		return store.StoredRule{}, fmt.Errorf("store rule %s version %d: %w", r.ID, version, err)
	}
	return db.publishRule(ctx, tx, r.ID)
}

// publishRule reads the rule's current version back inside tx and puts it
// in the outbox, so that what Kafka gets is exactly what is stored.
func (db *DB) publishRule(ctx context.Context, tx pgx.Tx, id string) (store.StoredRule, error) {
	s, def, err := loadRule(ctx, tx, id)
	if err != nil {
		return store.StoredRule{}, err
	}
	data, _, err := publishedJSON(def, s.Rule.Version, s.Rule.IsEnabled())
	if err != nil {
		return store.StoredRule{}, err
	}
	return s, enqueue(ctx, tx, engine.DefaultTopics().Rules, []byte(id), data)
}

func loadRule(ctx context.Context, q querier, id string) (store.StoredRule, []byte, error) {
	var s store.StoredRule
	var def []byte
	var version int
	var enabled bool
	err := q.QueryRow(ctx, `SELECT r.current_version, r.enabled, v.definition, r.created_at, r.updated_at
		FROM rules r JOIN rule_versions v ON v.rule_id = r.id AND v.version = r.current_version
		WHERE r.id = $1 AND r.deleted_at IS NULL`, id).Scan(&version, &enabled, &def, &s.CreatedAt, &s.UpdatedAt)
	if err != nil {
		return s, nil, notFound(err)
	}
	_, s.Rule, err = publishedJSON(def, version, enabled)
	return s, def, err
}

// SetRuleEnabled enables or disables a rule's current version and
// publishes it. The version stays the same.
func (db *DB) SetRuleEnabled(ctx context.Context, id string, enabled bool) (store.StoredRule, error) {
	var out store.StoredRule
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE rules SET enabled = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, id, enabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		out, err = db.publishRule(ctx, tx, id)
		return err
	})
	return out, err
}

// DeleteRule marks a rule deleted and publishes a tombstone. Its versions
// stay, and a rule created later with the same id continues them.
func (db *DB) DeleteRule(ctx context.Context, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE rules SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return enqueue(ctx, tx, engine.DefaultTopics().Rules, []byte(id), nil)
	})
}

// GetRule returns a rule's current version; a deleted rule is
// store.ErrNotFound.
func (db *DB) GetRule(ctx context.Context, id string) (store.StoredRule, error) {
	s, _, err := loadRule(ctx, db.pool, id)
	return s, err
}

// ListRules returns the current version of every rule not deleted, by id.
func (db *DB) ListRules(ctx context.Context) ([]store.StoredRule, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.current_version, r.enabled, v.definition, r.created_at, r.updated_at
		FROM rules r JOIN rule_versions v ON v.rule_id = r.id AND v.version = r.current_version
		WHERE r.deleted_at IS NULL ORDER BY r.id`)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StoredRule, error) {
		var s store.StoredRule
		var def []byte
		var version int
		var enabled bool
		if err := row.Scan(&version, &enabled, &def, &s.CreatedAt, &s.UpdatedAt); err != nil {
			return s, err
		}
		_, s.Rule, err = publishedJSON(def, version, enabled)
		return s, err
	})
}

// RuleVersions returns every version of a rule, oldest first, including
// those of a deleted rule. A rule that never existed is store.ErrNotFound.
func (db *DB) RuleVersions(ctx context.Context, id string) ([]store.RuleVersion, error) {
	rows, err := db.pool.Query(ctx, `SELECT version, definition, created_by, created_at FROM rule_versions
		WHERE rule_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("list versions of rule %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.RuleVersion, error) {
		var v store.RuleVersion
		var def []byte
		if err := row.Scan(&v.Version, &def, &v.CreatedBy, &v.CreatedAt); err != nil {
			return v, err
		}
		// Re-encode through rules.Rule, so versions read like the rule.
		var r rules.Rule
		if err := json.Unmarshal(def, &r); err != nil {
			return v, err
		}
		r.Version = v.Version
		v.Rule, err = json.Marshal(r)
		return v, err
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// nullUUID returns nil for an empty id, for nullable uuid columns.
func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}
