package pgbackrest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/backup/pgbackrest"
	"github.com/jackc/pgx/v5"
)

// cluster is a PostgreSQL cluster of the test's own: its data folder,
// socket, port and pgBackRest repository in one temporary folder.
type cluster struct {
	t       *testing.T
	bin     string
	base    string
	data    string
	logFile string
	port    int
	asUser  string // runuser -u asUser when the test runs as root
	uid     int
	gid     int
}

// needPgBackRest skips the test when pgbackrest is not installed, saying so
// loudly, and fails it in CI, where it must be.
func needPgBackRest(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		msg := "pgbackrest is not installed (apt-get install -y pgbackrest): the pgBackRest backup and point-in-time restore tests DID NOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(strings.Repeat("!", 72))
		t.Skip("SKIPPED: " + msg)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newCluster creates and starts a cluster; it is stopped when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	bin, err := pgbackrest.FindPostgresBin()
	if err != nil {
		t.Fatalf("PostgreSQL programs are needed for this test: %v", err)
	}
	c := &cluster{t: t, bin: bin, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user to run PostgreSQL as: %v", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		c.asUser = "postgres"
	}
	// Not t.TempDir: its parent is private to the test's user.
	if c.base, err = os.MkdirTemp("", "healthhub-pgbackrest-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(c.base) })
	c.chown(c.base)
	c.data = filepath.Join(c.base, "data")
	c.logFile = filepath.Join(c.base, "postgres.log")
	c.port = freePort(t)
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = ''\nport = %d\nunix_socket_directories = '%s'\nmax_connections = 20\nshared_buffers = 16MB\nfsync = off\n",
		c.port, c.base)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.start()
	t.Cleanup(func() {
		c.run(filepath.Join(bin, "pg_ctl"), "stop", "-D", c.data, "-m", "immediate", "-w")
	})
	return c
}

