package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const userColumns = `id, email, name, role, password_hash, mfa_enabled, mfa_secret, disabled,
	failed_logins, locked_until, created_at, updated_at`

func scanUser(row pgx.Row) (*domain.User, error) {
	var u domain.User
	var locked *time.Time
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MFAEnabled, &u.MFASecret,
		&u.Disabled, &u.FailedLogins, &locked, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, err
	}
	u.LockedUntil = fromNull(locked)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (db *DB) CreateUser(ctx context.Context, u *domain.User) error {
	if u.ID == "" {
		u.ID = uuid.Must(uuid.NewV7()).String()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, nullTime(u.LockedUntil), u.CreatedAt.UTC(), u.UpdatedAt.UTC())
	if isUnique(err) {
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	return mapErr(err, "create user")
}

func (db *DB) UserByID(ctx context.Context, id string) (*domain.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No user with that id.")
	}
	return u, mapErr(err, "user by id")
}

func (db *DB) UserByEmail(ctx context.Context, email string) (*domain.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No user with that e-mail address.")
	}
	return u, mapErr(err, "user by email")
}

func (db *DB) ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE ($1 = '' OR role = $1)
		  AND ($2 = '' OR strpos(lower(email), $2) > 0 OR strpos(lower(name), $2) > 0)
		ORDER BY created_at, id LIMIT $3 OFFSET $4`,
		string(f.Role), strings.ToLower(f.Query), limit, f.Offset)
	if err != nil {
		return nil, mapErr(err, "list users")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.User, error) { return scanUser(r) })
	return out, mapErr(err, "list users")
}

func (db *DB) UpdateUser(ctx context.Context, u *domain.User) error {
	return updateUser(ctx, db.pool, u)
}

// updateUser writes u over its stored row, alone or inside a transaction.
func updateUser(ctx context.Context, exec interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, u *domain.User) error {
	tag, err := exec.Exec(ctx, `UPDATE users SET email = $1, name = $2, role = $3, password_hash = $4,
		mfa_enabled = $5, mfa_secret = $6, disabled = $7, failed_logins = $8, locked_until = $9, updated_at = $10
		WHERE id = $11`,
		u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, nullTime(u.LockedUntil), u.UpdatedAt.UTC(), u.ID)
	if isUnique(err) {
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	if err != nil {
		return mapErr(err, "update user")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No user with that id.")
	}
	return nil
}

func (db *DB) CountUsers(ctx context.Context, role domain.Role) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE $1 = '' OR role = $1`, string(role)).Scan(&n)
	return n, mapErr(err, "count users")
}

func (db *DB) RecordLoginFailure(ctx context.Context, userID string, lockUntil func(int) time.Time) (int, error) {
	var n int
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins`,
			userID).Scan(&n); err != nil {
			return err
		}
		if until := lockUntil(n); !until.IsZero() {
			_, err := tx.Exec(ctx, `UPDATE users SET locked_until = $1 WHERE id = $2`, until.UTC(), userID)
			return err
		}
		return nil
	})
	return n, mapErr(err, "record login failure")
}

func (db *DB) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := db.pool.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL
		WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)`, userID)
	return mapErr(err, "reset login failures")
}

func (db *DB) CreateSession(ctx context.Context, s *domain.Session, first *domain.RefreshToken) error {
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, revoked_at, source_ip, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, s.ID, s.UserID, s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC(),
			nullTime(s.RevokedAt), s.SourceIP, s.UserAgent); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)`,
			first.Hash, s.ID, first.IssuedAt.UTC())
		return err
	})
	return mapErr(err, "create session")
}

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, revoked_at, source_ip, user_agent`

func scanSession(row pgx.Row) (*domain.Session, error) {
	var s domain.Session
	var revoked *time.Time
	if err := row.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &revoked, &s.SourceIP, &s.UserAgent); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	s.RevokedAt = fromNull(revoked)
	return &s, nil
}

func (db *DB) SessionByID(ctx context.Context, id string) (*domain.Session, error) {
	s, err := scanSession(db.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such session.")
	}
	return s, mapErr(err, "session by id")
}

