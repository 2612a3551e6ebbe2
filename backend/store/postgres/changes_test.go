package postgres_test

import (
	"context"
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
