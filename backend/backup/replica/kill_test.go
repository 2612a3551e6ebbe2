package replica_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/backup/replica"
)

// writerEnv makes this test binary the writer process of TestKilledWriter.
const writerEnv = "HEALTHHUB_REPLICA_TEST_WRITER"

const (
	writerCommits = 300
	partialRows   = 800 // 8 KiB each: more than SQLite's cache (2 MB), so they spill into the WAL
	partialRound  = 9
)

func TestMain(m *testing.M) {
	if arg := os.Getenv(writerEnv); arg != "" {
		path, dir, _ := strings.Cut(arg, string(os.PathListSeparator))
		if err := runWriter(path, dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runWriter commits rows one transaction each while replicating, prints
// each id once committed, then writes a large transaction it never
// commits, says so, and waits to be killed.
func runWriter(path, dir string) error {
	ctx := context.Background()
	pragmas := url.Values{"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"}}
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode()+"&_txlock=immediate")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, round INTEGER NOT NULL, body BLOB)`); err != nil {
		return err
	}
	rep, err := replica.Start(ctx, path, replica.Config{Dir: dir})
	if err != nil {
		return err
	}
	for i := 1; i <= writerCommits; i++ {
		if _, err := db.Exec(`INSERT INTO rows (id, round) VALUES (?, 1)`, i); err != nil {
			return err
		}
		fmt.Println("committed", i)
		if i == writerCommits/3 {
			// Some of it surely in the replica before the crash.
			if err := rep.Sync(ctx); err != nil {
				return err
			}
		}
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for j := range partialRows {
		if _, err := tx.Exec(`INSERT INTO rows (id, round, body) VALUES (?, ?, randomblob(8192))`, 100000+j, partialRound); err != nil {
			return err
		}
	}
	fmt.Println("in transaction")
	select {}
}

// TestKilledWriter: a process replicating its database is killed with
// SIGKILL in the middle of a large transaction. The replica restores a
// prefix of the committed rows and nothing of the transaction; once the
// database is opened again and replication restarted, the replica restores
// every committed row and still nothing of the transaction.
func TestKilledWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir()}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerEnv+"="+path+string(os.PathListSeparator)+cfg.Dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	committed := 0
	timeout := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the writer ended before its transaction: %s", stderr.String())
			}
			if l == "in transaction" {
				break wait
			}
			fmt.Sscanf(l, "committed %d", &committed)
		case <-timeout:
			t.Fatalf("the writer did not reach its transaction; %d committed", committed)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("the writer ended with %v; want killed by a signal", err)
	}
	if committed != writerCommits {
		t.Fatalf("the writer committed %d rows; want %d", committed, writerCommits)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() < partialRows*8192/2 {
		t.Fatalf("the WAL after the kill: %v, %v; want the uncommitted transaction's pages in it", fi, err)
	}

	// What the replica held at the crash: whole transactions only.
	out, _ := restore(t, cfg, time.Time{})
	ids, rounds := readRows(t, out)
	if rounds[partialRound] != 0 || len(ids) < writerCommits/3 || len(ids) > writerCommits {
		t.Fatalf("restore at the crash: %d rows by round %v; want a prefix of the %d committed and nothing uncommitted", len(ids), rounds, writerCommits)
	}
	wantIDs(t, "restore at the crash", ids, span(1, len(ids)))

	// The server starts again: the store opens the file, replication
	// picks up the commits the crash kept from the replica.
	openStore(t, path)
	rep := startReplicator(t, path, cfg)
	syncNow(t, rep)
	out, _ = restore(t, cfg, time.Time{})
	ids, rounds = readRows(t, out)
	if rounds[partialRound] != 0 {
		t.Fatalf("the restore holds %d rows of the transaction that never committed", rounds[partialRound])
	}
	wantIDs(t, "restore after the restart", ids, span(1, writerCommits))
}
