package server_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/backup/aurora/auroratest"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/jackc/pgx/v5"
)

// TestPostgresBackupCommands runs the pgBackRest commands of a PostgreSQL
// installation against a cluster of the test's own: setup (which asks for
// the restart archive_mode needs), a full backup recorded in the audit
// log, list, status within and past the RPO, and a restore to a time that
// comes back with exactly the rows committed before it, recorded in the
// restored database's audit log; a time before the oldest backup is
// refused with exit status 2.
func TestPostgresBackupCommands(t *testing.T) {
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	env := pgBackRestEnv(t, pg, "the PostgreSQL backup command tests")
	getenv := func(k string) string { return env[k] }
	dataDir := t.TempDir()
	cfg := server.Config{DatabaseURL: pg.URL(), DataDir: dataDir, KeyringFile: filepath.Join(dataDir, "keyring.json"),
		Argon2Memory: 64, IdleTimeout: 15 * time.Minute, LogFormat: "text", LogLevel: "error"}
	backup := func(sub string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := server.RunPostgresBackup(ctx, cfg, sub, args, getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	restore := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := server.RunPostgresRestore(ctx, cfg, args, getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	exitCode := func(err error) int {
		var ee *server.ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return -1
	}

	out, err := backup("setup")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "archive_mode") {
		t.Fatalf("setup before the restart: got %v\n%s", err, out)
	}
	pg.Stop()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := backup("setup"); err != nil || !strings.Contains(out, "archiving      on") {
		t.Fatalf("setup after the restart: %v\n%s", err, out)
	}
	if out, err := backup("status"); exitCode(err) != 1 || !strings.Contains(out, "no backup yet") {
		t.Fatalf("status without a backup: got %v\n%s", err, out)
	}

	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE clinic_notes (id int PRIMARY KEY, body text NOT NULL); INSERT INTO clinic_notes VALUES (1, 'kept')"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	out, err = backup("now", "--type", "full")
	if err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}
	t.Logf("backup now --type full took %s:\n%s", time.Since(began).Round(time.Millisecond), out)
	label := strings.Fields(strings.TrimPrefix(out, "backup"))[0]
	var events int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE resource_type = 'backup' AND resource_id = $1 AND action = 'export'", label).Scan(&events); err != nil || events != 1 {
		t.Fatalf("audit events for backup %s: %d, %v", label, events, err)
	}
	if out, err := backup("list"); err != nil || !strings.Contains(out, label) || !strings.Contains(out, "full") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := backup("status"); err != nil || !strings.Contains(out, label) {
		t.Fatalf("status within the RPO: %v\n%s", err, out)
	}
	env["HEALTHHUB_PGBACKREST_RPO"] = "1ns"
	if out, err := backup("status"); exitCode(err) != 1 || !strings.Contains(out, "more than the RPO") {
		t.Fatalf("status past the RPO: got %v\n%s", err, out)
	}
	delete(env, "HEALTHHUB_PGBACKREST_RPO")
	st, err := server.PGBackRestStatusOf(ctx, cfg, getenv, time.Now())
	if err != nil || st.LastBackupLabel != label || st.ArchiveErr != nil || st.ArchiveLag > time.Hour {
		t.Fatalf("status for the admin home: %+v, %v", st, err)
	}

	// After the backup: one more row, the target, then the mistake.
	if _, err := conn.Exec(ctx, "INSERT INTO clinic_notes VALUES (2, 'also kept')"); err != nil {
		t.Fatal(err)
	}
	var target time.Time
	for {
		if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&target); err != nil {
			t.Fatal(err)
		}
		// A second past the backup's (whole-second) stop time, the
		// earliest a restore allows.
		if target.After(st.LastBackup.Add(time.Second)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM clinic_notes"); err != nil {
		t.Fatal(err)
	}
	if out, err := backup("now", "--type", "incr"); err != nil {
		t.Fatalf("incremental backup: %v\n%s", err, out)
	}

	if out, err := restore("--to", began.Add(-time.Hour).UTC().Format(time.RFC3339), "--into", filepath.Join(pg.baseDir, "early")); exitCode(err) != 2 ||
		!strings.Contains(err.Error(), "before the oldest backup") {
		t.Fatalf("restore before the oldest backup: got %v\n%s", err, out)
	}
	if out, err := restore("--to", "yesterday", "--into", filepath.Join(pg.baseDir, "x")); exitCode(err) != 2 {
		t.Fatalf("restore to a malformed time: got %v\n%s", err, out)
	}
	if out, err := restore("--aurora", "--new-cluster", "x"); exitCode(err) != 2 {
		t.Fatalf("restore --aurora without a source: got %v\n%s", err, out)
	}

	into := filepath.Join(pg.baseDir, "restored")
	began = time.Now()
	out, err = restore("--to", target.UTC().Format(time.RFC3339Nano), "--into", into)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore --to took %s:\n%s", time.Since(began).Round(time.Millisecond), out)
	if !strings.Contains(out, "recovery stopping before commit") {
		t.Fatalf("restore output does not say where recovery stopped:\n%s", out)
	}

	// Start the restored folder as the cluster it now is and read it.
	restored := &privatePostgres{t: t, binDir: pg.binDir, baseDir: pg.baseDir, dataDir: into, logFile: filepath.Join(pg.baseDir, "restored.log"),
		port: freePort(t), asUser: pg.asUser}
	// postgresql.auto.conf has the last word, over the archiving settings
	// setup wrote there.
	conf, err := os.OpenFile(filepath.Join(into, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf.WriteString("\nport = " + strconv.Itoa(restored.port) + "\narchive_mode = off\n")
	conf.Close()
	if err := restored.Start(); err != nil {
		t.Fatal(err)
	}
	defer restored.Stop()
	rconn, err := pgx.Connect(ctx, restored.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close(ctx)
	rows, _ := rconn.Query(ctx, "SELECT body FROM clinic_notes ORDER BY id")
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(bodies, ",") != "kept,also kept" {
		t.Fatalf("restored rows: %v, %v; want kept, also kept", bodies, err)
	}
	if err := rconn.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE resource_type = 'backup' AND action = 'create' AND resource_id = $1", label).Scan(&events); err != nil || events != 1 {
		t.Fatalf("the restore's audit event in the restored database: %d, %v", events, err)
	}
}

// TestAuroraRestoreCommand runs "healthhubd restore --aurora" against an
// in-process RDS API: a time inside the source's window makes the new
// cluster and its writer with the flags' settings; one outside is refused
// with exit status 2 before anything is created.
func TestAuroraRestoreCommand(t *testing.T) {
	f := auroratest.New()
	f.SetProgress(0, "available")
	now := time.Now().UTC().Truncate(time.Second)
	f.AddCluster(auroratest.Cluster{ID: "healthhub-prod", Status: "available", Engine: "aurora-postgresql", SubnetGroup: "healthhub-db",
		ParameterGroup: "healthhub-pg15", Earliest: now.Add(-72 * time.Hour), Latest: now.Add(-5 * time.Minute), SecurityGroups: []string{"sg-source"}})
	srv := httptest.NewServer(f)
	defer srv.Close()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_RDS": srv.URL, "AWS_REGION": f.Region, "AWS_ACCESS_KEY_ID": f.AccessKey, "AWS_SECRET_ACCESS_KEY": "test-secret",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	restore := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := server.RunPostgresRestore(context.Background(), server.Config{}, args, func(string) string { return "" }, &out, &errOut)
		return out.String() + errOut.String(), err
	}

	out, err := restore("--aurora", "--source-cluster", "healthhub-prod", "--new-cluster", "healthhub-prod-old", "--to", now.Add(-73*time.Hour).Format(time.RFC3339))
	var ee *server.ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), "outside the cluster's restorable window") {
		t.Fatalf("a time before the window: got %v\n%s", err, out)
	}
	if f.Call("RestoreDBClusterToPointInTime") != nil {
		t.Fatal("a refused restore still restored")
	}

	target := now.Add(-24 * time.Hour)
	out, err = restore("--aurora", "--source-cluster", "healthhub-prod", "--new-cluster", "healthhub-drill", "--to", target.Format(time.RFC3339),
		"--instance-class", "db.r6g.large", "--security-groups", "sg-1, sg-2", "--tags", "purpose=drill")
	if err != nil {
		t.Fatalf("restore --aurora: %v\n%s", err, out)
	}
	if !strings.Contains(out, "endpoint healthhub-drill.cluster-") {
		t.Fatalf("output lacks the new endpoint:\n%s", out)
	}
	in := f.Call("RestoreDBClusterToPointInTime")
	if in.Get("RestoreToTime") != target.Format(time.RFC3339) || in.Get("VpcSecurityGroupIds.VpcSecurityGroupId.2") != "sg-2" ||
		in.Get("Tags.Tag.1.Key") != "purpose" || in.Get("DBSubnetGroupName") != "healthhub-db" {
		t.Fatalf("RestoreDBClusterToPointInTime: %v", in)
	}
	if c := f.Call("CreateDBInstance"); c.Get("DBInstanceClass") != "db.r6g.large" || c.Get("DBClusterIdentifier") != "healthhub-drill" {
		t.Fatalf("CreateDBInstance: %v", c)
	}
}

