package postgres_test

import (
	"context"
	"testing"

	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// migrated opens a fresh, migrated schema of the test PostgreSQL and returns
// it with its URL (for connections of the test's own). Without PostgreSQL
// configured the test is skipped; in CI it fails instead (storetest.Engines).
func migrated(ctx context.Context, t *testing.T) (*postgres.DB, string) {
	t.Helper()
	if len(storetest.Engines(t)) == 1 {
		t.Skipf("set %s to run this on PostgreSQL", storetest.EnvPostgresURL)
	}
	url := storetest.NewPostgresSchema(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db, url
}
