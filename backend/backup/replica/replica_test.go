package replica_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/backup/replica"
)

// TestPointInTimeRestore: rows written in rounds, the replica brought up to
// date after each; a restore to a time between two rounds holds exactly the
// rows committed by then, and says which point it restored.
func TestPointInTimeRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir()}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)

	const rounds, perRound = 4, 25
	var marks []time.Time // marks[i]: after round i+1 reached the replica
	for r := 1; r <= rounds; r++ {
		insertRound(t, db, r, (r-1)*perRound+1, perRound)
		syncNow(t, rep)
		mark := time.Now()
		marks = append(marks, mark)
		nextMillisecond(mark)
	}
	st := rep.Status()
	if st.Lag != 0 || st.LastError != "" || st.TXID != st.LocalTXID || st.LastReplicated.IsZero() {
		t.Fatalf("status after a sync: %+v; want caught up, no error", st)
	}

	// The last mark is after the newest point the replica holds (nothing
	// was written since): the newest point itself stands for it.
	w, err := replica.Bounds(context.Background(), replica.RestoreOptions{Config: cfg})
	if err != nil || !w.Newest.Before(marks[rounds-1]) || !w.Newest.After(marks[rounds-2]) {
		t.Fatalf("window %+v, %v; want it to end between the last two marks", w, err)
	}
	marks[rounds-1] = w.Newest
	for i, mark := range marks {
		out, res := restore(t, cfg, mark)
		ids, _ := readRows(t, out)
		wantIDs(t, "restore to the end of round "+string(rune('1'+i)), ids, span(1, (i+1)*perRound))
		if res.RestoredAt.After(mark) || (i > 0 && !res.RestoredAt.After(marks[i-1])) {
			t.Errorf("restore to %v says it restored %v; want a time after the previous round and not after the target", mark, res.RestoredAt)
		}
	}
	out, res := restore(t, cfg, time.Time{})
	ids, _ := readRows(t, out)
	wantIDs(t, "restore to the latest", ids, span(1, rounds*perRound))
	if res.TXID != st.TXID {
		t.Errorf("the latest restore reached transaction %d; the replica holds %d", res.TXID, st.TXID)
	}

	// Outside the window: refused with the window named, nothing written.
	for _, c := range []struct {
		name   string
		target time.Time
		err    error
	}{
		{"before the oldest", res.Window.Oldest.Add(-time.Minute), replica.ErrBeforeOldest},
		{"after the newest", time.Now().Add(time.Hour), replica.ErrAfterNewest},
	} {
		out := filepath.Join(t.TempDir(), "restored.db")
		_, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, Target: c.target, OutputPath: out})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), res.Window.Oldest.UTC().Format(time.RFC3339Nano)) {
			t.Errorf("restore %s: %v; want %v naming the window", c.name, err, c.err)
		}
		if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("a refused restore %s left %s", c.name, out)
		}
	}
	// Never over an existing file.
	if _, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, OutputPath: path}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a restore over the live database: %v; want it refused", err)
	}
}

// TestCheckpointWhileStopped: replication stopped, rows written and the WAL
// checkpointed and truncated by HealthHub's connection (as a command that
// closes the store does), more rows written, replication started again:
// the replica still restores every row (Litestream #752).
func TestCheckpointWhileStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir()}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)
	insertRound(t, db, 1, 1, 50)
	syncNow(t, rep)
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	insertRound(t, db, 2, 51, 50)
	if err := db.Exec(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("the WAL after a TRUNCATE checkpoint: %v, %v; want it empty", fi, err)
	}
	insertRound(t, db, 3, 101, 50)
	// And once more through a close, which checkpoints too.
	db.Close()
	db = openStore(t, path)
	insertRound(t, db, 4, 151, 50)

	rep = startReplicator(t, path, cfg)
	syncNow(t, rep)
	out, _ := restore(t, cfg, time.Time{})
	ids, _ := readRows(t, out)
	wantIDs(t, "restore after a checkpoint while stopped", ids, span(1, 200))

	insertRound(t, db, 5, 201, 10)
	syncNow(t, rep)
	out, _ = restore(t, cfg, time.Time{})
	ids, _ = readRows(t, out)
	wantIDs(t, "restore of rows written after the restart", ids, span(1, 210))
}

