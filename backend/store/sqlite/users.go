package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

const userColumns = `id, email, name, role, password_hash, mfa_enabled, mfa_secret, disabled,
	failed_logins, locked_until, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*domain.User, error) {
	var u domain.User
	var locked, created, updated string
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MFAEnabled, &u.MFASecret,
		&u.Disabled, &u.FailedLogins, &locked, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if u.LockedUntil, err = parseTime(locked); err != nil {
		return nil, err
	}
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &u, nil
}

func (db *DB) CreateUser(ctx context.Context, u *domain.User) error {
	if u.ID == "" {
		u.ID = uuid.Must(uuid.NewV7()).String()
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, fmtTime(u.LockedUntil), fmtTime(u.CreatedAt), fmtTime(u.UpdatedAt))
	if isCode(err, 2067) { // SQLITE_CONSTRAINT_UNIQUE on email
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	return mapErr(err, "create user")
}

func (db *DB) UserByID(ctx context.Context, id string) (*domain.User, error) {
	u, err := scanUser(db.stmtUserByID.QueryRowContext(ctx, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No user with that id.")
	}
	return u, mapErr(err, "user by id")
}

func (db *DB) UserByEmail(ctx context.Context, email string) (*domain.User, error) {
	u, err := scanUser(db.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No user with that e-mail address.")
	}
	return u, mapErr(err, "user by email")
}

func (db *DB) ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE 1=1`
	var args []any
	if f.Role != "" {
		q += ` AND role = ?`
		args = append(args, string(f.Role))
	}
	if f.Query != "" {
		q += ` AND (instr(lower(email), ?) > 0 OR instr(lower(name), ?) > 0)`
		s := strings.ToLower(f.Query)
		args = append(args, s, s)
	}
	q += ` ORDER BY created_at, id LIMIT ? OFFSET ?`
	args = append(args, limitOr(f.Limit, 100), f.Offset)
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list users")
	}
	defer rows.Close()
	var out []*domain.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr(err, "scan user")
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err(), "list users")
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

func (db *DB) UpdateUser(ctx context.Context, u *domain.User) error {
	return updateUser(ctx, db.writer, u)
}

// updateUser writes u over its stored row, alone or inside a transaction.
func updateUser(ctx context.Context, exec interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, u *domain.User) error {
	res, err := exec.ExecContext(ctx, `UPDATE users SET email = ?, name = ?, role = ?, password_hash = ?,
		mfa_enabled = ?, mfa_secret = ?, disabled = ?, failed_logins = ?, locked_until = ?, updated_at = ?
		WHERE id = ?`,
		u.Email, u.Name, string(u.Role), u.PasswordHash, u.MFAEnabled, u.MFASecret, u.Disabled,
		u.FailedLogins, fmtTime(u.LockedUntil), fmtTime(u.UpdatedAt), u.ID)
	if isCode(err, 2067) {
		return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
	}
	if err != nil {
		return mapErr(err, "update user")
	}
	return mustAffect(res, "No user with that id.")
}

func mustAffect(res sql.Result, msg string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return domain.Errorf(domain.ENOTFOUND, "%s", msg)
	}
	return nil
}

func (db *DB) CountUsers(ctx context.Context, role domain.Role) (int, error) {
	var n int
	var err error
	if role == "" {
		err = db.reader.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	} else {
		err = db.reader.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ?`, string(role)).Scan(&n)
	}
	return n, mapErr(err, "count users")
}

func (db *DB) RecordLoginFailure(ctx context.Context, userID string, lockUntil func(int) time.Time) (int, error) {
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins`,
			userID).Scan(&n); err != nil {
			return err
		}
		if until := lockUntil(n); !until.IsZero() {
			_, err := tx.ExecContext(ctx, `UPDATE users SET locked_until = ? WHERE id = ?`, fmtTime(until), userID)
			return err
		}
		return nil
	})
	return n, mapErr(err, "record login failure")
}

func (db *DB) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = '' WHERE id = ? AND (failed_logins <> 0 OR locked_until <> '')`, userID)
	return mapErr(err, "reset login failures")
}

func (db *DB) CreateSession(ctx context.Context, s *domain.Session, first *domain.RefreshToken) error {
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, revoked_at, source_ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.UserID, fmtTime(s.CreatedAt), fmtTime(s.LastSeenAt), fmtTime(s.ExpiresAt),
			fmtTime(s.RevokedAt), s.SourceIP, s.UserAgent); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)`,
			first.Hash, s.ID, fmtTime(first.IssuedAt))
		return err
	}), "create session")
}