func (c *cluster) chown(path string) {
	if c.uid >= 0 {
		if err := os.Chown(path, c.uid, c.gid); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Dir = c.base
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) start() {
	c.t.Helper()
	if out, err := c.run(filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.data, "-l", c.logFile, "-w", "-t", "120"); err != nil {
		log, _ := os.ReadFile(c.logFile)
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (c *cluster) restart() {
	c.t.Helper()
	if out, err := c.run(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data, "-m", "fast", "-w", "-t", "120"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	c.start()
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", c.base, c.port)
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func rows(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	r, err := conn.Query(context.Background(), "SELECT name FROM visits ORDER BY id")
	if err != nil {
		t.Fatalf("read visits: %v", err)
	}
	names, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read visits: %v", err)
	}
	return names
}

// serverNow is the cluster's clock, read after everything before it
// committed.
func serverNow(t *testing.T, conn *pgx.Conn) time.Time {
	t.Helper()
	var now time.Time
	if err := conn.QueryRow(context.Background(), "SELECT clock_timestamp()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

func newRepo(t *testing.T, c *cluster) *pgbackrest.Repo {
	t.Helper()
	repo, err := pgbackrest.New(pgbackrest.Config{
		Stanza:      "healthhub",
		ConfigFile:  filepath.Join(c.base, "pgbackrest.conf"),
		RepoPath:    filepath.Join(c.base, "repo"),
		CipherPass:  "a test passphrase that is long enough",
		PGData:      c.data,
		PGPort:      c.port,
		PGSocketDir: c.base,
		PGBinDir:    c.bin,
		LogPath:     filepath.Join(c.base, "pgbackrest-log"),
		LockPath:    filepath.Join(c.base, "pgbackrest-lock"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestBackupAndRestoreToTime backs a cluster up, writes, makes a
// destructive change, and restores to the moment before it: exactly the
// rows written before the target come back. Targets before the oldest
// backup and past the end of the archive are refused before anything is
// written.
func TestBackupAndRestoreToTime(t *testing.T) {
	needPgBackRest(t)
	c := newCluster(t)
	repo := newRepo(t, c)
	ctx := context.Background()

	res, err := repo.Setup(ctx)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if res.StanzaReady || len(res.RestartNeeded) == 0 {
		t.Fatalf("setup on a cluster without archive_mode: got %+v, want a restart asked for", res)
	}
	c.restart()
	if res, err = repo.Setup(ctx); err != nil || !res.StanzaReady {
		t.Fatalf("setup after the restart: %+v, %v; PostgreSQL log:\n%s", res, err, readFile(c.logFile))
	}
	conf, err := os.ReadFile(filepath.Join(c.base, "pgbackrest.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(c.base, "pgbackrest.conf")); fi.Mode().Perm() != 0o600 || !bytes.Contains(conf, []byte("repo1-cipher-type=aes-256-cbc")) {
		t.Fatalf("pgbackrest.conf: mode %v, want 0600 with the cipher type:\n%s", fi.Mode().Perm(), conf)
	}

	if _, err := repo.Restore(ctx, pgbackrest.RestoreOptions{DataDir: filepath.Join(c.base, "none")}); !errors.Is(err, pgbackrest.ErrNoBackup) {
		t.Fatalf("restore before any backup: got %v, want ErrNoBackup", err)
	}

	conn := connect(t, c.url())
	exec1(t, conn, "CREATE TABLE visits (id int PRIMARY KEY, name text NOT NULL)")
	exec1(t, conn, "INSERT INTO visits VALUES (1, 'first'), (2, 'second'), (3, 'third')")

	began := time.Now()
	full, err := repo.Backup(ctx, pgbackrest.Full)
	if err != nil {
		t.Fatalf("full backup: %v", err)
	}
	t.Logf("full backup %s took %s", full.Label, time.Since(began).Round(time.Millisecond))
	if full.Type != "full" || full.Stop.Before(full.Start) {
		t.Fatalf("full backup: got %+v", full)
	}

	// Writes after the backup, in their own transactions, then the target.
	exec1(t, conn, "INSERT INTO visits VALUES (4, 'fourth')")
	exec1(t, conn, "INSERT INTO visits VALUES (5, 'fifth')")
	// The target must be a second past the backup's stop for the restore to
	// be allowed; the server clock, not the test's, decides commit times.
	for !serverNow(t, conn).After(full.Stop.Add(time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	target := serverNow(t, conn)
	exec1(t, conn, "DELETE FROM visits WHERE id <> 1")
	exec1(t, conn, "INSERT INTO visits VALUES (6, 'after the mistake')")
	if err := repo.Check(ctx); err != nil {
		t.Fatalf("check (archive the current WAL): %v", err)
	}

	began = time.Now()
	incr, err := repo.Backup(ctx, pgbackrest.Incr)
	if err != nil {
		t.Fatalf("incremental backup: %v", err)
	}
	t.Logf("incremental backup %s took %s", incr.Label, time.Since(began).Round(time.Millisecond))
	if incr.Type != "incr" || incr.Prior != full.Label {
		t.Fatalf("incremental backup: got %+v, want incr after %s", incr, full.Label)
	}
	info, err := repo.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Backups) != 2 || info.Cipher != "aes-256-cbc" || info.Status.Code != 0 {
		t.Fatalf("info: got %+v", info)
	}
	arch, ok := info.Archive()
	if !ok || arch.Max < full.WALStop {
		t.Fatalf("info archive: got %+v, want up to at least %s", info.Archives, full.WALStop)
	}

	// Refused targets write nothing.
	t.Run("before the oldest backup", func(t *testing.T) {
		into := filepath.Join(c.base, "early")
		_, err := repo.Restore(ctx, pgbackrest.RestoreOptions{Target: full.Start.Add(-time.Minute), DataDir: into})
		var te *pgbackrest.TargetError
		if !errors.Is(err, pgbackrest.ErrBeforeOldestBackup) || !errors.As(err, &te) || !te.Earliest.After(full.Stop) {
			t.Fatalf("got %v, want ErrBeforeOldestBackup with the earliest time after %s", err, full.Stop)
		}
		if _, err := os.Stat(into); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused restore made %s", into)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("past the end of the archive", func(t *testing.T) {
		into := filepath.Join(c.base, "late")
		// Everything so far is archived; nothing commits after this time.
		late := serverNow(t, conn)
		_, err := repo.Restore(ctx, pgbackrest.RestoreOptions{Target: late, DataDir: into})
		var te *pgbackrest.TargetError
		if !errors.Is(err, pgbackrest.ErrPastArchiveEnd) || !errors.As(err, &te) || !te.Latest.Before(late) || !te.Latest.After(target) {
			t.Fatalf("got %v, want ErrPastArchiveEnd with the archive's end between the target and now", err)
		}
		if _, err := os.Stat(into); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused restore made %s", into)
		}
		t.Logf("refused: %v", err)
	})
	// What the checks prevent, shown by restoring without them: PostgreSQL
	// 13 and later end a recovery that runs out of WAL before its target
	// with an error (older versions promoted there as if it were the
	// target), and pgBackRest 2.37 and later refuse a time before every
	// backup (older versions restored the newest backup instead).
	t.Run("unchecked past the end of the archive", func(t *testing.T) {
		_, err := repo.RestoreUncheckedAndStart(ctx, pgbackrest.RestoreOptions{Target: serverNow(t, conn), DataDir: filepath.Join(c.base, "late-unchecked")},
			freePort(t), c.base)
		if !errors.Is(err, pgbackrest.ErrTargetNotReached) || !strings.Contains(err.Error(), "recovery ended before configured recovery target was reached") {
			t.Fatalf("got %v, want PostgreSQL's failure to reach the target", err)
		}
		t.Logf("without the check: %v", err)
	})
	t.Run("unchecked before the oldest backup", func(t *testing.T) {
		_, err := repo.RestoreUncheckedAndStart(ctx, pgbackrest.RestoreOptions{Target: full.Start.Add(-time.Minute), DataDir: filepath.Join(c.base, "early-unchecked")},
			freePort(t), c.base)
		if err == nil || !strings.Contains(err.Error(), "unable to find backup set with stop time less than") {
			t.Fatalf("got %v, want pgBackRest's refusal", err)
		}
		t.Logf("without the check: %v", err)
	})
	t.Run("into a folder that is not empty", func(t *testing.T) {
		into := filepath.Join(c.base, "busy")
		if err := os.MkdirAll(into, 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(into, "keep.txt"), []byte("mine"), 0o600)
		if _, err := repo.Restore(ctx, pgbackrest.RestoreOptions{Target: target, DataDir: into}); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("got %v, want a refusal of a folder that is not empty", err)
		}
		if b, _ := os.ReadFile(filepath.Join(into, "keep.txt")); string(b) != "mine" {
			t.Fatal("the refused restore touched the folder's file")
		}
	})

	// The restore by time: from the full backup (the incremental one
	// finished after the target), rows 1-5 and nothing after.
	into := filepath.Join(c.base, "restored")
	began = time.Now()
	rc, err := repo.RestoreAndVerify(ctx, pgbackrest.RestoreOptions{Target: target, DataDir: into}, freePort(t), c.base)
	if err != nil {
		t.Fatalf("restore to %s: %v", target.Format(time.RFC3339Nano), err)
	}
	t.Cleanup(func() { rc.Stop() })
	t.Logf("restore to %s and recovery took %s (pgbackrest restore %s); %s; last replayed transaction %s",
		target.Format(time.RFC3339Nano), time.Since(began).Round(time.Millisecond), rc.Took.Round(time.Millisecond), rc.StoppedAt, rc.ReplayedTo.Format(time.RFC3339Nano))
	if rc.Backup.Label != full.Label {
		t.Errorf("restored from %s, want the full backup %s", rc.Backup.Label, full.Label)
	}
	if rc.ReplayedTo.After(target) || rc.ReplayedTo.IsZero() || rc.StoppedAt == "" {
		t.Errorf("recovery: replayed to %s, stopped %q; want a stop before the target %s", rc.ReplayedTo, rc.StoppedAt, target)
	}
	restored := connect(t, rc.URL)
	if got, want := strings.Join(rows(t, restored), ","), "first,second,third,fourth,fifth"; got != want {
		t.Fatalf("restored rows: got %s, want %s", got, want)
	}
	// Promoted, so it takes writes.
	exec1(t, restored, "INSERT INTO visits VALUES (7, 'after the restore')")
	if err := rc.Stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rows(t, conn), ","), "first,after the mistake"; got != want {
		t.Fatalf("the original cluster changed: got %s, want %s", got, want)
	}

	// A target after the incremental backup restores from it.
	exec1(t, conn, "INSERT INTO visits VALUES (7, 'seventh')")
	for !serverNow(t, conn).After(incr.Stop.Add(time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	target2 := serverNow(t, conn)
	exec1(t, conn, "INSERT INTO visits VALUES (8, 'eighth')")
	if err := repo.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	rc2, err := repo.RestoreAndVerify(ctx, pgbackrest.RestoreOptions{Target: target2, DataDir: filepath.Join(c.base, "restored2")}, freePort(t), c.base)
	if err != nil {
		t.Fatalf("restore to %s: %v", target2.Format(time.RFC3339Nano), err)
	}
	t.Cleanup(func() { rc2.Stop() })
	if rc2.Backup.Label != incr.Label {
		t.Errorf("restored from %s, want the incremental backup %s", rc2.Backup.Label, incr.Label)
	}
	if got, want := strings.Join(rows(t, connect(t, rc2.URL)), ","), "first,after the mistake,seventh"; got != want {
		t.Fatalf("rows restored from the incremental backup: got %s, want %s", got, want)
	}
	if err := rc2.Stop(); err != nil {
		t.Fatal(err)
	}

	// Latest: everything archived, the destructive change included.
	latest := filepath.Join(c.base, "latest")
	began = time.Now()
	url, stop, err := repo.RestoreAndStart(ctx, pgbackrest.RestoreOptions{DataDir: latest}, freePort(t), c.base)
	if err != nil {
		t.Fatalf("restore latest: %v", err)
	}
	t.Logf("restore latest and recovery took %s", time.Since(began).Round(time.Millisecond))
	defer stop()
	if got, want := strings.Join(rows(t, connect(t, url)), ","), "first,after the mistake,seventh,eighth"; got != want {
		t.Fatalf("latest restore rows: got %s, want %s", got, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
