package replica_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/backup/replica"
	"github.com/healthhub/healthhub/backend/store/sqlite"
	_ "modernc.org/sqlite"
)

// openStore opens path as HealthHub does (its writer and readers, its
// checkpoint at close) with a table of rows that carry the round that wrote
// them.
func openStore(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, round INTEGER NOT NULL, body BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// insertRound commits n rows of round r, one transaction each, ids from first.
func insertRound(t *testing.T, db *sqlite.DB, r, first, n int) {
	t.Helper()
	for i := range n {
		if err := db.Exec(context.Background(), `INSERT INTO rows (id, round) VALUES (?, ?)`, first+i, r); err != nil {
			t.Fatal(err)
		}
	}
}

// startReplicator starts replicating path and stops it at the end.
func startReplicator(t *testing.T, path string, cfg replica.Config) *replica.Replicator {
	t.Helper()
	rep, err := replica.Start(context.Background(), path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close(context.Background()) })
	return rep
}

func syncNow(t *testing.T, rep *replica.Replicator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rep.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// nextMillisecond waits until the clock has left t's millisecond, the
// resolution of replica times: what is written after it is later than t.
func nextMillisecond(t time.Time) {
	for !time.Now().Truncate(time.Millisecond).After(t.Truncate(time.Millisecond)) {
		time.Sleep(100 * time.Microsecond)
	}
}

// restore restores cfg's replica at target into a new file and returns it.
func restore(t *testing.T, cfg replica.Config, target time.Time) (string, replica.RestoreResult) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored.db")
	res, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, Target: target, OutputPath: out})
	if err != nil {
		t.Fatalf("restore to %v: %v", target, err)
	}
	return out, res
}

// readRows lists the ids and rounds in the database file at path, after
// checking it whole.
func readRows(t *testing.T, path string) (ids []int, rounds map[int]int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?"+url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("%s: integrity check %q, %v", path, check, err)
	}
	rs, err := db.Query(`SELECT id, round FROM rows ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rounds = map[int]int{}
	for rs.Next() {
		var id, r int
		if err := rs.Scan(&id, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		rounds[r]++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return ids, rounds
}

// span is the ids from first to last.
func span(first, last int) []int {
	var ids []int
	for i := first; i <= last; i++ {
		ids = append(ids, i)
	}
	return ids
}

func wantIDs(t *testing.T, what string, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %d rows %s; want %d rows %s", what, len(got), summary(got), len(want), summary(want))
	}
}

func summary(ids []int) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%d…%d", ids[0], ids[len(ids)-1])
}
