package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL server of the test's own, in a temporary
// folder, listening on 127.0.0.1 at a free port with trust authentication.
// The test may stop and start it without disturbing any other database.
type privatePostgres struct {
	t       testing.TB
	binDir  string
	baseDir string // owned by the server's user; holds data, socket and log
	dataDir string
	logFile string
	port    int
	asUser  string // run the binaries as this user through runuser; "" runs them directly
}

// URL is the database URL of the instance's postgres database.
func (pg *privatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

// unavailable skips the test, or fails it in CI, where PostgreSQL must be
// installed.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("private PostgreSQL instance unavailable in CI: %s", msg)
	}
	t.Skipf("skipping: private PostgreSQL instance unavailable: %s", msg)
}

// findPostgresBin returns the folder holding initdb, pg_ctl and postgres:
// the newest /usr/lib/postgresql/*/bin, else the folder of pg_ctl on PATH.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	have := func(dir string) bool {
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	for _, d := range dirs {
		if have(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && have(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin or on PATH")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrivatePostgres creates, configures and starts a fresh instance, and
// stops and removes it when the test ends.
func startPrivatePostgres(t testing.TB) *privatePostgres {
	t.Helper()
	binDir, err := findPostgresBin()
	if err != nil {
		unavailable(t, "%v", err)
	}
	pg := &privatePostgres{t: t, binDir: binDir}

	// PostgreSQL refuses to run as root: as root, run it as the postgres
	// user through runuser in a folder that user owns.
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("runuser"); err != nil {
			unavailable(t, "running as root and runuser is not installed, so PostgreSQL cannot be started as another user")
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			t.Fatalf("postgres uid %q: %v", u.Uid, err)
		}
		if gid, err = strconv.Atoi(u.Gid); err != nil {
			t.Fatalf("postgres gid %q: %v", u.Gid, err)
		}
		pg.asUser = "postgres"
	}

	// Not t.TempDir: its parent is private to the test's user, which the
	// postgres user could not enter.
	pg.baseDir, err = os.MkdirTemp("", "healthhub-pg-")
	if err != nil {
		t.Fatalf("create PostgreSQL folder: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(pg.baseDir) })
	if uid >= 0 {
		if err := os.Chown(pg.baseDir, uid, gid); err != nil {
			t.Fatalf("chown %s to postgres: %v", pg.baseDir, err)
		}
	}
	pg.dataDir = filepath.Join(pg.baseDir, "data")
	pg.logFile = filepath.Join(pg.baseDir, "postgres.log")

	if out, err := pg.run("initdb", "-D", pg.dataDir, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		if pg.asUser != "" && strings.Contains(out, "runuser") {
			unavailable(t, "runuser -u postgres does not work here: %v\n%s", err, out)
		}
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	// The port is chosen before the server binds it, so another process may
	// take it first; try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		pg.port = freePort(t)
		conf := fmt.Sprintf("\n# healthhub test instance\nlisten_addresses = '127.0.0.1'\nport = %d\n"+
			"unix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"+
			"max_connections = 50\nshared_buffers = 16MB\n", pg.port, pg.baseDir)
		f, err := os.OpenFile(filepath.Join(pg.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("open postgresql.conf: %v", err)
		}
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("write postgresql.conf: %v", err)
		}
		if lastErr = pg.Start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("start private PostgreSQL: %v", lastErr)
	}
	t.Cleanup(func() {
		if out, err := pg.run("pg_ctl", "stop", "-D", pg.dataDir, "-m", "immediate", "-w"); err != nil &&
			!strings.Contains(out, "Is server running?") {
			t.Logf("stop private PostgreSQL: %v\n%s", err, out)
		}
	})
	return pg
}

// run runs one of the PostgreSQL binaries, as the postgres user when the test
// runs as root, with a clean PG* environment, and returns its output.
func (pg *privatePostgres) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bin := filepath.Join(pg.binDir, name)
	var cmd *exec.Cmd
	if pg.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", pg.asUser, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Dir = pg.baseDir
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with these pipes' write ends;
	// do not wait for them to close.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return out.String(), err
}

// Stop shuts the server down the way an operator's restart would: fast mode
// ends open sessions and waits until the server is gone.
func (pg *privatePostgres) Stop() {
	pg.t.Helper()
	if out, err := pg.run("pg_ctl", "stop", "-D", pg.dataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s\nserver log:\n%s", err, out, pg.serverLog())
	}
}

// Start starts the server and waits until it accepts connections on its port.
func (pg *privatePostgres) Start() error {
	out, err := pg.run("pg_ctl", "start", "-D", pg.dataDir, "-l", pg.logFile, "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, pg.serverLog())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := pg.run("pg_isready", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres", "-d", "postgres", "-t", "2")
		if err == nil {
			return nil
		}
		if _, statErr := os.Stat(filepath.Join(pg.binDir, "pg_isready")); statErr != nil {
			// No pg_isready: a TCP connection is the next best sign.
			c, derr := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pg.port), 2*time.Second)
			if derr == nil {
				c.Close()
				return nil
			}
			out, err = derr.Error(), derr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL did not become ready on port %d: %v\n%s\nserver log:\n%s", pg.port, err, out, pg.serverLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (pg *privatePostgres) serverLog() string {
	b, err := os.ReadFile(pg.logFile)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}