func scanSession(row interface{ Scan(...any) error }) (*domain.Session, error) {
	var s domain.Session
	var created, seen, expires, revoked string
	if err := row.Scan(&s.ID, &s.UserID, &created, &seen, &expires, &revoked, &s.SourceIP, &s.UserAgent); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst *time.Time
		src string
	}{{&s.CreatedAt, created}, {&s.LastSeenAt, seen}, {&s.ExpiresAt, expires}, {&s.RevokedAt, revoked}} {
		t, err := parseTime(p.src)
		if err != nil {
			return nil, err
		}
		*p.dst = t
	}
	return &s, nil
}

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, revoked_at, source_ip, user_agent`

func (db *DB) SessionByID(ctx context.Context, id string) (*domain.Session, error) {
	s, err := scanSession(db.reader.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such session.")
	}
	return s, mapErr(err, "session by id")
}

const sessionWithUserColumns = `s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.source_ip, s.user_agent,
	u.id, u.email, u.name, u.role, u.password_hash, u.mfa_enabled, u.mfa_secret, u.disabled,
	u.failed_logins, u.locked_until, u.created_at, u.updated_at`

func (db *DB) SessionWithUser(ctx context.Context, id string) (*domain.Session, *domain.User, error) {
	var s domain.Session
	var u domain.User
	var sCreated, sSeen, sExpires, sRevoked, uLocked, uCreated, uUpdated string
	err := db.stmtSessionWithUser.QueryRowContext(ctx, id).Scan(&s.ID, &s.UserID, &sCreated, &sSeen, &sExpires, &sRevoked, &s.SourceIP, &s.UserAgent,
		&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.MFAEnabled, &u.MFASecret, &u.Disabled,
		&u.FailedLogins, &uLocked, &uCreated, &uUpdated)
	if err == sql.ErrNoRows {
		return nil, nil, domain.Errorf(domain.ENOTFOUND, "No such session.")
	}
	if err != nil {
		return nil, nil, mapErr(err, "session with user")
	}
	for _, p := range []struct {
		dst *time.Time
		src string
	}{{&s.CreatedAt, sCreated}, {&s.LastSeenAt, sSeen}, {&s.ExpiresAt, sExpires}, {&s.RevokedAt, sRevoked},
		{&u.LockedUntil, uLocked}, {&u.CreatedAt, uCreated}, {&u.UpdatedAt, uUpdated}} {
		if *p.dst, err = parseTime(p.src); err != nil {
			return nil, nil, err
		}
	}
	return &s, &u, nil
}

func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`,
		fmtTime(at), id, fmtTime(at))
	return mapErr(err, "touch session")
}

func (db *DB) RevokeSession(ctx context.Context, id string, at time.Time) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = ''`, fmtTime(at), id)
	return mapErr(err, "revoke session")
}

func (db *DB) RevokeUserSessions(ctx context.Context, userID string, at time.Time) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = ''`, fmtTime(at), userID)
	return mapErr(err, "revoke user sessions")
}

func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, next *domain.RefreshToken) (*domain.Session, error) {
	var sess *domain.Session
	var reused bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var sessionID, usedAt string
		err := tx.QueryRowContext(ctx, `SELECT session_id, used_at FROM refresh_tokens WHERE hash = ?`, oldHash).Scan(&sessionID, &usedAt)
		if err == sql.ErrNoRows {
			return domain.Errorf(domain.EUNAUTHORIZED, "That refresh token is not valid. Please sign in again.")
		}
		if err != nil {
			return err
		}
		reused = usedAt != ""
		if reused {
			// Reuse: end the whole family and keep that decision.
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = ''`,
				fmtTime(next.IssuedAt), sessionID); err != nil {
				return err
			}
		} else {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, fmtTime(next.IssuedAt), oldHash); err != nil {
				return err
			}
			next.SessionID = sessionID
			if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)`,
				next.Hash, sessionID, fmtTime(next.IssuedAt)); err != nil {
				return err
			}
		}
		sess, err = scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, sessionID))
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

func scanAPIKey(row interface{ Scan(...any) error }) (*domain.APIKey, error) {
	var k domain.APIKey
	var created, used, revoked string
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &revoked); err != nil {
		return nil, err
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if k.LastUsedAt, err = parseTime(used); err != nil {
		return nil, err
	}
	if k.RevokedAt, err = parseTime(revoked); err != nil {
		return nil, err
	}
	return &k, nil
}

func (db *DB) CreateAPIKey(ctx context.Context, k *domain.APIKey) error {
	if k.ID == "" {
		k.ID = uuid.Must(uuid.NewV7()).String()
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.UserID, k.Name, k.Prefix, k.Hash, fmtTime(k.CreatedAt), fmtTime(k.LastUsedAt), fmtTime(k.RevokedAt))
	return mapErr(err, "create api key")
}

func (db *DB) APIKeyByHash(ctx context.Context, hash string) (*domain.APIKey, error) {
	k, err := scanAPIKey(db.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such API key.")
	}
	return k, mapErr(err, "api key by hash")
}

func (db *DB) ListAPIKeys(ctx context.Context, userID string) ([]*domain.APIKey, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapErr(err, "list api keys")
	}
	defer rows.Close()
	var out []*domain.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "scan api key")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "list api keys")
}

func (db *DB) RevokeAPIKey(ctx context.Context, userID, id string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at = ''`,
		fmtTime(at), id, userID)
	if err != nil {
		return mapErr(err, "revoke api key")
	}
	return mustAffect(res, "No active API key with that id.")
}

func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.reader.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return v, err == nil, mapErr(err, "read setting")
}

func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	_, err := db.writer.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr(err, "write setting")
}

func (db *DB) SwapSetting(ctx context.Context, key, old, value string) (bool, error) {
	res, err := db.writer.ExecContext(ctx, `UPDATE settings SET value = ? WHERE key = ? AND value = ?`, value, key, old)
	if err != nil {
		return false, mapErr(err, "write setting")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (db *DB) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	var v string
	err := db.writer.QueryRowContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value`, key, value).Scan(&v)
	return v, mapErr(err, "write setting")
}
