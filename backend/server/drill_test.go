package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"
)

// drillReport is the part of `healthhubd drill --json` the tests read.
type drillReport struct {
	Source       string           `json:"source"`
	Target       time.Time        `json:"target"`
	NewestCanary time.Time        `json:"newest_canary"`
	RPO          time.Duration    `json:"rpo_ns"`
	RTO          time.Duration    `json:"rto_ns"`
	Bytes        int64            `json:"database_bytes"`
	Rows         map[string]int64 `json:"rows"`
	Integrity    string           `json:"integrity"`
	AuditEvents  int64            `json:"audit_events"`
	Passed       bool             `json:"passed"`
	Failures     []string         `json:"failures"`
}

func runDrill(t *testing.T, vars map[string]string, args ...string) (drillReport, string, error) {
	t.Helper()
	out, err := run(t, vars, "", append([]string{"drill", "--json"}, args...)...)
	var rep drillReport
	if i := strings.Index(out, "{"); i >= 0 {
		if jerr := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); jerr != nil {
			t.Fatalf("drill printed no report (%v):\n%s", jerr, out)
		}
	}
	return rep, out, err
}

// canaries counts the backup canaries in a SQLite installation's database.
func canaries(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "healthhub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM backup_canary`).Scan(&n); err != nil {
		return 0 // not migrated yet
	}
	return n
}

