package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

// A batch that PostgreSQL aborts as a deadlock victim is written again, once:
// here another transaction holds the version the batch replaces while the
// batch holds the file's row, and then asks for that row.
func TestIndexFilesRetriesWhenChosenAsDeadlockVictim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, url := migrated(ctx, t)
	src := &domain.KnowledgeSource{Kind: domain.SourceFolder, Path: "/srv/clinic/leaflets", Visibility: domain.VisibilityStaff, CreatedAt: time.Now()}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	version := func(id string, passages ...string) domain.IndexedFile {
		in := domain.IndexedFile{
			File:     domain.KnowledgeFile{SourceID: src.ID, Path: "hours.md", Size: 100, Hash: id, Status: domain.FileIndexed},
			Document: &domain.KnowledgeDocument{ID: id, Title: "Opening hours", Format: "markdown", Bytes: 100},
		}
		for i, p := range passages {
			in.Chunks = append(in.Chunks, domain.KnowledgeChunk{Ordinal: i, Headings: []string{"Hours"}, Text: p, Tokens: 4})
		}
		return in
	}
	old := version("v1", "Open weekdays from eight.")
	if err := db.IndexFiles(ctx, []domain.IndexedFile{old}); err != nil {
		t.Fatal(err)
	}
	next := version("v2", "Open weekdays from nine.", "Closed on public holidays.")

	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	// PostgreSQL aborts the transaction whose deadlock check runs first:
	// the batch's, as it waits first. A later check on this side (allowed
	// for a superuser) keeps a slow machine from reversing the order.
	other.Exec(ctx, `SET deadlock_timeout = '1min'`)
	otx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer otx.Rollback(context.Background())
	var otherPID int
	if err := otx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&otherPID); err != nil {
		t.Fatal(err)
	}
	if _, err := otx.Exec(ctx, `SELECT id FROM knowledge_documents WHERE id = $1 FOR UPDATE`, old.Document.ID); err != nil {
		t.Fatal(err)
	}

	indexed := make(chan error, 1)
	go func() { indexed <- db.IndexFiles(ctx, []domain.IndexedFile{next}) }()
	// The batch has written the file's row and waits to drop the old version.
	waitUntilBlockedBy(ctx, t, url, otherPID, indexed)

	if _, err := otx.Exec(ctx, `SELECT 1 FROM knowledge_files WHERE source_id = $1 AND path = $2 FOR UPDATE`, src.ID, "hours.md"); err != nil {
		t.Fatalf("the other transaction was aborted instead of the batch: %v", err)
	}
	// The batch held that row until now, so its attempt was rolled back.
	if err := otx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-indexed; err != nil {
		t.Fatalf("IndexFiles chosen as a deadlock victim: %v", err)
	}

	var docs, chunks, ownChunks, files, filesOnNext int
	if err := other.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM knowledge_documents),
			(SELECT count(*) FROM knowledge_chunks),
			(SELECT count(*) FROM knowledge_chunks WHERE document_id = $1),
			(SELECT count(*) FROM knowledge_files),
			(SELECT count(*) FROM knowledge_files WHERE document_id = $1)`, next.Document.ID).
		Scan(&docs, &chunks, &ownChunks, &files, &filesOnNext); err != nil {
		t.Fatal(err)
	}
	if docs != 1 || chunks != len(next.Chunks) || ownChunks != len(next.Chunks) || files != 1 || filesOnNext != 1 {
		t.Fatalf("after the retry: %d documents, %d passages (%d of the new version), %d files (%d on the new version); "+
			"want 1, %d (%[6]d), 1 (1)", docs, chunks, ownChunks, files, filesOnNext, len(next.Chunks))
	}
}

// waitUntilBlockedBy returns once some session waits for a lock held by the
// session pid; it fails the test if the batch ends first.
func waitUntilBlockedBy(ctx context.Context, t *testing.T, url string, pid int, indexed <-chan error) {
	t.Helper()
	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting bool
		if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)))`, pid).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		select {
		case err := <-indexed:
			t.Fatalf("IndexFiles ended (%v) without waiting for the other transaction", err)
		case <-ctx.Done():
			t.Fatal("IndexFiles never waited for the other transaction")
		case <-tick.C:
		}
	}
}
