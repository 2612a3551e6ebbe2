// Package store opens the storage engine the configuration names: PostgreSQL
// for a postgres:// URL, otherwise the embedded SQLite file in the data folder.
package store

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/healthhub/healthhub/backend/store/sqlite"
)

// DB is a store that can also migrate its schema.
type DB interface {
	domain.Store
	domain.RetentionStore
	Migrate(ctx context.Context) (int, error)
	// SwapSetting stores value if key holds old, and reports whether it
	// did (a compare-and-swap, for what processes sharing the database
	// change in turns, such as the shared keyring).
	SwapSetting(ctx context.Context, key, old, value string) (bool, error)
}

var (
	_ DB = (*sqlite.DB)(nil)
	_ DB = (*postgres.DB)(nil)
)

// SQLiteFile is the database file's name inside the data folder.
const SQLiteFile = "healthhub.db"

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens the configured engine without migrating it.
func Open(ctx context.Context, databaseURL, dataDir string) (DB, error) {
	return OpenWith(ctx, databaseURL, dataDir, nil)
}

// OpenWith is Open with PostgreSQL credentials asked for each new
// connection (postgres.OpenWith); SQLite ignores them.
func OpenWith(ctx context.Context, databaseURL, dataDir string, creds postgres.Credentials) (DB, error) {
	if IsPostgres(databaseURL) {
		return postgres.OpenWith(ctx, databaseURL, creds)
	}
	return sqlite.Open(filepath.Join(dataDir, SQLiteFile))
}
