package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/sqlite"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for a server writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// testEnv is a configuration for a fresh data folder with cheap hashing.
func testEnv(t *testing.T, dbURL string) map[string]string {
	return map[string]string{
		"HEALTHHUB_DATA_DIR": t.TempDir(), "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
		"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "warn",
	}
}

func run(t *testing.T, vars map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := server.Run(context.Background(), append([]string{"healthhubd"}, args...), env(vars), strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func exitCode(err error) int {
	var e *server.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	}
	return 1
}

func TestServePrintsURLAndShutsDownGracefully(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			dbURL, _ := eng.URL(t)
			vars := testEnv(t, dbURL)
			// The URL comes first, then the first-admin instructions.
			base, srv := startServe(t, vars, "user create")
			out := srv.out
			if !strings.Contains(out.String(), "hhs_") || !strings.Contains(out.String(), "user create") {
				t.Fatalf("first-admin instructions missing: %q", out.String())
			}
			res, err := http.Get(base + "/readyz")
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("readyz: %v %v", res, err)
			}
			res.Body.Close()

			// A request in flight when shutdown starts still gets its answer:
			// send the headers, wait until the handler reads the body (the
			// server then answers "100 Continue"), stop the server, wait until
			// it no longer accepts connections, then send the body.
			addr := strings.TrimPrefix(base, "http://")
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := `{"email":"nobody@example.org","password":"not the password"}`
			fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", len(body))
			replies := bufio.NewReader(conn)
			if status, err := replies.ReadString('\n'); err != nil || !strings.HasPrefix(status, "HTTP/1.1 100") {
				t.Fatalf("waiting for 100 Continue: %q %v", status, err)
			}
			if blank, err := replies.ReadString('\n'); err != nil || blank != "\r\n" {
				t.Fatalf("after 100 Continue: %q %v", blank, err)
			}
			srv.cancel()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				probe, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					break
				}
				probe.Close()
				if time.Now().After(deadline) {
					t.Fatal("still accepting connections 60 s after shutdown began")
				}
			}
			io.WriteString(conn, body)
			reply, _ := io.ReadAll(replies)
			if !strings.HasPrefix(string(reply), "HTTP/1.1 401") {
				t.Fatalf("in-flight request during shutdown got %q", reply)
			}
			select {
			case err := <-srv.done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Fatal("serve did not return after shutdown")
			}
			if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
				t.Fatal("still listening after shutdown")
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	vars := testEnv(t, "")
	if out, err := run(t, vars, "", "migrate"); err != nil || !strings.Contains(out, "sqlite database is up to date") {
		t.Fatalf("migrate: %v %s", err, out)
	}
	out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", "Admin@Clinic.example", "--role", "admin", "--password-stdin")
	if err != nil || !strings.Contains(out, "created admin account admin@clinic.example") {
		t.Fatalf("user create: %v %s", err, out)
	}
	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		contains    string
	}{
		{"weak password", "short\n", []string{"user", "create", "--email", "b@clinic.example", "--role", "staff", "--password-stdin"}, 1, "at least 10"},
		{"duplicate", "correct horse battery\n", []string{"user", "create", "--email", "admin@clinic.example", "--role", "staff", "--password-stdin"}, 1, "already exists"},
		{"bad role", "correct horse battery\n", []string{"user", "create", "--email", "c@clinic.example", "--role", "root", "--password-stdin"}, 1, "Unknown role"},
		{"doctor without specialization", "correct horse battery\n", []string{"user", "create", "--email", "e@clinic.example", "--role", "doctor", "--password-stdin"}, 1, "Enter the specialization"},
		{"doctor in an unknown zone", "correct horse battery\n", []string{"user", "create", "--email", "e@clinic.example", "--role", "doctor", "--specialization", "GP", "--time-zone", "Mars/Olympus", "--password-stdin"}, 1, "not a known time zone"},
		{"missing flags", "", []string{"user", "create", "--email", "d@clinic.example"}, 2, "needs --email, --role and --password-stdin"},
		{"unknown command", "", []string{"frobnicate"}, 2, "Usage"},
		{"no command", "", nil, 2, "Usage"},
		{"bad flag value", "", []string{"migrate", "--idle-timeout", "soon"}, 2, ""},
	} {
		out, err := run(t, vars, c.stdin, c.args...)
		if exitCode(err) != c.code || !strings.Contains(out+errString(err), c.contains) {
			t.Errorf("%s: exit %d (%v), output %q; want exit %d containing %q", c.name, exitCode(err), err, out, c.code, c.contains)
		}
	}
	if out, err := run(t, vars, "", "keys", "rotate"); err != nil || !strings.Contains(out, "re-sealed 0 patient records") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	if out, err := run(t, vars, "", "version"); err != nil || !strings.HasPrefix(out, "healthhubd ") {
		t.Fatalf("version: %v %q", err, out)
	}

	out, err = run(t, vars, "", "audit", "verify")
	if exitCode(err) != 0 || !strings.Contains(out, "audit chain intact: 2 events") {
		t.Fatalf("verify intact: %v %s", err, out)
	}
	out, err = run(t, vars, "", "audit", "export")
	if err != nil || !strings.Contains(out, `"resourceType":"AuditEvent"`) {
		t.Fatalf("export: %v %s", err, out)
	}

	// Tamper with the stored chain; verify must now exit non-zero and say where.
	db, err := sqlite.Open(filepath.Join(vars["HEALTHHUB_DATA_DIR"], store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	storetest.WithoutAuditGuards(t, db, func() {
		if err := db.Exec(context.Background(), `UPDATE audit_events SET detail = 'role=staff' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
	})
	db.Close()
	out, err = run(t, vars, "", "audit", "verify")
	if exitCode(err) != 1 || !strings.Contains(out, "BROKEN at event 1") {
		t.Fatalf("verify after tampering: exit %d, %s", exitCode(err), out)
	}
	// Each check is in the log with what it found, newest first, for the admin's home page.
	db, err = sqlite.Open(filepath.Join(vars["HEALTHHUB_DATA_DIR"], store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checks, err := db.ListAudit(context.Background(), domain.AuditFilter{Action: domain.ActionVerify, Limit: 10})
	if err != nil || len(checks) != 2 || checks[0].Outcome != domain.OutcomeFailure || checks[0].Detail != "broken_at=1" ||
		checks[1].Outcome != domain.OutcomeSuccess || checks[1].Detail != "events=2 head=2" {
		t.Fatalf("recorded checks = %+v, %v", checks, err)
	}
}

// TestCommandLineCreatesBookableDoctor: a doctor made on the command line
// has its profile and hours in the requested time zone, so patients can
// book them once the hours are filled in.
func TestCommandLineCreatesBookableDoctor(t *testing.T) {
	vars := testEnv(t, "")
	out, err := run(t, vars, "correct horse battery\n", "user", "create", "--email", "gp@clinic.example", "--role", "doctor",
		"--name", "Ada Lovelace", "--specialization", "General practice", "--time-zone", "Europe/Berlin", "--password-stdin")
	if err != nil || !strings.Contains(out, "created doctor account gp@clinic.example") {
		t.Fatalf("user create: %v %s", err, out)
	}
	db, err := sqlite.Open(filepath.Join(vars["HEALTHHUB_DATA_DIR"], store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	u, err := db.UserByEmail(ctx, "gp@clinic.example")
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.DoctorByUserID(ctx, u.ID)
	if err != nil || d.Specialization != "General practice" {
		t.Fatalf("doctor profile = %+v, %v", d, err)
	}
	if av, err := db.Availability(ctx, d.ID); err != nil || av.TimeZone != "Europe/Berlin" {
		t.Fatalf("hours = %+v, %v", av, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// serving is a `healthhubd serve` started by a test.
type serving struct {
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan error
}

// startServe runs `healthhubd serve` with vars until stop is called, and
// waits (up to 20 s) for the printed URL and for want to appear on stdout.
func startServe(t *testing.T, vars map[string]string, want string) (base string, s *serving) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s = &serving{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(cancel)
	go func() {
		s.done <- server.Run(ctx, []string{"healthhubd", "serve"}, env(vars), strings.NewReader(""), s.out, s.errOut)
	}()
	urlRE := regexp.MustCompile(`running at (http://[0-9.:]+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(s.out.String()); m != nil && strings.Contains(s.out.String(), want) {
			return m[1], s
		}
	}
	t.Fatalf("no URL printed; stdout %q stderr %q", s.out.String(), s.errOut.String())
	return "", nil
}

// stop shuts the server down and returns what serve returned.
func (s *serving) stop() error {
	s.cancel()
	return <-s.done
}
