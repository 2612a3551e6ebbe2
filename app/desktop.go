package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/app/shell"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/frontend"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/runtime"
)

// config is where the app keeps things, from the environment.
type config struct {
	configDir string // settings and the session fallback: the OS config folder
	dataDir   string // the standalone server's data
	getenv    func(string) string
	logs      io.Writer
}

func loadConfig(getenv func(string) string) (config, error) {
	dir := getenv("HEALTHHUB_DESKTOP_CONFIG_DIR")
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return config{}, err
		}
		dir = filepath.Join(base, "HealthHub")
	}
	return config{configDir: dir, dataDir: server.DefaultDataDir(getenv), getenv: getenv, logs: os.Stderr}, nil
}

// Desktop is bound to the window as window.go.main.Desktop: each method
// is thin and calls into package shell.
type Desktop struct {
	cfg     config
	app     *shell.App
	tokens  shell.Tokens
	log     *slog.Logger
	started time.Time

	ctx     context.Context // Wails' context, for its runtime calls
	ready   chan struct{}   // closed once the connection is made
	lock    *shell.InstanceLock
	already *shell.Connection // set when another instance runs

	startPath string // HEALTHHUB_DESKTOP_START_PATH: the page opened first
}

func newDesktop(cfg config) (*Desktop, error) {
	preset, err := shell.LoadPreset(cfg.getenv)
	if err != nil {
		return nil, err
	}
	startPath, err := shell.StartPath(cfg.getenv("HEALTHHUB_DESKTOP_START_PATH"))
	if err != nil {
		return nil, err
	}
	a, err := shell.New(shell.Options{Settings: shell.Store{Dir: cfg.configDir}, Preset: preset, DataDir: cfg.dataDir, Getenv: cfg.getenv, Logs: cfg.logs})
	if err != nil {
		return nil, err
	}
	d := &Desktop{cfg: cfg, app: a, tokens: shell.Tokens{Keychain: shell.OSKeychain{}, Dir: cfg.configDir},
		log: slog.New(slog.NewTextHandler(cfg.logs, nil)), started: time.Now(), ready: make(chan struct{}), startPath: startPath}
	// One instance opens the data: a second launch hands over to the first
	// window (Wails' single-instance lock) and never starts a server.
	d.lock, err = shell.LockInstance(cfg.configDir)
	if errors.Is(err, shell.ErrRunning) {
		d.log.Info("another instance is running; handing over to it")
		d.already = &shell.Connection{State: "problem", Problem: &shell.Problem{Kind: shell.Setup,
			Message: "HealthHub is already open for this user.", Advice: "Use the HealthHub window that is already open, or close it before starting HealthHub again."}}
		close(d.ready)
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	// The server starts while the window and web view are made.
	go func() {
		defer close(d.ready)
		c := d.app.Start(context.Background())
		d.log.Info("connection", "state", c.State, "mode", c.Mode, "server", c.Server, "base_url", c.BaseURL)
	}()
	return d, nil
}

func (d *Desktop) close() {
	<-d.ready
	d.app.Close()
	if d.lock != nil {
		d.lock.Release()
	}
}

// options is the window and everything Wails needs.
func (d *Desktop) options() *options.App {
	s := d.app.Settings()
	width, height := 1280, 820
	if s.Width > 0 && s.Height > 0 {
		width, height = s.Width, s.Height
	}
	return &options.App{
		Title:            "HealthHub",
		Width:            width,
		Height:           height,
		MinWidth:         360,
		MinHeight:        480,
		AssetServer:      assetOptions(frontend.Dist(), d.startPath),
		BackgroundColour: options.NewRGB(245, 247, 249),
		OnStartup:        d.startup,
		OnBeforeClose:    d.beforeClose,
		OnShutdown:       func(context.Context) { d.app.Close() },
		Bind:             []any{d},
		SingleInstanceLock: &options.SingleInstanceLock{
			UniqueId: "org.healthhub.desktop",
			// A second launch brings this window forward instead.
			OnSecondInstanceLaunch: func(options.SecondInstanceData) {
				if d.ctx != nil {
					runtime.WindowUnminimise(d.ctx)
					runtime.WindowShow(d.ctx)
				}
			},
		},
		Linux: &linux.Options{ProgramName: "HealthHub", WebviewGpuPolicy: linux.WebviewGpuPolicyNever},
	}
}

func (d *Desktop) startup(ctx context.Context) {
	d.ctx = ctx
	go shell.ReturnIdleMemory(ctx, 15*time.Second, 16<<20)
}

// decidePermission answers a page's permission request in the window (on
// Linux; see package webview): the app's own pages may use the
// microphone, and nothing else is granted. Each answer is logged, without
// the page's path, which can name a patient's record.
func (d *Desktop) decidePermission(r shell.PermissionRequest) bool {
	allow := shell.AllowPermission(r, shell.PageOrigins(d.app.Connection()))
	d.log.Info("permission request", "kind", r.Kind, "audio", r.Audio, "video", r.Video, "display", r.Display,
		"origin", shell.Origin(r.Page), "allowed", allow)
	return allow
}

// beforeClose remembers the window's size.
func (d *Desktop) beforeClose(ctx context.Context) bool {
	w, h := runtime.WindowGetSize(ctx)
	if err := d.app.SaveWindow(w, h); err != nil {
		d.log.Warn("window size not saved", "err", err)
	}
	return false
}

// assetOptions serves the built UI in the window, opening at startPath
// when it is set.
func assetOptions(dist fs.FS, startPath string) *assetserver.Options {
	return &assetserver.Options{Assets: dist, Middleware: assetserver.ChainMiddleware(startAt(startPath), uiRoutes(dist))}
}

// startAt sends the window to the page p (HEALTHHUB_DESKTOP_START_PATH)
// first: until that page has been asked for, the UI's index page is
// answered with a page that goes on to p. Then the UI is served as
// always, so its own navigation (a reload at /setup) cannot undo the
// start, and a later reload cannot repeat it.
func startAt(p string) assetserver.Middleware {
	if p == "" {
		return func(next http.Handler) http.Handler { return next }
	}
	target, _, _ := strings.Cut(p, "?")
	var reached atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case reached.Load() || r.Method != http.MethodGet:
			case r.URL.Path == target:
				reached.Store(true)
			case r.URL.Path == "/" || r.URL.Path == "/index.html" || isUIRoute(r.URL.Path):
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				fmt.Fprintf(w, `<!doctype html><meta http-equiv="refresh" content="0; url=%s"><title>HealthHub</title>`, html.EscapeString(p))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// uiRoutes serves the UI's own routes (/setup, /assistant, …), which are
// not files, as the index page with Wails' runtime scripts. Wails adds
// them (and so the bindings, window.go) only to a page asked for as "/" or
// "…/index.html"; a page reloaded at another path would run as if in a
// browser and send its API calls to wails://wails, which answers with HTML.
func uiRoutes(dist fs.FS) assetserver.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !isUIRoute(r.URL.Path) || dist == nil {
				next.ServeHTTP(w, r)
				return
			}
			index, err := fs.ReadFile(dist, "index.html")
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(withWailsRuntime(index))
		})
	}
}

