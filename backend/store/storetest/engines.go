// Package storetest is the conformance suite every storage engine passes, and
// the helpers other packages' tests use to get a fresh store of each engine.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/healthhub/healthhub/backend/store/sqlite"
	"github.com/jackc/pgx/v5"
)

// EnvPostgresURL names the PostgreSQL database tests use when set.
const EnvPostgresURL = "HEALTHHUB_TEST_DATABASE_URL"

// Engine opens a fresh, migrated, empty store for one test.
type Engine struct {
	Name string
	Open func(t testing.TB) store.DB
	// URL returns what HEALTHHUB_DATABASE_URL (and data folder) would be to
	// reach a fresh database of this engine from a server under test.
	URL func(t testing.TB) (databaseURL, dataDir string)
}

// Engines returns SQLite always and PostgreSQL when EnvPostgresURL is set.
// In CI (CI=true) a missing PostgreSQL URL fails the test rather than
// silently testing one engine.
func Engines(t testing.TB) []Engine {
	engines := []Engine{{Name: "sqlite", Open: OpenSQLite, URL: func(t testing.TB) (string, string) { return "", t.TempDir() }}}
	if os.Getenv(EnvPostgresURL) != "" {
		engines = append(engines, Engine{Name: "postgres", Open: OpenPostgres, URL: func(t testing.TB) (string, string) {
			return NewPostgresSchema(t), t.TempDir()
		}})
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the suite on PostgreSQL too", EnvPostgresURL)
	}
	return engines
}

// OpenSQLite opens a migrated SQLite store in a temporary folder.
func OpenSQLite(t testing.TB) store.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// OpenPostgres opens a migrated PostgreSQL store in a schema of its own.
func OpenPostgres(t testing.TB) store.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), NewPostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// openAt opens a fresh store of the named engine migrated only up to
// version, for tests that write data at an older schema and then upgrade
// it with Migrate.
func openAt(t testing.TB, engine string, version int) store.DB {
	t.Helper()
	var db interface {
		store.DB
		MigrateTo(ctx context.Context, version int) (int, error)
	}
	switch engine {
	case "sqlite":
		s, err := sqlite.Open(filepath.Join(t.TempDir(), store.SQLiteFile))
		if err != nil {
			t.Fatal(err)
		}
		db = s
	case "postgres":
		s, err := postgres.Open(context.Background(), NewPostgresSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		db = s
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	t.Cleanup(func() { db.Close() })
	if v, err := db.MigrateTo(context.Background(), version); err != nil || v != version {
		t.Fatalf("migrate to %d = %d, %v", version, v, err)
	}
	return db
}

// NewPostgresSchema creates an empty schema in the test database, drops it
// when the test ends, and returns a URL whose search_path selects it, so tests
// run in parallel without seeing each other's rows.
func NewPostgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Fatalf("%s is not set", EnvPostgresURL)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "hh_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Raw is implemented by both engines for tests that act as an attacker with
// direct database access.
type Raw interface {
	Exec(ctx context.Context, query string, args ...any) error
	Engine() string
}

// WithoutAuditGuards runs fn with the append-only triggers of the audit table
// out of the way, as an attacker with owner rights on the database could.
func WithoutAuditGuards(t testing.TB, db Raw, fn func()) {
	t.Helper()
	ctx := context.Background()
	must := func(q string) {
		t.Helper()
		if err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	switch db.Engine() {
	case "sqlite":
		must(`DROP TRIGGER audit_events_no_update`)
		must(`DROP TRIGGER audit_events_no_delete`)
		fn()
		must(`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`)
		must(`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`)
	case "postgres":
		must(`ALTER TABLE audit_events DISABLE TRIGGER USER`)
		fn()
		must(`ALTER TABLE audit_events ENABLE TRIGGER USER`)
	default:
		t.Fatalf("unknown engine %q", db.Engine())
	}
}
