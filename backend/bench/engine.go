package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/store"
	"github.com/jackc/pgx/v5"
)

// Environment variables naming the PostgreSQL server to measure, in order of
// preference.
const (
	EnvBenchDatabaseURL = "HEALTHHUB_BENCH_DATABASE_URL"
	EnvTestDatabaseURL  = "HEALTHHUB_TEST_DATABASE_URL"
)

// PostgresURL returns the PostgreSQL URL from the environment, or "" when
// neither variable is set.
func PostgresURL(getenv func(string) string) string {
	for _, name := range []string{EnvBenchDatabaseURL, EnvTestDatabaseURL} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
	}
	return ""
}

// Engine is a storage engine to measure. Every scenario gets a fresh, empty
// database of it.
type Engine struct {
	Name string
	// serverURL is the PostgreSQL server each fresh schema is made in; empty
	// for SQLite.
	serverURL string
}

// Engines returns SQLite always and PostgreSQL when postgresURL is set.
func Engines(postgresURL string) []Engine {
	engines := []Engine{{Name: "sqlite"}}
	if postgresURL != "" {
		engines = append(engines, Engine{Name: "postgres", serverURL: postgresURL})
	}
	return engines
}

// SelectEngines picks the named engines from the available ones, in the
// order named; no names means all available.
func SelectEngines(available []Engine, names []string) ([]Engine, error) {
	if len(names) == 0 {
		return available, nil
	}
	var out []Engine
	for _, n := range names {
		i := slices.IndexFunc(available, func(e Engine) bool { return e.Name == n })
		switch {
		case i >= 0:
			if !slices.ContainsFunc(out, func(e Engine) bool { return e.Name == n }) {
				out = append(out, available[i])
			}
		case n == "postgres":
			return nil, fmt.Errorf("engine postgres needs %s or %s set to a postgres:// URL", EnvBenchDatabaseURL, EnvTestDatabaseURL)
		default:
			return nil, fmt.Errorf("unknown engine %q: choose sqlite or postgres", n)
		}
	}
	return out, nil
}

// database is one fresh, empty database: what a server's configuration
// needs to reach it, and how to remove it.
type database struct {
	URL     string // "" for SQLite in DataDir
	DataDir string
	drop    func(ctx context.Context) error
}

// Close removes the database and its data folder.
func (d *database) Close(ctx context.Context) error {
	var err error
	if d.drop != nil {
		err = d.drop(ctx)
	}
	if rerr := os.RemoveAll(d.DataDir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove data folder: %w", rerr))
	}
	return err
}

// fresh makes an empty database of the engine with a data folder under
// tempDir ("" for the system's temporary folder).
func (e Engine) fresh(ctx context.Context, tempDir string) (*database, error) {
	dir, err := os.MkdirTemp(tempDir, "healthhub-bench-*")
	if err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	d := &database{DataDir: dir}
	if e.serverURL == "" {
		return d, nil
	}
	u, drop, err := newPostgresSchema(ctx, e.serverURL)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d.URL, d.drop = u, drop
	return d, nil
}

// newPostgresSchema creates an empty schema and returns a URL whose
// search_path selects it, and a function that drops it.
func newPostgresSchema(ctx context.Context, serverURL string) (string, func(context.Context) error, error) {
	if !store.IsPostgres(serverURL) {
		return "", nil, errors.New("the PostgreSQL URL must start with postgres:// or postgresql://")
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		// The parse error would repeat the URL, password included.
		return "", nil, errors.New("the PostgreSQL URL is not a valid URL")
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("schema name: %w", err)
	}
	schema := "hh_bench_" + hex.EncodeToString(b)
	exec := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop := func(ctx context.Context) error {
		// Drop even when the run was interrupted.
		if err := exec(context.WithoutCancel(ctx), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
