package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vytalwatch/vytalwatch/api/store"
)

const userColumns = `id, email, role, password_hash, password_changed_at, coalesce(totp_secret, ''),
	totp_confirmed, disabled_at, created_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Email, &u.Role, &u.PasswordHash, &u.PasswordChangedAt, &u.TOTPSecret,
		&u.TOTPConfirmed, &u.DisabledAt, &u.CreatedAt)
	return u, notFound(err)
}

// CreateUser inserts a user. An email already taken is store.ErrConflict.
func (db *DB) CreateUser(ctx context.Context, nu store.NewUser) (store.User, error) {
	return createUser(ctx, db.pool, nu)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func createUser(ctx context.Context, q querier, nu store.NewUser) (store.User, error) {
	u, err := scanUser(q.QueryRow(ctx,
		`INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3) RETURNING `+userColumns,
		nu.Email, nu.Role, nu.PasswordHash))
	if isUniqueViolation(err) {
		return store.User{}, fmt.Errorf("user %s: %w", nu.Email, store.ErrConflict)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserByEmail returns the user with the (lowercase) email.
func (db *DB) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
}

// UserByID returns the user with the id.
func (db *DB) UserByID(ctx context.Context, id string) (store.User, error) {
	if !isUUID(id) {
		return store.User{}, store.ErrNotFound
	}
	return scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// ListUsers returns every user, by email.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
}

// SetUserDisabled disables or enables a user. Disabling revokes every
// session of the user.
func (db *DB) SetUserDisabled(ctx context.Context, id string, disabled bool) (store.User, error) {
	if !isUUID(id) {
		return store.User{}, store.ErrNotFound
	}
	var u store.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END
			WHERE id = $1 RETURNING `+userColumns, id, disabled))
		if err != nil || !disabled {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id)
		return err
	})
	return u, err
}

// ChangePassword stores a new password hash, stamps password_changed_at
// and revokes every session of the user, in one transaction.
func (db *DB) ChangePassword(ctx context.Context, id, hash string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1`, id, hash)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id)
		return err
	})
}

// SetTOTPSecret stores a new, unconfirmed TOTP secret. A user with a
// confirmed secret keeps it: store.ErrConflict.
func (db *DB) SetTOTPSecret(ctx context.Context, id, secret string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_secret = $2, totp_last_step = 0
		WHERE id = $1 AND NOT totp_confirmed`, id, secret)
	if err != nil {
		return fmt.Errorf("store totp secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("totp already enabled: %w", store.ErrConflict)
	}
	return nil
}

// ConfirmTOTP marks the user's secret as confirmed.
func (db *DB) ConfirmTOTP(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_confirmed = true WHERE id = $1 AND totp_secret IS NOT NULL`, id)
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// UseTOTPStep records that the code of a TOTP time step was accepted. It
// returns false when that step or a later one was already used, so a code
// is never accepted twice.
func (db *DB) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, id, step)
	if err != nil {
		return false, fmt.Errorf("record totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateSession starts a session with its first refresh token.
func (db *DB) CreateSession(ctx context.Context, userID string, mfa bool, refreshHash []byte, expires time.Time) (store.Session, error) {
	s := store.Session{UserID: userID, MFA: mfa}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO sessions (user_id, mfa) VALUES ($1, $2) RETURNING id`, userID, mfa).Scan(&s.ID); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)`, refreshHash, s.ID, expires)
		return err
	})
	return s, err
}

// RotateRefresh exchanges a refresh token for a new one in the same
// session. An unknown or expired token, or one of a revoked session, is
// store.ErrNotFound. A token already rotated is store.ErrRefreshReused,
// and its whole session is revoked: someone holds a copy.
func (db *DB) RotateRefresh(ctx context.Context, oldHash, newHash []byte, expires time.Time) (store.Session, error) {
	var s store.Session
	var reused bool
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var usedAt *time.Time
		var expiresAt time.Time
		var revoked bool
		err := tx.QueryRow(ctx, `SELECT s.id, s.user_id, s.mfa, s.revoked_at IS NOT NULL, t.used_at, t.expires_at
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
			WHERE t.hash = $1 FOR UPDATE`, oldHash).Scan(&s.ID, &s.UserID, &s.MFA, &revoked, &usedAt, &expiresAt)
		if err != nil {
			return notFound(err)
		}
		if revoked {
			return store.ErrNotFound
		}
		if usedAt != nil {
			reused = true
			_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1`, s.ID)
			return err
		}
		if !expiresAt.After(db.now()) {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE hash = $1`, oldHash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)`, newHash, s.ID, expires)
		return err
	})
	if err != nil {
		return store.Session{}, err
	}
	if reused {
		return s, store.ErrRefreshReused
	}
	return s, nil
}

