package shell

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/tlsca"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct{ mode, in, want, err string }{
		{Standalone, "", "", ""},
		{Clinic, "healthhub.clinic.lan:8443", "https://healthhub.clinic.lan:8443", ""},
		{Hosted, " https://clinic.example.org/ ", "https://clinic.example.org", ""},
		{Clinic, "http://10.0.0.5:8080", "", "HTTPS"},
		{Clinic, "", "", "enter the server's address"},
		{Clinic, "https://user:pw@host", "", "not a server address"},
		{"cloud", "https://x", "", "unknown mode"},
	} {
		got, err := Validate(c.mode, c.in)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Validate(%q, %q) = %q, %v", c.mode, c.in, got, err)
		}
	}
}

func TestSettingsAndPresets(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "HealthHub")}
	first, err := st.Load()
	if err != nil || first != (Settings{}) {
		t.Fatalf("first start: %+v, %v", first, err)
	}
	preset := Preset{Mode: Clinic, ServerURL: "https://clinic.lan:8443"}
	if got := preset.Apply(first); got.Mode != Clinic || got.ServerURL != "https://clinic.lan:8443" {
		t.Fatalf("preset on a first start: %+v", got)
	}
	// A user's own choice wins over IT's preset.
	if got := preset.Apply(Settings{Mode: Standalone}); got.Mode != Standalone || got.ServerURL != "" {
		t.Fatalf("preset over a choice: %+v", got)
	}
	want := Settings{Mode: Hosted, ServerURL: "https://clinic.example.org", Width: 1200, Height: 800}
	if err := st.Save(want); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Load(); err != nil || got != want {
		t.Fatalf("reloaded %+v, %v", got, err)
	}
	if info, _ := os.Stat(filepath.Join(st.Dir, "settings.json")); info.Mode().Perm() != 0o600 {
		t.Fatalf("settings mode %v", info.Mode())
	}
	os.WriteFile(filepath.Join(st.Dir, "settings.json"), []byte("{half"), 0o600)
	if _, err := st.Load(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	env := map[string]string{"HEALTHHUB_DESKTOP_MODE": "hosted", "HEALTHHUB_DESKTOP_SERVER_URL": "https://h.example"}
	if p, err := LoadPreset(func(k string) string { return env[k] }); err != nil || p != (Preset{Mode: Hosted, ServerURL: "https://h.example"}) {
		t.Fatalf("preset from the environment: %+v, %v", p, err)
	}
	if p, err := readPresetFile(filepath.Join(t.TempDir(), "none.json")); err != nil || p != (Preset{}) {
		t.Fatalf("no preset file: %+v, %v", p, err)
	}
}

func TestCheckDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := CheckDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the check left %v behind", entries)
	}
	// A data folder that cannot be made (a file is in the way) is named.
	file := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(file, []byte("x"), 0o600)
	if err := CheckDataDir(filepath.Join(file, "data")); err == nil || !strings.Contains(err.Error(), "cannot be created") {
		t.Fatalf("blocked folder: %v", err)
	}
	if free, err := freeBytes(dir); err != nil || free == 0 {
		t.Fatalf("free space %d, %v", free, err)
	}
}

