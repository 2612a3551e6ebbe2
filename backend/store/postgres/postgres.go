// Package postgres is the server storage engine: PostgreSQL (or Aurora
// PostgreSQL in hosted mode) through a pgx/v5 pool.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/migrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockID serialises migrations of replicas starting together.
const migrationLockID = 0x4848_6d69_6772 // "HHmigr"

// DB is the PostgreSQL store.
type DB struct {
	pool  *pgxpool.Pool
	terms termStats
}

var _ domain.Store = (*DB)(nil)

// Open connects a pool to url. Options such as search_path may be set in the
// URL. The pool reconnects by itself after the server restarts.
func Open(ctx context.Context, url string) (*DB, error) { return OpenWith(ctx, url, nil) }

// Credentials returns the user name (empty: the URL's) and password to
// connect with; it is asked before every new connection, so a password
// rotated where it is kept (AWS Secrets Manager) is used from then on.
type Credentials func(ctx context.Context) (user, password string, err error)

// OpenWith is Open with credentials asked for each new connection: the
// pool's (pgxpool.Config.BeforeConnect), which connections of their own
// made from the pool's configuration (listeners, the leader) call too.
func OpenWith(ctx context.Context, url string, creds Credentials) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if creds != nil {
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			user, password, err := creds(ctx)
			if err != nil {
				return fmt.Errorf("database credentials: %w", err)
			}
			if user != "" {
				cc.User = user
			}
			cc.Password = password
			return nil
		}
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Migrations returns this dialect's migrations, in order.
func Migrations() ([]migrate.Migration, error) { return migrate.Load(migrationFS, "migrations") }

// Migrate applies pending migrations under an advisory lock and returns the
// resulting version. A database from a newer binary is refused.
func (db *DB) Migrate(ctx context.Context) (int, error) { return db.MigrateTo(ctx, -1) }

// MigrateTo is Migrate that stops after migration version (applies them all
// when version is negative). Tests use it to write data at an older schema
// and then upgrade it.
func (db *DB) MigrateTo(ctx context.Context, version int) (int, error) {
	all, err := Migrations()
	if err != nil {
		return 0, err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, mapErr(err, "acquire connection")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return 0, mapErr(err, "take migration lock")
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, mapErr(err, "create schema table")
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, mapErr(err, "read schema version")
	}
	pending, err := migrate.Pending(all, current)
	if err != nil {
		return current, err
	}
	for _, m := range pending {
		if version >= 0 && m.Version > version {
			break
		}
		err := inTx(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return current, fmt.Errorf("apply migration %s: %w", m.Name, err)
		}
		current = m.Version
	}
	return current, nil
}

func (db *DB) Engine() string { return "postgres" }

func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var one int
	return mapErr(db.pool.QueryRow(ctx, `SELECT 1`).Scan(&one), "ping")
}

func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Exec runs raw SQL. It exists for tests that play an attacker with direct
// database access; the application never calls it.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.pool.Exec(ctx, query, args...)
	return err
}

// Pool exposes the pool to packages that need PostgreSQL-only features.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// tx runs fn in a transaction of the pool (see inTx) and maps its error.
func (db *DB) tx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	return mapErr(inTx(ctx, db.pool, fn), what)
}

// txBeginner starts transactions: the pool, or a connection held for an
// advisory lock.
type txBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// inTx is the store's one way into a transaction (tx, for callers that map
// the error as usual, is inTx on the pool). It runs fn and runs it
// again, after a short random pause, when PostgreSQL aborted it as a
// deadlock victim or a serialization failure (SQLSTATE 40P01, 40001): for
// example two bookings of one doctor that check the exclusion constraint
// against each other at the same moment, or two knowledge batches that
// replace versions of the same files. The retry sees the winner committed
// and gets its real outcome (such as a conflict). fn must only act on tx,
// so a rolled-back attempt leaves nothing behind.
func inTx(ctx context.Context, b txBeginner, fn func(tx pgx.Tx) error) error {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, b, fn)
		if code := pgCode(err); attempt == attempts || (code != "40P01" && code != "40001") {
			return err
		}
		pause := time.Duration(attempt) * (5*time.Millisecond + rand.N(20*time.Millisecond))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// mapErr turns driver errors into domain errors: unique violations become
// conflicts; a server that is down, restarting or unreachable becomes
// unavailable (503), which clients may retry.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "Not found."}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%s: %w", what, &domain.Error{Code: domain.ECONFLICT, Message: "That already exists."})
		case pe.Code == "22021", pe.Code == "22P05", pe.Code == "54000":
			// Invalid UTF-8 or a NUL byte in a value; a value too long to index.
			return domain.Invalid("", "The request contains characters that are not valid text (such as a NUL byte or invalid UTF-8).")
		case pe.Code[:2] == "08", pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300", pe.Code[:2] == "40":
			return domain.Unavailable(err, "The database is unavailable; please try again shortly.")
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || isClosedConn(err) {
		return domain.Unavailable(err, "The database is unavailable; please try again shortly.")
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isClosedConn(err error) bool {
	s := err.Error()
	for _, m := range []string{"conn closed", "unexpected EOF", "connection reset", "broken pipe", "closed pool", "failed to connect"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