// SessionOfRefresh returns the session of an unused, unexpired refresh
// token.
func (db *DB) SessionOfRefresh(ctx context.Context, hash []byte) (store.Session, error) {
	var s store.Session
	err := db.pool.QueryRow(ctx, `SELECT s.id, s.user_id, s.mfa FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
		WHERE t.hash = $1 AND t.used_at IS NULL AND t.expires_at > now() AND s.revoked_at IS NULL`, hash).Scan(&s.ID, &s.UserID, &s.MFA)
	return s, notFound(err)
}

// RevokeSession revokes a session and with it every token issued under it.
func (db *DB) RevokeSession(ctx context.Context, sessionID string) error {
	if !isUUID(sessionID) {
		return nil
	}
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, sessionID)
	return err
}

// RevokeToken revokes one access token by its jti until it expires.
func (db *DB) RevokeToken(ctx context.Context, jti string, expires time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, jti, expires)
	return err
}

// CheckAccess loads the state of a user's session and token. An unknown
// user or session is store.ErrNotFound.
func (db *DB) CheckAccess(ctx context.Context, userID, sessionID, jti string) (store.AccessState, error) {
	if !isUUID(userID) || !isUUID(sessionID) {
		return store.AccessState{}, store.ErrNotFound
	}
	var a store.AccessState
	err := db.pool.QueryRow(ctx, `SELECT u.role, u.password_changed_at, u.disabled_at IS NOT NULL, u.totp_confirmed,
			s.revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $3)
		FROM users u JOIN sessions s ON s.user_id = u.id WHERE u.id = $1 AND s.id = $2`, userID, sessionID, jti).
		Scan(&a.Role, &a.PasswordChangedAt, &a.Disabled, &a.TOTPConfirmed, &a.SessionRevoked, &a.TokenRevoked)
	return a, notFound(err)
}

// PurgeExpired deletes revoked access tokens and refresh tokens past
// their expiry, which no check needs any more.
func (db *DB) PurgeExpired(ctx context.Context) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("purge revoked tokens: %w", err)
	}
	if _, err := db.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("purge refresh tokens: %w", err)
	}
	return nil
}

const inviteColumns = `id, role, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(row pgx.Row) (store.Invite, error) {
	var i store.Invite
	err := row.Scan(&i.ID, &i.Role, &i.CreatedBy, &i.CreatedAt, &i.ExpiresAt, &i.UsedAt, &i.UsedBy)
	return i, notFound(err)
}

// CreateInvite stores an invite by the hash of its code.
func (db *DB) CreateInvite(ctx context.Context, codeHash []byte, role, createdBy string, expires time.Time) (store.Invite, error) {
	return scanInvite(db.pool.QueryRow(ctx, `INSERT INTO invites (code_hash, role, created_by, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING `+inviteColumns, codeHash, role, createdBy, expires))
}

// ListInvites returns every invite, newest first.
func (db *DB) ListInvites(ctx context.Context) ([]store.Invite, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+inviteColumns+` FROM invites ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Invite, error) { return scanInvite(r) })
}

// RedeemInvite uses an invite and creates the user with the invite's
// role, in one transaction: the code works once, and a failed
// registration (such as a taken email) leaves it unused.
func (db *DB) RedeemInvite(ctx context.Context, codeHash []byte, email, passwordHash string) (store.User, error) {
	var u store.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var id, role string
		err := tx.QueryRow(ctx, `SELECT id, role FROM invites WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
			FOR UPDATE`, codeHash).Scan(&id, &role)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrInviteInvalid
		}
		if err != nil {
			return err
		}
		if u, err = createUser(ctx, tx, store.NewUser{Email: email, Role: role, PasswordHash: passwordHash}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE invites SET used_at = now(), used_by = $2 WHERE id = $1`, id, u.ID)
		return err
	})
	return u, err
}