func (db *DB) SessionWithUser(ctx context.Context, id string) (*domain.Session, *domain.User, error) {
	var s domain.Session
	var u domain.User
	var sRevoked, uLocked *time.Time
	err := db.pool.QueryRow(ctx, `SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.source_ip, s.user_agent,
			u.id, u.email, u.name, u.role, u.password_hash, u.mfa_enabled, u.mfa_secret, u.disabled,
			u.failed_logins, u.locked_until, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id).Scan(
		&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &sRevoked, &s.SourceIP, &s.UserAgent,
		&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MFAEnabled, &u.MFASecret, &u.Disabled,
		&u.FailedLogins, &uLocked, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, domain.Errorf(domain.ENOTFOUND, "No such session.")
	}
	if err != nil {
		return nil, nil, mapErr(err, "session with user")
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RevokedAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC(), fromNull(sRevoked)
	u.CreatedAt, u.UpdatedAt, u.LockedUntil = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), fromNull(uLocked)
	return &s, &u, nil
}

func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1`, at.UTC(), id)
	return mapErr(err, "touch session")
}

func (db *DB) RevokeSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at.UTC(), id)
	return mapErr(err, "revoke session")
}

func (db *DB) RevokeUserSessions(ctx context.Context, userID string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, at.UTC(), userID)
	return mapErr(err, "revoke user sessions")
}

func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, next *domain.RefreshToken) (*domain.Session, error) {
	var sess *domain.Session
	var reused bool
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		var sessionID string
		var usedAt *time.Time
		// FOR UPDATE: two concurrent uses of one token see each other.
		err := tx.QueryRow(ctx, `SELECT session_id, used_at FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, oldHash).Scan(&sessionID, &usedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.EUNAUTHORIZED, "That refresh token is not valid. Please sign in again.")
		}
		if err != nil {
			return err
		}
		reused = usedAt != nil
		if reused {
			// Reuse: end the whole family and keep that decision.
			if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, next.IssuedAt.UTC(), sessionID); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2`, next.IssuedAt.UTC(), oldHash); err != nil {
				return err
			}
			next.SessionID = sessionID
			if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)`,
				next.Hash, sessionID, next.IssuedAt.UTC()); err != nil {
				return err
			}
		}
		sess, err = scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, sessionID))
		return err
	})
	if err != nil {
		return nil, mapErr(err, "rotate refresh token")
	}
	if reused {
		// The ended session goes with the error, so the caller can drop
		// what it remembers of it.
		return sess, domain.ErrRefreshReused
	}
	return sess, nil
}

const apiKeyColumns = `id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (*domain.APIKey, error) {
	var k domain.APIKey
	var used, revoked *time.Time
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt, k.RevokedAt = fromNull(used), fromNull(revoked)
	return &k, nil
}

func (db *DB) CreateAPIKey(ctx context.Context, k *domain.APIKey) error {
	if k.ID == "" {
		k.ID = uuid.Must(uuid.NewV7()).String()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.UserID, k.Name, k.Prefix, k.Hash, k.CreatedAt.UTC(), nullTime(k.LastUsedAt), nullTime(k.RevokedAt))
	return mapErr(err, "create api key")
}

func (db *DB) APIKeyByHash(ctx context.Context, hash string) (*domain.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such API key.")
	}
	return k, mapErr(err, "api key by hash")
}

func (db *DB) ListAPIKeys(ctx context.Context, userID string) ([]*domain.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(err, "list api keys")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.APIKey, error) { return scanAPIKey(r) })
	return out, mapErr(err, "list api keys")
}

func (db *DB) RevokeAPIKey(ctx context.Context, userID, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`,
		at.UTC(), id, userID)
	if err != nil {
		return mapErr(err, "revoke api key")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No active API key with that id.")
	}
	return nil
}

func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, mapErr(err, "read setting")
}

func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr(err, "write setting")
}

func (db *DB) SwapSetting(ctx context.Context, key, old, value string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE settings SET value = $3 WHERE key = $1 AND value = $2`, key, old, value)
	if err != nil {
		return false, mapErr(err, "write setting")
	}
	return tag.RowsAffected() == 1, nil
}

func (db *DB) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value`, key, value).Scan(&v)
	return v, mapErr(err, "write setting")
}
