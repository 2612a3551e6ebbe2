package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/server"
)

// lockedBuffer collects the server's log for printing when the test fails.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiResponse is one HTTP exchange as the test sees it.
type apiResponse struct {
	Status     int
	Body       []byte
	RetryAfter string
}

func (r apiResponse) errorCode() string {
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return ""
	}
	return body.Error.Code
}

func (r apiResponse) String() string {
	return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(string(r.Body)))
}

type apiClient struct {
	base string
	http *http.Client
}

func (c *apiClient) do(t *testing.T, method, path, token string, body any) apiResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: the server did not answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return apiResponse{Status: resp.StatusCode, Body: b, RetryAfter: resp.Header.Get("Retry-After")}
}

func (c *apiClient) login(t *testing.T, email, password string) apiResponse {
	t.Helper()
	return c.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
}

func accessToken(t *testing.T, r apiResponse) string {
	t.Helper()
	var pair auth.TokenPair
	if err := json.Unmarshal(r.Body, &pair); err != nil || pair.AccessToken == "" {
		t.Fatalf("login response has no access token (err %v): %s", err, r)
	}
	return pair.AccessToken
}

// TestPostgresRestartServerRecovers restarts the PostgreSQL server under a
// running HealthHub: during the outage requests fail with 503 "unavailable"
// (never 500) while the process stays alive, and once PostgreSQL is back the
// same server, with the same access token, answers normally again.
func TestPostgresRestartServerRecovers(t *testing.T) {
	pg := startPrivatePostgres(t)

	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
			t.Logf("PostgreSQL log:\n%s", pg.serverLog())
		}
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))

	dataDir := t.TempDir()
	cfg := server.Config{
		DatabaseURL:      pg.URL(),
		DataDir:          dataDir,
		KeyringFile:      filepath.Join(dataDir, "keyring.json"),
		Argon2Memory:     64,
		LoginPerIP:       -1,
		LoginPerAccount:  -1,
		IdleTimeout:      15 * time.Minute,
		SelfRegistration: true,
		LogFormat:        "text",
		LogLevel:         "error",
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sys, err := server.Open(ctx, cfg, logger, time.Now)
	if err != nil {
		t.Fatalf("open system on private PostgreSQL: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			sys.Close()
		}
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- sys.Serve(ctx, ln) }()
	served := false
	t.Cleanup(func() {
		if !served {
			cancel()
			select {
			case <-serveErr:
			case <-time.After(40 * time.Second):
				t.Errorf("Serve did not return after the context ended")
			}
		}
	})

	c := &apiClient{base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 20 * time.Second}}

	// Before the outage: an account, a session, and a ready server.
	const email, password = "restart.patient@clinic.example", "correct horse battery staple"
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	if _, err := sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: email, Password: password, Name: "Restart Patient", Role: domain.RolePatient}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	r := c.login(t, email, password)
	if r.Status != http.StatusOK {
		t.Fatalf("login before the outage: got %s, want 200", r)
	}
	token := accessToken(t, r)
	if r := c.do(t, "GET", "/api/v1/me", token, nil); r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/me before the outage: got %s, want 200", r)
	}
	if r := c.do(t, "GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /readyz before the outage: got %s, want 200", r)
	}

	// The outage. pg_ctl stop -m fast ends the pool's sessions and returns
	// once the server is down. An authenticated session read just before may
	// answer from the server's short session cache for up to a second; after
	// that every request that needs the database must be a 503.
	pg.Stop()
	time.Sleep(1100 * time.Millisecond)

	checkUnavailable := func(what string, r apiResponse) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: got %s, want 503 unavailable", what, r)
			return
		}
		if code := r.errorCode(); code != domain.EUNAVAILABLE {
			t.Errorf("%s during the outage: error code %q, want %q; body %s", what, code, domain.EUNAVAILABLE, r.Body)
		}
		if r.RetryAfter == "" {
			t.Errorf("%s during the outage: 503 without a Retry-After header", what)
		}
	}
	sawMe, sawReady := false, false
	outageEnd := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(outageEnd) || i < 3; i++ {
		r := c.do(t, "GET", "/api/v1/me", token, nil)
		checkUnavailable(fmt.Sprintf("GET /api/v1/me (try %d)", i+1), r)
		if !sawMe && r.Status == http.StatusServiceUnavailable {
			t.Logf("during the outage GET /api/v1/me answers %s", r)
			sawMe = true
		}
		r = c.do(t, "GET", "/readyz", "", nil)
		checkUnavailable(fmt.Sprintf("GET /readyz (try %d)", i+1), r)
		sawReady = sawReady || r.Status == http.StatusServiceUnavailable
		if r := c.do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
			t.Errorf("GET /healthz during the outage (try %d): got %s, want 200: the process must stay live", i+1, r)
		}
		if t.Failed() {
			t.FailNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawMe || !sawReady {
		t.Fatalf("no 503 seen during the outage: /api/v1/me %v, /readyz %v", sawMe, sawReady)
	}
	// A sign-in and several requests at once, so more than one pooled
	// connection meets the dead server.
	checkUnavailable("POST /api/v1/auth/login", c.login(t, email, password))
	var wg sync.WaitGroup
	results := make([]apiResponse, 8)
	for i := range results {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", c.base+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.http.Do(req)
			if err != nil {
				results[i] = apiResponse{Body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i] = apiResponse{Status: resp.StatusCode, Body: b, RetryAfter: resp.Header.Get("Retry-After")}
		})
	}
	wg.Wait()
	for i, r := range results {
		checkUnavailable(fmt.Sprintf("concurrent GET /api/v1/me #%d", i+1), r)
	}
	if t.Failed() {
		t.FailNow()
	}

	// PostgreSQL comes back; the same server process recovers by itself.
	if err := pg.Start(); err != nil {
		t.Fatalf("restart private PostgreSQL: %v", err)
	}
	restarted := time.Now()
	recovered := false
	var last apiResponse
	for deadline := restarted.Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = c.do(t, "GET", "/api/v1/me", token, nil)
		if last.Status == http.StatusOK {
			recovered = true
			break
		}
		if last.Status != http.StatusServiceUnavailable {
			t.Fatalf("GET /api/v1/me while PostgreSQL comes back: got %s, want 200 or 503", last)
		}
	}
	if !recovered {
		t.Fatalf("GET /api/v1/me did not recover within 15 s of PostgreSQL restarting; last answer %s", last)
	}
	t.Logf("recovered %v after PostgreSQL accepted connections again", time.Since(restarted).Round(time.Millisecond))
	var me domain.User
	if err := json.Unmarshal(last.Body, &me); err != nil || me.Email != email {
		t.Errorf("GET /api/v1/me after the restart: want user %s, got %s (err %v)", email, last.Body, err)
	}
	if r := c.do(t, "GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Errorf("GET /readyz after the restart: got %s, want 200", r)
	}
	if r := c.do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Errorf("GET /healthz after the restart: got %s, want 200", r)
	}
	r = c.login(t, email, password)
	if r.Status != http.StatusOK {
		t.Fatalf("login after the restart: got %s, want 200", r)
	}
	token2 := accessToken(t, r)
	if r := c.do(t, "GET", "/api/v1/me", token2, nil); r.Status != http.StatusOK {
		t.Errorf("GET /api/v1/me with a token issued after the restart: got %s, want 200", r)
	}

	rep, err := audit.Verify(ctx, sys.Store)
	if err != nil {
		t.Fatalf("verify audit chain after the restart: %v", err)
	}
	if !rep.OK {
		t.Fatalf("audit chain broken after the restart at event %d: %s", rep.BrokenAt, rep.Problem)
	}
	if rep.Events < 3 {
		t.Errorf("audit chain has %d events after account creation and two sign-ins, want at least 3", rep.Events)
	}

	// Shutdown: Serve returns once the context ends, and the system closes.
	cancel()
	served = true
	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v after the context ended, want nil", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("Serve did not return within 40 s of the context ending")
	}
	closed = true
	if err := sys.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