// TestRestoreThenReplicateAgain: restore to an earlier point, write on the
// restored database with replication to the same replica, restore again:
// the new writes are there, the discarded ones are not (Litestream #781).
func TestRestoreThenReplicateAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir()}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)
	insertRound(t, db, 1, 1, 40)
	syncNow(t, rep)
	mark := time.Now()
	nextMillisecond(mark)
	insertRound(t, db, 2, 41, 40) // to be discarded
	syncNow(t, rep)
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	back := filepath.Join(t.TempDir(), "healthhub.db")
	res, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, Target: mark, OutputPath: back})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := readRows(t, back)
	wantIDs(t, "the restore to before round 2", ids, span(1, 40))

	db2 := openStore(t, back)
	rep2 := startReplicator(t, back, cfg)
	insertRound(t, db2, 3, 1001, 30)
	syncNow(t, rep2)
	out, res2 := restore(t, cfg, time.Time{})
	ids, rounds := readRows(t, out)
	if len(ids) != 70 || rounds[1] != 40 || rounds[2] != 0 || rounds[3] != 30 {
		t.Fatalf("restore after writing on the restored database: %d rows by round %v; want round 1 and round 3 only", len(ids), rounds)
	}
	if res2.TXID <= res.TXID {
		t.Errorf("the second restore reached transaction %d, not past the first's %d", res2.TXID, res.TXID)
	}

	// And it goes on: more rows, another restore.
	insertRound(t, db2, 4, 2001, 5)
	syncNow(t, rep2)
	out, _ = restore(t, cfg, time.Time{})
	_, rounds = readRows(t, out)
	if rounds[3] != 30 || rounds[4] != 5 || rounds[2] != 0 {
		t.Fatalf("a later restore holds rounds %v", rounds)
	}
}

// TestStartRefusesAMissingFolder: a replica folder that is not there (a
// disk not mounted) is not made on this disk.
func TestStartRefusesAMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	openStore(t, path)
	missing := filepath.Join(t.TempDir(), "usb", "healthhub")
	_, err := replica.Start(context.Background(), path, replica.Config{Dir: missing})
	if err == nil || !strings.Contains(err.Error(), "mount") {
		t.Fatalf("start with a missing folder: %v; want an error that says to create or mount it", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing folder was created")
	}
	if _, err := replica.Start(context.Background(), path, replica.Config{}); !errors.Is(err, replica.ErrNotConfigured) {
		t.Fatalf("start with no replica: %v", err)
	}
}

// TestStoreCloseWhileReplicating: another process's store closing (a
// healthhubd command while the server replicates) does not wait for the
// replication's read transaction, holding the write lock meanwhile: it
// returns at once and the server's writes go on. A store closing alone
// still truncates the WAL.
func TestStoreCloseWhileReplicating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	db := openStore(t, path)
	rep := startReplicator(t, path, replica.Config{Dir: t.TempDir()})
	insertRound(t, db, 1, 1, 10)
	syncNow(t, rep)

	other := openStore(t, path)
	insertRound(t, other, 2, 11, 10)
	wrote := make(chan error, 1)
	start := time.Now()
	go func() { wrote <- db.Exec(context.Background(), `INSERT INTO rows (id, round) VALUES (21, 3)`) }()
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	// The busy timeout is 10 s; a close that waited for the replication's
	// reader would take all of it.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("closing a second store took %v", took)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	syncNow(t, rep)
	out, _ := restore(t, replica.Config{Dir: rep.Status().Targets[0][len("file:"):]}, time.Time{})
	ids, _ := readRows(t, out)
	wantIDs(t, "restore", ids, span(1, 21))

	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("the WAL after the last close holds %d bytes; want it truncated", fi.Size())
	}
}

// TestCloseRightAfterStart: replication closed before its first tick (a
// server stopped within a second of starting) still sends what was
// committed.
func TestCloseRightAfterStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir()}
	db := openStore(t, path)
	rep, err := replica.Start(context.Background(), path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	insertRound(t, db, 1, 1, 5)
	if err := rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ := restore(t, cfg, time.Time{})
	ids, _ := readRows(t, out)
	wantIDs(t, "restore after a close right after the start", ids, span(1, 5))
}
