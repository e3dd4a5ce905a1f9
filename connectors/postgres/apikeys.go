package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
)

const apiKeyColumns = `id, name, prefix, hash, role, created_by, created_at, expires_at, revoked_at, rotated_from`

func scanAPIKey(row pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.Role, &k.CreatedBy, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.RotatedFrom)
	return k, notFound(err)
}

// CreateAPIKey stores a key. Its ID, CreatedAt and RotatedFrom are set by
// the store.
func (db *DB) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	return scanAPIKey(db.pool.QueryRow(ctx, `INSERT INTO api_keys (name, prefix, hash, role, created_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiKeyColumns, k.Name, k.Prefix, k.Hash, k.Role, k.CreatedBy, k.ExpiresAt))
}

// APIKeyByPrefix returns the key with the prefix, whatever its state.
func (db *DB) APIKeyByPrefix(ctx context.Context, prefix string) (store.APIKey, error) {
	return scanAPIKey(db.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
}

// ListAPIKeys returns every key, newest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIKey, error) { return scanAPIKey(r) })
}

// RotateAPIKey stores next as the successor of the key with id oldID and
// shortens the old key's life to end at overlapUntil (or keeps its
// expiry when that is sooner), so devices can switch over. A revoked or
// expired key cannot be rotated: store.ErrNotFound.
func (db *DB) RotateAPIKey(ctx context.Context, oldID string, next store.APIKey, overlapUntil time.Time) (store.APIKey, error) {
	if !isUUID(oldID) {
		return store.APIKey{}, store.ErrNotFound
	}
	var out store.APIKey
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		old, err := scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
			WHERE id = $1 AND revoked_at IS NULL AND expires_at > now() FOR UPDATE`, oldID))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET expires_at = least(expires_at, $2) WHERE id = $1`, oldID, overlapUntil); err != nil {
			return err
		}
		out, err = scanAPIKey(tx.QueryRow(ctx, `INSERT INTO api_keys (name, prefix, hash, role, created_by, expires_at, rotated_from)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+apiKeyColumns,
			old.Name, next.Prefix, next.Hash, old.Role, next.CreatedBy, next.ExpiresAt, oldID))
		return err
	})
	return out, err
}

// RevokeAPIKey revokes a key at once.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	if !isUUID(id) {
		return store.APIKey{}, store.ErrNotFound
	}
	return scanAPIKey(db.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 RETURNING `+apiKeyColumns, id))
}