// TestPostgresBackupSettingsRefused: settings a person must fix are refused
// with exit status 2 and a message saying what to do, before pgBackRest or
// the database is touched.
func TestPostgresBackupSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	private, shared := filepath.Join(dir, "private.pass"), filepath.Join(dir, "shared.pass")
	if err := os.WriteFile(private, []byte("a repository passphrase for the test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shared, []byte("a repository passphrase for the test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DatabaseURL: "postgres://healthhub@127.0.0.1:1/healthhub?sslmode=disable"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		sub  string
		args []string
		want string
	}{
		{"no passphrase file", nil, "list", nil, "HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE is not set"},
		{"passphrase readable by others", map[string]string{"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": shared}, "list", nil, "chmod 600"},
		{"bad RPO", map[string]string{"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": private, "HEALTHHUB_PGBACKREST_RPO": "soon"}, "status", nil, "HEALTHHUB_PGBACKREST_RPO"},
		{"relative repository", map[string]string{"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": private, "HEALTHHUB_PGBACKREST_REPO_PATH": "backups"}, "list", nil, "absolute path"},
		{"unknown type", map[string]string{"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": private}, "now", []string{"--type", "weekly"}, "full, diff or incr"},
		{"unknown command", map[string]string{"HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE": private}, "prune", nil, "unknown backup command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := server.RunPostgresBackup(context.Background(), cfg, tc.sub, tc.args, func(k string) string { return tc.env[k] }, &out, &out)
			var ee *server.ExitError
			if !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want exit status 2 saying %q", err, tc.want)
			}
		})
	}
}
