package server_test

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/store"
	_ "modernc.org/sqlite"
)

// knowledgeConsistent checks, in the SQLite file, that every stored
// document has all its chunks and that the full-text index matches them.
func knowledgeConsistent(t *testing.T, path string) (files int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var partial int
	if err := db.QueryRow(`SELECT COUNT(*) FROM knowledge_documents d
		WHERE d.chunks != (SELECT COUNT(*) FROM knowledge_chunks c WHERE c.document_id = d.id)`).Scan(&partial); err != nil {
		t.Fatal(err)
	}
	if partial != 0 {
		t.Fatalf("%d documents are stored with only part of their chunks", partial)
	}
	if _, err := db.Exec(`INSERT INTO knowledge_fts (knowledge_fts) VALUES ('integrity-check')`); err != nil {
		t.Fatalf("full-text index does not match the chunks: %v", err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM knowledge_files WHERE status = 'indexed'`).Scan(&files); err != nil {
		t.Fatal(err)
	}
	return files
}

// storedFiles counts the files stored so far in the SQLite file of a running
// process (0 while it cannot be read yet).
func storedFiles(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(1000)")
	if err != nil {
		return 0
	}
	defer db.Close()
	n := 0
	if db.QueryRow(`SELECT COUNT(*) FROM knowledge_files`).Scan(&n) != nil {
		return 0
	}
	return n
}

// TestIngestKilledMidway: `healthhubd ingest` killed with SIGKILL in the
// middle leaves no partial document, and the next run completes the work
// without redoing what was finished.
func TestIngestKilledMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests 800 files in a child process (a minute and more under the race detector); make test runs it")
	}
	vars := testEnv(t, "")
	dir := t.TempDir()
	const n = 800
	for i := range n {
		var b strings.Builder
		fmt.Fprintf(&b, "# Leaflet %d\n\n", i)
		for p := range 6 {
			fmt.Fprintf(&b, "## Part %d\n\nParagraph %d of leaflet %d about topic%d, with enough words to fill a passage of its own. ", p, p, i, i)
			b.WriteString(strings.Repeat("Clinic advice text continues here. ", 8) + "\n\n")
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.md", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "HEALTHHUB_TEST_CHILD_ARGS=ingest "+dir)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Kill it once the first batch (256 files) is stored, well before the end.
	dbPath := filepath.Join(vars["HEALTHHUB_DATA_DIR"], store.SQLiteFile)
	for deadline := time.Now().Add(60 * time.Second); storedFiles(dbPath) < 256; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ingestion did not get going: %q", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	before := knowledgeConsistent(t, dbPath)
	if before == 0 || before >= n {
		t.Fatalf("killed after %d of %d files; the test wants it killed midway", before, n)
	}

	res, err := run(t, vars, "", "ingest", dir)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, res)
	}
	want := fmt.Sprintf("%d indexed, %d unchanged, 0 removed, 0 failed", n-before, before)
	if !strings.Contains(res, want) {
		t.Fatalf("second run printed %q, want %q", res, want)
	}
	if after := knowledgeConsistent(t, dbPath); after != n {
		t.Fatalf("%d files indexed after the second run, want %d", after, n)
	}
}