// wailsScripts are the scripts Wails puts first in the index page's head.
const wailsScripts = `<script src="/wails/ipc.js"></script><script src="/wails/runtime.js"></script>`

func withWailsRuntime(index []byte) []byte {
	at := bytes.Index(index, []byte("<head>"))
	if at < 0 {
		return append([]byte(wailsScripts), index...)
	}
	at += len("<head>")
	return slices.Concat(index[:at], []byte(wailsScripts), index[at:])
}

// isUIRoute is true for a page path of the UI: not a file (no extension),
// not the root, and not one of Wails' own paths.
func isUIRoute(p string) bool {
	return p != "/" && p != "" && path.Ext(p) == "" && !strings.HasPrefix(p, "/wails/")
}

// Connection is where the UI finds the API, or why it cannot yet.
func (d *Desktop) Connection() shell.Connection {
	<-d.ready
	if d.already != nil {
		return *d.already
	}
	return d.app.Connection()
}

// Probe shows a server's certificate authority for the user to confirm.
func (d *Desktop) Probe(mode, server string) (*shell.Identity, error) {
	return d.app.Probe(d.context(), mode, server)
}

// Choose switches mode (and saves it) once the connection works.
func (d *Desktop) Choose(mode, server, fingerprint string) (shell.Connection, error) {
	<-d.ready
	if d.already != nil {
		return *d.already, nil
	}
	c, err := d.app.Choose(d.context(), mode, server, fingerprint)
	var p *shell.Problem
	if errors.As(err, &p) {
		return c, nil // the UI shows c.Problem
	}
	return c, err
}

// Retry connects again as saved (after the server came back).
func (d *Desktop) Retry() shell.Connection {
	<-d.ready
	if d.already != nil {
		return *d.already
	}
	return d.app.Start(d.context())
}

// WorkOffline runs standalone for this session.
func (d *Desktop) WorkOffline() shell.Connection {
	<-d.ready
	if d.already != nil {
		return *d.already
	}
	return d.app.WorkOffline(d.context())
}

// PickFolder asks for a folder, for a knowledge source.
func (d *Desktop) PickFolder(title string) (string, error) {
	return runtime.OpenDirectoryDialog(d.ctx, runtime.OpenDialogOptions{Title: title, CanCreateDirectories: false})
}

// Notify shows an OS notification.
func (d *Desktop) Notify(n shell.Notification) error {
	return shell.Notify(n)
}

// SaveSession keeps the refresh token of the current server.
func (d *Desktop) SaveSession(token string) error {
	return d.tokens.Save(d.account(), token)
}

// LoadSession returns the kept refresh token, or "".
func (d *Desktop) LoadSession() (string, error) {
	v, err := d.tokens.Load(d.account())
	if errors.Is(err, shell.ErrNoToken) {
		return "", nil
	}
	return v, err
}

// ClearSession forgets it (sign-out).
func (d *Desktop) ClearSession() error {
	return d.tokens.Clear(d.account())
}

// SaveWindowSize remembers the window's size; the UI calls it after the
// window was resized.
func (d *Desktop) SaveWindowSize() error {
	w, h := runtime.WindowGetSize(d.ctx)
	return d.app.SaveWindow(w, h)
}

// PageShown is told each page the UI shows; the log line tells when the
// window became usable (and tests wait for it).
func (d *Desktop) PageShown(route string) {
	d.log.Info("page shown", "path", route, "since_start_ms", time.Since(d.started).Milliseconds())
}

func (d *Desktop) account() string {
	c := d.app.Connection()
	if c.Mode == shell.Standalone {
		return "standalone " + d.cfg.dataDir
	}
	return c.Server
}

func (d *Desktop) context() context.Context {
	if d.ctx != nil {
		return d.ctx
	}
	return context.Background()
}