// The snapshot line of a SQLite installation: a snapshot taken while the
// server runs is restored, checked and served by the drill, which prints
// the recovery point and time it measured, records itself, and fails when
// a target is not met.
func TestDrillFromSnapshotOnSQLite(t *testing.T) {
	vars := testEnv(t, "")
	out, err := run(t, vars, "", "backup", "keygen", "--out", filepath.Join(t.TempDir(), "id.txt"))
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	identity := regexp.MustCompile(`identity written to (\S+):`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_RECIPIENTS"] = regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_DIR"] = filepath.Join(t.TempDir(), "nas")
	vars["HEALTHHUB_BACKUP_EVERY"], vars["HEALTHHUB_CANARY_EVERY"] = "0", "50ms"
	base, srv := startServe(t, vars, "running at")
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", "desk@clinic.example", "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	httpLogin(t, base, "desk@clinic.example")
	eventually(t, "the server writes canaries", func() bool { return canaries(t, vars["HEALTHHUB_DATA_DIR"]) >= 2 })
	if out, err := run(t, vars, "", "backup", "now"); err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}

	// Without the identity there is nothing to drill from, and it says so.
	if _, out, err := runDrill(t, vars, "--ago", "0s"); exitCode(err) != 2 || !strings.Contains(errString(err), "--identity") {
		t.Fatalf("drill without identity: %d %v\n%s", exitCode(err), err, out)
	}

	rep, out, err := runDrill(t, vars, "--ago", "0s", "--identity", identity)
	if err != nil || !rep.Passed {
		t.Fatalf("drill: %v\n%s", err, out)
	}
	t.Logf("drill on SQLite from a snapshot: RPO %s, RTO %s, database %d bytes, %d audit events",
		rep.RPO.Round(time.Millisecond), rep.RTO.Round(time.Millisecond), rep.Bytes, rep.AuditEvents)
	if rep.Integrity != "ok" || rep.Rows["users"] != 1 || rep.AuditEvents == 0 || rep.NewestCanary.IsZero() || rep.NewestCanary.After(rep.Target) {
		t.Fatalf("drill report: %+v", rep)
	}
	if rep.RPO <= 0 || rep.RTO <= 0 {
		t.Fatalf("drill measured RPO %s and RTO %s", rep.RPO, rep.RTO)
	}

	// The same drill against a recovery point objective it cannot meet fails.
	rep, out, err = runDrill(t, vars, "--ago", "0s", "--identity", identity, "--rpo", "1ns")
	if exitCode(err) != 1 || rep.Passed || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0], "recovery point") {
		t.Fatalf("drill with an unmeetable RPO: %d %v\n%s", exitCode(err), err, out)
	}
	// A target before the oldest snapshot is refused, never drilled on another.
	if _, out, err := runDrill(t, vars, "--at", "2020-01-01T00:00:00Z", "--identity", identity); err == nil || !strings.Contains(errString(err), "2020") {
		t.Fatalf("drill before the oldest snapshot: %v\n%s", err, out)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	// Both drills are in the audit log, the failed one as a failure.
	out, err = run(t, vars, "", "audit", "export")
	if err != nil {
		t.Fatal(err)
	}
	var drills, failed int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"urn:healthhub:backup","value":"drill"`) {
			drills++
			if strings.Contains(line, `"outcomeDesc":"failure"`) {
				failed++
			}
		}
	}
	if drills != 2 || failed != 1 {
		t.Fatalf("audit export holds %d drill events (%d failed), want 2 (1 failed):\n%s", drills, failed, out)
	}
}

// The first line of a SQLite installation: the drill restores the database
// from the continuous replica to a time a moment ago, with the keyring from
// the snapshot, and measures a recovery point of the canary interval.
func TestDrillFromReplicaOnSQLite(t *testing.T) {
	vars := testEnv(t, "")
	out, err := run(t, vars, "", "backup", "keygen", "--out", filepath.Join(t.TempDir(), "id.txt"))
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	identity := regexp.MustCompile(`identity written to (\S+):`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_RECIPIENTS"] = regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_DIR"] = filepath.Join(t.TempDir(), "nas")
	vars["HEALTHHUB_REPLICA_DIR"] = filepath.Join(t.TempDir(), "second-disk")
	vars["HEALTHHUB_BACKUP_EVERY"], vars["HEALTHHUB_CANARY_EVERY"] = "0", "50ms"
	if err := os.MkdirAll(vars["HEALTHHUB_REPLICA_DIR"], 0o700); err != nil {
		t.Fatal(err)
	}
	base, srv := startServe(t, vars, "running at")
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", "desk@clinic.example", "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if out, err := run(t, vars, "", "backup", "now"); err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}
	httpLogin(t, base, "desk@clinic.example")
	eventually(t, "replication under way", func() bool {
		v, ok := metric(t, base, "healthhub_backup_last_replication_timestamp_seconds")
		return ok && v > 0
	})
	target := time.Now()
	eventually(t, "the replica holds every commit up to the target", func() bool {
		v, ok := metric(t, base, "healthhub_backup_last_replication_timestamp_seconds")
		return ok && v > float64(target.Unix()+1)
	})

	rep, out, err := runDrill(t, vars, "--at", target.UTC().Format(time.RFC3339Nano), "--identity", identity)
	if err != nil || !rep.Passed {
		t.Fatalf("drill: %v\n%s", err, out)
	}
	t.Logf("drill on SQLite from the Litestream replica: RPO %s, RTO %s, database %d bytes, %d audit events",
		rep.RPO.Round(time.Millisecond), rep.RTO.Round(time.Millisecond), rep.Bytes, rep.AuditEvents)
	if !strings.HasPrefix(rep.Source, "replica") || rep.Integrity != "ok" || rep.Rows["users"] != 1 || rep.RPO > 5*time.Second {
		t.Fatalf("drill report: %+v", rep)
	}
	// A time past what the replica holds is refused, not drilled on latest.
	if _, out, err := runDrill(t, vars, "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--identity", identity); err == nil {
		t.Fatalf("drill an hour ahead: passed\n%s", out)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// The drill of a PostgreSQL installation backed up with pgBackRest, on a
// cluster of the test's own: a full backup, WAL archived every second, and
// the drill restores to a moment ago on a private socket and serves it.
func TestDrillFromPgBackRestOnPostgreSQL(t *testing.T) {
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	vars := testEnv(t, pg.URL())
	maps.Copy(vars, pgBackRestEnv(t, pg, "the PostgreSQL drill"))
	vars["HEALTHHUB_PGBACKREST_ARCHIVE_TIMEOUT"], vars["HEALTHHUB_CANARY_EVERY"] = "1s", "50ms"
	if out, err := run(t, vars, "", "backup", "setup"); exitCode(err) != 1 || !strings.Contains(errString(err), "archive_mode") {
		t.Fatalf("setup before the restart: %d %v\n%s", exitCode(err), err, out)
	}
	pg.Stop()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, vars, "", "backup", "setup"); err != nil {
		t.Fatalf("setup after the restart: %v\n%s", err, out)
	}
	base, srv := startServe(t, vars, "running at")
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", "desk@clinic.example", "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if out, err := run(t, vars, "", "backup", "now", "--type", "full"); err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}
	backedUp := time.Now()
	httpLogin(t, base, "desk@clinic.example")
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// pgBackRest restores to a time at least a second past a backup's
	// (whole-second) stop time, which is before the command returned.
	var target time.Time
	eventually(t, "a second past the backup", func() bool {
		if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&target); err != nil {
			t.Fatal(err)
		}
		return target.After(backedUp.Add(1100 * time.Millisecond))
	})
	eventually(t, "WAL past the target archived", func() bool {
		var last *time.Time
		if err := conn.QueryRow(ctx, "SELECT last_archived_time FROM pg_stat_archiver").Scan(&last); err != nil {
			t.Fatal(err)
		}
		return last != nil && last.After(target.Add(2*time.Second))
	})

	rep, out, err := runDrill(t, vars, "--at", target.UTC().Format(time.RFC3339Nano))
	if err != nil || !rep.Passed {
		t.Fatalf("drill: %v\n%s", err, out)
	}
	t.Logf("drill on PostgreSQL from pgBackRest: RPO %s, RTO %s, database %d bytes, %d audit events",
		rep.RPO.Round(time.Millisecond), rep.RTO.Round(time.Millisecond), rep.Bytes, rep.AuditEvents)
	if !strings.HasPrefix(rep.Source, "pgBackRest") || rep.Integrity != "ok" || rep.Rows["users"] != 1 || rep.RPO > 5*time.Second {
		t.Fatalf("drill report: %+v", rep)
	}
	// The admin home sees pgBackRest, the archive and the drill.
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// pgBackRestEnv is the pgBackRest settings of a cluster of the test's own,
// with a repository and a passphrase file of its own. A test that needs
// pgBackRest fails in CI without it and is skipped, saying so, elsewhere.
func pgBackRestEnv(t *testing.T, pg *privatePostgres, what string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		msg := "pgbackrest is not installed (apt-get install -y pgbackrest): " + what + " DID NOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	passFile := filepath.Join(t.TempDir(), "pgbackrest.pass")
	if err := os.WriteFile(passFile, []byte("a repository passphrase for the test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"HEALTHHUB_PGBACKREST_CONFIG":           filepath.Join(pg.baseDir, "pgbackrest.conf"),
		"HEALTHHUB_PGBACKREST_REPO_PATH":        filepath.Join(pg.baseDir, "repo"),
		"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": passFile,
		"HEALTHHUB_PGBACKREST_PGDATA":           pg.dataDir,
		"HEALTHHUB_PGBACKREST_PGSOCKET":         pg.baseDir,
		"HEALTHHUB_PGBACKREST_PGBIN":            pg.binDir,
		"HEALTHHUB_PGBACKREST_LOG_PATH":         filepath.Join(pg.baseDir, "pgbackrest-log"),
		"HEALTHHUB_PGBACKREST_LOCK_PATH":        filepath.Join(pg.baseDir, "pgbackrest-lock"),
	}
}
