package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthhub/healthhub/backend/domain"
)

// A change whose transaction began first but commits last is not skipped:
// while it is open, the reader does not move past it.
func TestChangesDoNotSkipALateCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, url := migrated(ctx, t)
	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	write := func(tx pgx.Tx, id string) {
		if _, err := tx.Exec(ctx, `INSERT INTO sync_changes (entity, entity_id, changed_at) VALUES ('appointment', $1, now())`, id); err != nil {
			t.Fatal(err)
		}
	}
	// "early" takes its transaction id first and stays open; "late" begins
	// after it and commits at once.
	early, err := conn().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(context.Background())
	write(early, "early")
	late, err := conn().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(late, "late")
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	seen, err := db.Changes(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range seen {
		if c.EntityID == "late" {
			t.Fatalf("the reader went past an open transaction: %+v", seen)
		}
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got []domain.Change
	cursor := ""
	for len(got) < 2 && ctx.Err() == nil {
		page, err := db.Changes(ctx, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			time.Sleep(10 * time.Millisecond) // older transactions elsewhere in the database may still run; the context bounds the wait
			continue
		}
		got = append(got, page...)
		cursor = page[len(page)-1].Cursor
	}
	if len(got) != 2 || got[0].EntityID != "early" || got[1].EntityID != "late" {
		t.Fatalf("changes %+v, want early then late", got)
	}
}

// Compaction counts only rows it can see committed: a later row of a
// transaction still open supersedes nothing, and a tombstone row that
// readers cannot see yet (a transaction older than it still runs) stays,
// with the horizon, until they can.
func TestCompactionSeesOnlyCommittedRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, url := migrated(ctx, t)
	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	write := func(exec func(ctx context.Context, sql string, args ...any) error, id string) {
		t.Helper()
		if err := exec(ctx, `INSERT INTO sync_changes (entity, entity_id, changed_at) VALUES ('appointment', $1, now())`, id); err != nil {
			t.Fatal(err)
		}
	}
	txExec := func(tx pgx.Tx) func(ctx context.Context, sql string, args ...any) error {
		return func(ctx context.Context, sql string, args ...any) error {
			_, err := tx.Exec(ctx, sql, args...)
			return err
		}
	}
	future := time.Now().Add(24 * time.Hour)
	compact := func(want int) {
		t.Helper()
		if n, err := db.CompactChanges(ctx, future); err != nil || n != want {
			t.Fatalf("CompactChanges = %d, %v; want %d", n, err, want)
		}
	}

	write(db.Exec, "x")
	open, err := conn().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(context.Background())
	write(txExec(open), "x") // later, not committed
	compact(0)

	// While open runs, a conflict is put and resolved: its first row is
	// superseded, its last (a tombstone) is not readable yet.
	k := &domain.SyncConflict{ID: "k", NodeID: "n", AppointmentID: "a", DoctorID: "d", PatientID: "p", Kind: domain.OpBook,
		Outcome: domain.OutcomeConflict, Reason: "taken", CreatedAt: time.Now().Add(-time.Hour)}
	if err := db.PutSyncConflict(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := db.ResolveSyncConflict(ctx, "k", "desk", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	compact(1)
	if _, err := db.Changes(ctx, "1.1", 10); err != nil {
		t.Fatalf("no horizon yet, a cursor is served: %v", err)
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Now x's first row is superseded, and once nothing older runs (other
	// work on the server may hold that back a moment) the tombstone goes.
	removed := 0
	for removed < 2 && ctx.Err() == nil {
		n, err := db.CompactChanges(ctx, future)
		if err != nil {
			t.Fatal(err)
		}
		removed += n
		time.Sleep(10 * time.Millisecond)
	}
	if removed != 2 {
		t.Fatalf("removed %d rows once open committed, want 2", removed)
	}
	compact(0)
	if _, err := db.Changes(ctx, "1.1", 10); !errors.Is(err, domain.ErrResync) {
		t.Fatalf("a cursor before the horizon: %v, want ErrResync", err)
	}
}
