package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/server"
)

// metric reads one series of /metrics.
func metric(t *testing.T, base, name string) (float64, bool) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// loginStatus is the status of a sign-in.
func loginStatus(t *testing.T, base, email string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery"})
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// caughtUp waits until backup status says every staged change is in the
// replica, and returns the time then.
func caughtUp(t *testing.T, vars map[string]string) time.Time {
	t.Helper()
	var out string
	eventually(t, "the replica to catch up", func() bool {
		out, _ = run(t, vars, "", "backup", "status")
		return strings.Contains(out, "behind:         no") && strings.Contains(out, "restores ")
	})
	return time.Now()
}

// A SQLite server with a replica folder replicates every commit, says so in
// /metrics and backup status, and healthhubd restore --to brings back the
// database as it was at a time between two accounts: the first one signs
// in, the second does not exist. With --identity the keyring and the other
// files come from the newest snapshot and the restore is in the restored
// audit log.
func TestServerReplicatesContinuously(t *testing.T) {
	vars := testEnv(t, "")
	nas := filepath.Join(t.TempDir(), "nas")
	if err := os.Mkdir(nas, 0o700); err != nil {
		t.Fatal(err)
	}
	vars["HEALTHHUB_REPLICA_DIR"] = nas
	out, err := run(t, vars, "", "backup", "keygen", "--out", filepath.Join(t.TempDir(), "id.txt"))
	if err != nil {
		t.Fatal(err)
	}
	idFile := regexp.MustCompile(`identity written to (\S+):`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_RECIPIENTS"] = regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(out)[1]
	vars["HEALTHHUB_BACKUP_DIR"], vars["HEALTHHUB_BACKUP_EVERY"] = filepath.Join(t.TempDir(), "usb"), "0"

	base, srv := startServe(t, vars, "running at")
	for _, name := range []string{"healthhub_backup_replication_lag_seconds", "healthhub_backup_last_replication_timestamp_seconds"} {
		if _, ok := metric(t, base, name); !ok {
			t.Fatalf("/metrics has no %s", name)
		}
	}
	first, second := "first@clinic.example", "second@clinic.example"
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", first, "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if out, err := run(t, vars, "", "backup", "now"); err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}
	mark := caughtUp(t, vars)
	for time.Now().Truncate(time.Millisecond).Equal(mark.Truncate(time.Millisecond)) {
		time.Sleep(time.Millisecond) // the replica's times are in milliseconds
	}
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", second, "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	caughtUp(t, vars)
	eventually(t, "the lag metric at zero and a last replication", func() bool {
		lag, ok1 := metric(t, base, "healthhub_backup_replication_lag_seconds")
		last, ok2 := metric(t, base, "healthhub_backup_last_replication_timestamp_seconds")
		return ok1 && ok2 && lag == 0 && time.Since(time.Unix(int64(last), 0)) < time.Minute
	})
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}

	// A time after the newest the replica holds is refused, never replaced.
	into := filepath.Join(t.TempDir(), "restored")
	out, err = run(t, vars, "", "restore", "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--into", into)
	if exitCode(err) != 2 || !strings.Contains(errString(err), "after") || !strings.Contains(errString(err), "the newest point") {
		t.Fatalf("restore to the future: %d %v\n%s", exitCode(err), err, out)
	}
	if out, err := run(t, vars, "", "restore", "--to", "yesterday", "--into", into); exitCode(err) != 2 || !strings.Contains(errString(err), "RFC 3339") {
		t.Fatalf("restore --to yesterday: %d %v\n%s", exitCode(err), err, out)
	}
	if out, err := run(t, vars, "", "restore", "--from", "snapshot", "--into", into); exitCode(err) != 2 || !strings.Contains(errString(err), "--identity") {
		t.Fatalf("restore --from snapshot without an identity: %d %v\n%s", exitCode(err), err, out)
	}

	// The database alone: the keyring is to be brought from the installation.
	out, err = run(t, vars, "", "restore", "--to", mark.UTC().Format(time.RFC3339Nano), "--into", into)
	if err != nil || !strings.Contains(out, "keyring") || !strings.Contains(out, "restored the database from file:"+nas) {
		t.Fatalf("restore from the replica: %v\n%s", err, out)
	}
	key, err := os.ReadFile(filepath.Join(vars["HEALTHHUB_DATA_DIR"], "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(into, "keyring.json"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := testEnv(t, "")
	restored["HEALTHHUB_DATA_DIR"] = into
	rbase, rsrv := startServe(t, restored, "running at")
	httpLogin(t, rbase, first)
	if code := loginStatus(t, rbase, second); code != http.StatusUnauthorized {
		t.Fatalf("sign-in of the account made after the restore time: %d; want 401", code)
	}
	if err := rsrv.stop(); err != nil {
		t.Fatal(err)
	}

	// With the snapshot's files, to the latest: both accounts, and the
	// restore recorded.
	into2 := filepath.Join(t.TempDir(), "restored-whole")
	out, err = run(t, vars, "", "restore", "--identity", idFile, "--into", into2)
	if err != nil || !strings.Contains(out, "the database comes from the replica") {
		t.Fatalf("restore with the snapshot's files: %v\n%s", err, out)
	}
	restored["HEALTHHUB_DATA_DIR"] = into2
	if out, err := run(t, restored, "", "audit", "verify"); err != nil {
		t.Fatalf("audit verify on the restored folder: %v\n%s", err, out)
	}
	if out, err := run(t, restored, "", "audit", "export"); err != nil || !strings.Contains(out, `"urn:healthhub:backup","value":"replica"`) {
		t.Fatalf("the restore is not in the restored audit log: %v\n%s", err, out)
	}
	rbase, _ = startServe(t, restored, "running at")
	httpLogin(t, rbase, first)
	httpLogin(t, rbase, second)
}

// ReplicationStatus: false without a replica; with one that cannot start
// (a folder on a disk not mounted) the server still serves and the status
// says why, with a growing lag.
func TestReplicationStatus(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	c := server.Config{DataDir: dir, KeyringFile: filepath.Join(dir, "keyring.json"), BlobDir: filepath.Join(dir, "blobs"),
		Argon2Memory: 64, IdleTimeout: time.Hour, LogLevel: "warn", LogFormat: "text"}
	sys, err := server.Open(ctx, c, logger, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sys.ReplicationStatus(); ok {
		t.Fatal("replication status without a replica says it is configured")
	}
	sys.Close()

	vars := testEnv(t, "")
	vars["HEALTHHUB_REPLICA_DIR"] = filepath.Join(t.TempDir(), "not-mounted")
	base, srv := startServe(t, vars, "running at")
	defer srv.stop()
	eventually(t, "the log to say the database is not replicated", func() bool {
		return strings.Contains(srv.errOut.String()+srv.out.String(), "not replicated")
	})
	eventually(t, "a lag above zero", func() bool {
		lag, ok := metric(t, base, "healthhub_backup_replication_lag_seconds")
		return ok && lag > 0
	})
	out, err := run(t, vars, "", "backup", "status")
	if exitCode(err) != 1 || !strings.Contains(out, "mount the disk") {
		t.Fatalf("backup status with the replica folder missing: %d\n%s", exitCode(err), out)
	}
}

// Settings of a replica are checked when they are read.
func TestReplicaSettings(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"HEALTHHUB_REPLICA_S3_PREFIX": "db"}, "HEALTHHUB_REPLICA_S3_BUCKET"},
		{map[string]string{"HEALTHHUB_REPLICA_S3_BUCKET": "b", "HEALTHHUB_REPLICA_S3_ENDPOINT": "clinic-server:9000"}, "replica-s3-endpoint"},
		{map[string]string{"HEALTHHUB_REPLICA_DIR": "/mnt/nas", "HEALTHHUB_REPLICA_RETENTION": "5m"}, "replica-retention"},
		{map[string]string{"HEALTHHUB_REPLICA_DIR": "/mnt/nas", "HEALTHHUB_DATABASE_URL": "postgres://x@127.0.0.1/db"}, "PostgreSQL"},
	} {
		vars := testEnv(t, "")
		for k, v := range c.vars {
			vars[k] = v
		}
		out, err := run(t, vars, "", "backup", "status")
		if exitCode(err) != 2 || !strings.Contains(errString(err), c.want) {
			t.Errorf("%v: %d %v\n%s", c.vars, exitCode(err), err, out)
		}
	}
}
