package server_test

import (
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The admin's whole story: back up a running server, lose the machine,
// restore onto a new folder and serve from it.
func TestBackupNowThenRestoreServes(t *testing.T) {
	vars := testEnv(t, "")
	base, srv := startServe(t, vars, "running at")
	email := "desk@clinic.example"
	if out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", email, "--role", "staff", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	httpLogin(t, base, email)

	// Without a recipient the snapshot is refused, saying how to make one.
	out, err := run(t, vars, "", "backup", "now")
	if exitCode(err) != 2 || !strings.Contains(errString(err), "healthhubd backup keygen") {
		t.Fatalf("backup without recipients: %d %v\n%s", exitCode(err), err, out)
	}

	idFile := filepath.Join(t.TempDir(), "backup-identity.txt")
	out, err = run(t, vars, "", "backup", "keygen", "--out", idFile)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	recipient := regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(out)
	if recipient == nil {
		t.Fatalf("keygen printed no recipient:\n%s", out)
	}
	if info, err := os.Stat(idFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v", err)
	}
	vars["HEALTHHUB_BACKUP_RECIPIENTS"] = recipient[1]
	vars["HEALTHHUB_BACKUP_DIR"] = filepath.Join(t.TempDir(), "usb-stick")

	out, err = run(t, vars, "", "backup", "now")
	if err != nil {
		t.Fatalf("backup now: %v\n%s", err, out)
	}
	file := regexp.MustCompile(`snapshot (\S+\.hhbak)`).FindStringSubmatch(out)
	if file == nil || !strings.Contains(out, "took") || !strings.Contains(out, "size") {
		t.Fatalf("backup now printed:\n%s", out)
	}
	t.Logf("backup now:\n%s", out)
	if out, err := run(t, vars, "", "backup", "list"); err != nil || !strings.Contains(out, file[1]) {
		t.Fatalf("backup list: %v\n%s", err, out)
	}
	out, err = run(t, vars, "", "backup", "status")
	if err != nil || !strings.Contains(out, "recipients:     1") || strings.Contains(out, "same disk") {
		t.Fatalf("backup status: %v\n%s", err, out)
	}
	// The default folder is on the data folder's disk, and empty here.
	local := maps.Clone(vars)
	delete(local, "HEALTHHUB_BACKUP_DIR")
	out, err = run(t, local, "", "backup", "status")
	if exitCode(err) != 1 || !strings.Contains(out, "same disk") || !strings.Contains(out, "last snapshot:  none") {
		t.Fatalf("status of the default folder: %d\n%s", exitCode(err), out)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}

	// The machine is gone: restore elsewhere.
	into := filepath.Join(t.TempDir(), "restored")
	out, err = run(t, vars, "", "restore", "--to", "2000-01-01T00:00:00Z", "--identity", idFile, "--into", into)
	if err == nil || !strings.Contains(errString(err), "snapshots run from") {
		t.Fatalf("restore before the oldest snapshot: %v\n%s", err, out)
	}
	out, err = run(t, vars, "", "restore", "--to", time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "--identity", idFile, "--into", into)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore:\n%s", out)
	if out, err := run(t, vars, "", "restore", "--identity", idFile, "--into", into); err == nil || !strings.Contains(errString(err), "not empty") {
		t.Fatalf("restore into the restored folder again: %v\n%s", err, out)
	}

	restored := testEnv(t, "")
	restored["HEALTHHUB_DATA_DIR"] = into
	if out, err := run(t, restored, "", "audit", "verify"); err != nil {
		t.Fatalf("audit verify on the restored folder: %v\n%s", err, out)
	}
	if out, err := run(t, restored, "", "audit", "export"); err != nil || !strings.Contains(out, `"urn:healthhub:backup","value":"`+filepath.Base(file[1])) {
		t.Fatalf("the restore is not in the restored audit log: %v\n%s", err, out)
	}
	base, srv = startServe(t, restored, "running at")
	defer srv.stop()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz of the restored server: %v %v", res, err)
		}
	}
	httpLogin(t, base, email)
}

func TestBackupCommandsOnPostgreSQLGoToPgBackRest(t *testing.T) {
	vars := testEnv(t, "postgres://nobody@127.0.0.1:1/none")
	for _, args := range [][]string{{"backup", "now"}, {"backup", "list"}, {"backup", "status"}, {"backup", "setup"}, {"restore", "--into", t.TempDir()}} {
		out, err := run(t, vars, "", args...)
		if exitCode(err) != 2 || !strings.Contains(errString(err), "HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE") {
			t.Fatalf("%v on PostgreSQL without pgBackRest settings: %d %v\n%s", args, exitCode(err), err, out)
		}
	}
	// The snapshot flags are not the pgBackRest restore's.
	if out, err := run(t, vars, "", "restore", "--identity", "x", "--into", t.TempDir()); exitCode(err) != 2 || !strings.Contains(out+errString(err), "identity") {
		t.Fatalf("restore --identity on PostgreSQL: %d %v\n%s", exitCode(err), err, out)
	}
	// A database URL given as a flag rather than in the environment is
	// refused, saying where it belongs.
	delete(vars, "HEALTHHUB_DATABASE_URL")
	if out, err := run(t, vars, "", "backup", "list", "--database-url", "postgres://nobody@127.0.0.1:1/none"); exitCode(err) != 2 || !strings.Contains(errString(err), "environment") {
		t.Fatalf("backup list --database-url: %d %v\n%s", exitCode(err), err, out)
	}
}

// The server of a SQLite installation with backup recipients takes a
// snapshot at once and then every HEALTHHUB_BACKUP_EVERY, keeps the newest
// HEALTHHUB_BACKUP_KEEP, and says when the newest was taken in /metrics.
func TestServerTakesScheduledSnapshots(t *testing.T) {
	vars := testEnv(t, "")
	out, err := run(t, vars, "", "backup", "keygen")
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	recipient := regexp.MustCompile(`recipient: (age1[0-9a-z]+)`).FindStringSubmatch(out)
	if recipient == nil {
		t.Fatalf("keygen printed no recipient:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "nas")
	vars["HEALTHHUB_BACKUP_RECIPIENTS"], vars["HEALTHHUB_BACKUP_DIR"] = recipient[1], dir
	vars["HEALTHHUB_BACKUP_EVERY"], vars["HEALTHHUB_BACKUP_KEEP"] = "1s", "2"
	base, _ := startServe(t, vars, "running at")

	snapshots := func() []string {
		names, _ := filepath.Glob(filepath.Join(dir, "healthhub-*.hhbak"))
		return names
	}
	var first []string
	eventually(t, "a first snapshot", func() bool { first = snapshots(); return len(first) >= 1 })
	eventually(t, "a later snapshot, and the oldest pruned", func() bool {
		now := snapshots()
		return len(now) == 2 && now[0] != first[0]
	})
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`(?m)^healthhub_backup_last_success_timestamp_seconds (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no snapshot metric:\n%s", body)
	}
	at, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || time.Since(time.Unix(int64(at), 0)) > time.Minute {
		t.Fatalf("snapshot metric %s", m[1])
	}
}