func newApp(t *testing.T) (*App, Options) {
	t.Helper()
	root := t.TempDir()
	opts := Options{Settings: Store{Dir: filepath.Join(root, "config")}, DataDir: filepath.Join(root, "data"),
		Getenv: func(k string) string {
			if k == "HEALTHHUB_ARGON2_MEMORY_KIB" {
				return "64"
			}
			return ""
		}}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, opts
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// Standalone: the bundled server starts on a loopback port with its data
// in the data folder, and the choice is remembered.
func TestStandaloneRunsTheServerInProcess(t *testing.T) {
	a, opts := newApp(t)
	ctx := context.Background()
	if c := a.Start(ctx); c.State != "choose" {
		t.Fatalf("first start: %+v", c)
	}
	c, err := a.Choose(ctx, Standalone, "", "")
	if err != nil || c.State != "ready" || !strings.HasPrefix(c.BaseURL, "http://127.0.0.1:") || c.SetupToken == "" {
		t.Fatalf("standalone: %+v, %v", c, err)
	}
	var health struct{ Status, API string }
	getJSON(t, c.BaseURL+"/healthz", &health)
	if health.Status != "ok" || health.API != APIGeneration {
		t.Fatalf("healthz %+v", health)
	}
	// The window's origin may call it; another page's may not.
	req, _ := http.NewRequest(http.MethodOptions, c.BaseURL+"/api/v1/me", nil)
	req.Header.Set("Origin", "wails://wails")
	req.Header.Set("Access-Control-Request-Method", "GET")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "wails://wails" {
		t.Fatalf("preflight from the window: %v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "knowledge")); err != nil {
		t.Fatalf("starter knowledge folder: %v", err)
	}
	a.Close()

	again, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if c := again.Start(ctx); c.State != "ready" || c.Mode != Standalone {
		t.Fatalf("second start: %+v", c)
	}
}

// fakeClinic is a HealthHub-like server with HTTPS from the clinic's own
// authority.
type fakeClinic struct {
	srv       *httptest.Server
	ca        *tlsca.Authority
	api       atomic.Value // string
	sawOrigin chan string
}

func newFakeClinic(t *testing.T) *fakeClinic {
	t.Helper()
	ca, err := tlsca.Ensure(t.TempDir(), []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClinic{ca: ca, sawOrigin: make(chan string, 100)}
	f.api.Store(APIGeneration)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"ok","version":"0.9.0","api":%q}`, f.api.Load())
	})
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		f.sawOrigin <- r.Header.Get("Origin")
		w.Header().Set("Access-Control-Allow-Origin", "*") // the app answers CORS itself
		fmt.Fprint(w, `{"id":"u1"}`)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: delta\ndata: {\"text\":\"first\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes: the first piece must arrive alone
	})
	mux.HandleFunc("GET /api/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		f.sawOrigin <- r.Header.Get("Origin")
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			c.Write(r.Context(), typ, append([]byte("echo "), msg...))
		}
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Certificate}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// Clinic server: the app shows the authority's fingerprint, connects only
// once it is confirmed, and then talks through a loopback proxy that
// trusts that authority alone, streams and carries the WebSocket.
func TestClinicServerIsPinnedAfterConfirmation(t *testing.T) {
	clinic := newFakeClinic(t)
	a, opts := newApp(t)
	ctx := context.Background()
	url := clinic.srv.URL
	id, err := a.Probe(ctx, Clinic, url)
	if err != nil || id.Fingerprint != tlsca.Fingerprint(clinic.ca.CA) || id.Public {
		t.Fatalf("probe: %+v, %v", id, err)
	}
	if _, err := a.Choose(ctx, Clinic, url, "AA:BB"); err == nil {
		t.Fatal("connected with a fingerprint nobody confirmed")
	}
	c, err := a.Choose(ctx, Clinic, url, id.Fingerprint)
	if err != nil || c.State != "ready" || c.Version != "0.9.0" || c.Server != url {
		t.Fatalf("choose: %+v, %v", c, err)
	}
	saved, _ := opts.Settings.Load()
	if saved.Mode != Clinic || !strings.Contains(saved.PinnedCA, "BEGIN CERTIFICATE") {
		t.Fatalf("saved %+v", saved)
	}

	req, _ := http.NewRequest("GET", c.BaseURL+"/api/v1/me", nil)
	req.Header.Set("Origin", "wails://wails")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "wails://wails" {
		t.Fatalf("through the proxy: %v %v", res, err)
	}
	res.Body.Close()
	if o := <-clinic.sawOrigin; o != "" {
		t.Fatalf("the server saw origin %q", o)
	}
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 403 {
		t.Fatalf("another origin: %d", res.StatusCode)
	}

	// A streamed answer arrives piece by piece.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sreq, _ := http.NewRequestWithContext(sctx, "GET", c.BaseURL+"/stream", nil)
	sres, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(sres.Body).ReadString('\n')
	if err != nil || line != "event: delta\n" {
		t.Fatalf("first streamed line %q, %v", line, err)
	}
	cancel()
	sres.Body.Close()

	// The WebSocket goes through.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	ws, _, err := websocket.Dial(wctx, strings.Replace(c.BaseURL, "http", "ws", 1)+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"wails://wails"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(wctx, websocket.MessageText, []byte("hello"))
	if _, msg, err := ws.Read(wctx); err != nil || string(msg) != "echo hello" {
		t.Fatalf("websocket: %q %v", msg, err)
	}
	if o := <-clinic.sawOrigin; o != "" {
		t.Fatalf("the server saw the WebSocket's origin %q", o)
	}
}

func problemKind(err error) string {
	var p *Problem
	if errors.As(err, &p) {
		return p.Kind
	}
	return fmt.Sprintf("not a problem: %v", err)
}

// A server that is unreachable, shows another certificate than the pinned
// one, or speaks another API is refused with the reason; the user can work
// offline meanwhile, without losing the saved choice.
func TestRemoteProblems(t *testing.T) {
	ctx := context.Background()
	clinic := newFakeClinic(t)
	other, err := tlsca.Ensure(t.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _ := os.ReadFile(filepath.Join(other.Dir, tlsca.CAFile))
	if _, err := Connect(ctx, clinic.srv.URL, string(otherPEM)); problemKind(err) != ChangedServer {
		t.Fatalf("another authority: %v", err)
	}
	if _, err := Connect(ctx, clinic.srv.URL, ""); problemKind(err) != UntrustedServer {
		t.Fatalf("hosted mode with a private certificate: %v", err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(clinic.ca.Dir, tlsca.CAFile))
	clinic.api.Store("2")
	if _, err := Connect(ctx, clinic.srv.URL, string(caPEM)); problemKind(err) != Incompatible || !strings.Contains(err.Error(), "0.9.0") {
		t.Fatalf("another API: %v", err)
	}
	clinic.api.Store(APIGeneration)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()
	if _, err := Probe(ctx, closed); problemKind(err) != Unreachable {
		t.Fatalf("closed port: %v", err)
	}

	// Saved as a clinic server that is now down: a problem at start, and
	// standalone work meanwhile.
	_, opts := newApp(t)
	if err := opts.Settings.Save(Settings{Mode: Clinic, ServerURL: closed, PinnedCA: string(caPEM)}); err != nil {
		t.Fatal(err)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := a.Start(ctx)
	if c.State != "problem" || c.Problem.Kind != Unreachable || c.Problem.Advice == "" {
		t.Fatalf("start with the server down: %+v", c)
	}
	off := a.WorkOffline(ctx)
	if off.State != "ready" || off.Mode != Standalone || !off.Offline {
		t.Fatalf("offline: %+v", off)
	}
	if saved, _ := opts.Settings.Load(); saved.Mode != Clinic {
		t.Fatalf("working offline changed the saved mode to %q", saved.Mode)
	}
}

// A data folder that cannot be used stops standalone mode with the reason
// before anything is opened.
func TestStandaloneDataFolderProblem(t *testing.T) {
	a, opts := newApp(t)
	file := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(file, []byte("x"), 0o600)
	a.opts.DataDir = filepath.Join(file, "data")
	c, err := a.Choose(context.Background(), Standalone, "", "")
	if err == nil || c.State != "problem" || c.Problem.Kind != DataFolder {
		t.Fatalf("unusable data folder: %+v, %v", c, err)
	}
	if saved, _ := opts.Settings.Load(); saved.Mode != "" {
		t.Fatalf("a failed choice was saved: %+v", saved)
	}
}

// lockedBuffer is a buffer one goroutine writes while another reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The whole clinic path: healthhubd serve --tls auto makes its authority
// and prints the fingerprint; the app shows the same fingerprint, pins
// it, and reaches the real server through its proxy.
func TestRealClinicServerWithItsOwnAuthority(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"HEALTHHUB_DATA_DIR": dir, "HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_TLS": "auto", "HEALTHHUB_ARGON2_MEMORY_KIB": "64"}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, []string{"healthhubd", "serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), out, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	urlRe := regexp.MustCompile(`running at (https://\S+)`)
	fpRe := regexp.MustCompile(`\n  ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})\n`)
	deadline := time.Now().Add(60 * time.Second)
	for !(urlRe.MatchString(out.String()) && fpRe.MatchString(out.String())) {
		if time.Now().After(deadline) {
			t.Fatalf("serve printed:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	url, printed := urlRe.FindStringSubmatch(out.String())[1], fpRe.FindStringSubmatch(out.String())[1]

	a, _ := newApp(t)
	id, err := a.Probe(ctx, Clinic, url)
	if err != nil || id.Fingerprint != printed || id.Public {
		t.Fatalf("the app shows %+v (%v); the server printed %s", id, err, printed)
	}
	c, err := a.Choose(ctx, Clinic, url, id.Fingerprint)
	if err != nil || c.State != "ready" {
		t.Fatalf("connect: %+v %v", c, err)
	}
	var health struct{ Status, API string }
	getJSON(t, c.BaseURL+"/healthz", &health)
	if health.Status != "ok" || health.API != APIGeneration {
		t.Fatalf("healthz through the proxy: %+v", health)
	}
	// Started again, the server keeps its authority: the pin still holds.
	if ca, err := tlsca.Ensure(filepath.Join(dir, "tls"), nil, time.Now()); err != nil || tlsca.Fingerprint(ca.CA) != printed {
		t.Fatalf("the authority changed: %v", err)
	}
}
