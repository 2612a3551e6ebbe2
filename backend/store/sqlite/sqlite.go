// Package sqlite is the embedded storage engine: one SQLite file in the data
// folder (modernc.org/sqlite, pure Go), WAL journal, foreign keys on, a busy
// timeout, one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/migrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the SQLite store.
type DB struct {
	path   string
	writer *sql.DB // exactly one connection: SQLite allows one writer at a time
	reader *sql.DB
	// Statements run on every request, prepared once per connection rather
	// than parsed again each time.
	stmtSessionWithUser *sql.Stmt
	stmtUserByID        *sql.Stmt
}

var _ domain.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path. It does not
// migrate; call Migrate.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	// The file holds patient data: readable by the service account only.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database file: %w", err)
	}
	f.Close()
	pragmas := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		pragmas.Add("_pragma", p)
	}
	writerDSN := "file:" + path + "?" + pragmas.Encode() + "&_txlock=immediate"
	readerDSN := "file:" + path + "?" + pragmas.Encode() + "&mode=ro"

	writer, err := sql.Open("sqlite", writerDSN)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	// Create the file and switch it to WAL before readers open it read-only.
	if err := writer.Ping(); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", readerDSN)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite reader: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	return &DB{path: path, writer: writer, reader: reader}, nil
}

// prepare readies the hot statements; it runs after migration, when the
// tables exist.
func (db *DB) prepare(ctx context.Context) error {
	if db.stmtUserByID != nil {
		return nil
	}
	var err error
	if db.stmtUserByID, err = db.reader.PrepareContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if db.stmtSessionWithUser, err = db.reader.PrepareContext(ctx, `SELECT `+sessionWithUserColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// Migrations returns this dialect's migrations, in order.
func Migrations() ([]migrate.Migration, error) { return migrate.Load(migrationFS, "migrations") }

// Migrate applies pending migrations and returns the resulting version. A
// database from a newer binary is refused with migrate.ErrSchemaTooNew.
func (db *DB) Migrate(ctx context.Context) (int, error) { return db.MigrateTo(ctx, -1) }

// MigrateTo is Migrate that stops after migration version (applies them all
// when version is negative). Tests use it to write data at an older schema
// and then upgrade it.
func (db *DB) MigrateTo(ctx context.Context, version int) (int, error) {
	all, err := Migrations()
	if err != nil {
		return 0, err
	}
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return 0, mapErr(err, "create schema table")
	}
	// The writer's transactions are BEGIN IMMEDIATE, so two processes
	// migrating the same file take turns. All pending migrations commit
	// together or not at all.
	var from, to int // the version found, and the version once pending ones apply
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&from); err != nil {
			return mapErr(err, "read schema version")
		}
		pending, err := migrate.Pending(all, from)
		if err != nil {
			return err
		}
		to = from
		for _, m := range pending {
			if version >= 0 && m.Version > version {
				break
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, fmtTime(time.Now())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
			to = m.Version
		}
		return nil
	})
	if err != nil {
		return from, err
	}
	return to, db.prepare(ctx)
}

// tx is the store's one way into a write transaction: BEGIN IMMEDIATE on
// the writer connection, fn, COMMIT. When SQLite still answers busy or
// locked once the busy timeout has passed (another process, such as a
// second server or a command on the same file, held the write lock that
// long), the transaction is rolled back and fn runs again after a short
// random pause. fn must only act on tx, so a rolled-back attempt leaves
// nothing behind; its error comes back as it returned it.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const attempts = 3
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(time.Duration(attempt) * (10*time.Millisecond + rand.N(40*time.Millisecond)))
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		if err = db.txOnce(ctx, fn); !isCode(err, sqlite3.SQLITE_BUSY) && !isCode(err, sqlite3.SQLITE_LOCKED) {
			break
		}
	}
	return err
}

func (db *DB) txOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err, "begin")
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(), "commit")
}

func (db *DB) Engine() string { return "sqlite" }

// Path is the database file.
func (db *DB) Path() string { return db.path }

func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return mapErr(err, "ping")
	}
	return nil
}

// Close checkpoints the WAL and closes both pools.
func (db *DB) Close() error {
	for _, st := range []*sql.Stmt{db.stmtSessionWithUser, db.stmtUserByID} {
		if st != nil {
			st.Close()
		}
	}
	// Without waiting: the checkpoint holds the write lock while it waits
	// for readers, and another process may keep one open for long (the
	// server's continuous replication does), stalling that server's writes.
	_, cerr := db.writer.Exec(`PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(TRUNCATE)`)
	rerr := db.reader.Close()
	werr := db.writer.Close()
	return errors.Join(werr, rerr, ignoreBusy(cerr))
}

func ignoreBusy(err error) error {
	if isCode(err, sqlite3.SQLITE_BUSY) {
		return nil
	}
	return err
}

// Backup writes a consistent copy of the database to dst (VACUUM INTO).
func (db *DB) Backup(ctx context.Context, dst string) error {
	if _, err := db.writer.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	return nil
}

// Exec runs raw SQL on the writer. It exists for tests that play an attacker
// with direct database access; the application never calls it.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.writer.ExecContext(ctx, query, args...)
	return err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(domain.AuditTimeFormat)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func isCode(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == code || se.Code()&0xff == code)
}

// mapErr turns driver errors into domain errors: constraint violations become
// conflicts, a locked database becomes unavailable.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return &domain.Error{Code: domain.ENOTFOUND, Message: "Not found."}
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE), isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("%s: %w", what, &domain.Error{Code: domain.ECONFLICT, Message: "That already exists."})
	case isCode(err, sqlite3.SQLITE_BUSY), isCode(err, sqlite3.SQLITE_LOCKED), isCode(err, sqlite3.SQLITE_FULL),
		isCode(err, sqlite3.SQLITE_IOERR), isCode(err, sqlite3.SQLITE_READONLY):
		return domain.Unavailable(err, "The database is unavailable; please try again shortly.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
