package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/healthhub/healthhub/backend/server"
)

// Connection is what the window's UI is told: where the API is, in which
// mode, or why there is none yet.
type Connection struct {
	// State is ready, choose (first start: no mode yet) or problem.
	State string `json:"state"`
	Mode  string `json:"mode,omitempty"`
	// Server is what the user recognises: the clinic server's or hosted
	// service's address, or "this computer".
	Server  string `json:"server,omitempty"`
	BaseURL string `json:"base_url,omitempty"`
	Version string `json:"version,omitempty"`
	// SetupToken, in standalone mode before any account exists, lets the
	// UI open the first administrator's setup page.
	SetupToken string   `json:"setup_token,omitempty"`
	Problem    *Problem `json:"problem,omitempty"`
	// Offline is true when standalone mode stands in for an unreachable
	// server, for this session only.
	Offline bool `json:"offline,omitempty"`
}

// Options configure an App.
type Options struct {
	// Settings keeps the user's choices.
	Settings Store
	// Preset is IT's choice for a first start.
	Preset Preset
	// DataDir is the standalone server's data folder.
	DataDir string
	// Getenv passes HEALTHHUB_* settings to the standalone server.
	Getenv func(string) string
	// Logs receive the standalone server's log.
	Logs io.Writer
}

// App runs the connection of the desktop window: the standalone server or
// the proxy to a remote one, switching on request.
type App struct {
	opts Options

	mu       sync.Mutex
	settings Settings
	conn     Connection
	local    *server.Local
	proxy    *Proxy
	probed   map[string]*Identity // identities shown to the user, by server
}

// New loads the settings; Start connects.
func New(opts Options) (*App, error) {
	s, err := opts.Settings.Load()
	if err != nil {
		return nil, err
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	return &App{opts: opts, settings: opts.Preset.Apply(s), probed: map[string]*Identity{}}, nil
}

// Settings returns the current settings.
func (a *App) Settings() Settings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings
}

// SaveWindow remembers the window's size.
func (a *App) SaveWindow(width, height int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if width < 400 || height < 300 {
		return nil // minimised or not yet shown
	}
	a.settings.Width, a.settings.Height = width, height
	return a.opts.Settings.Save(a.settings)
}

// Start connects in the saved (or preset) mode; with none, the UI asks.
func (a *App) Start(ctx context.Context) Connection {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settings.Mode == "" {
		a.conn = Connection{State: "choose"}
		return a.conn
	}
	a.conn = a.connect(ctx, a.settings)
	if a.conn.State == "ready" {
		// A preset becomes the user's choice once it worked.
		if saved, err := a.opts.Settings.Load(); err == nil && saved.Mode == "" {
			a.opts.Settings.Save(a.settings)
		}
	}
	return a.conn
}

// Connection is the current connection.
func (a *App) Connection() Connection {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conn
}

// Probe shows a server's identity for the user to confirm.
func (a *App) Probe(ctx context.Context, mode, server string) (*Identity, error) {
	server, err := Validate(mode, server)
	if err != nil {
		return nil, err
	}
	if mode == Standalone {
		return nil, errors.New("this computer needs no confirmation")
	}
	id, err := Probe(ctx, server)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.probed[server] = id
	a.mu.Unlock()
	return id, nil
}

// Choose switches to a mode and saves it when the connection works. A
// clinic server needs the fingerprint the user confirmed after Probe; the
// hosted service needs a certificate the system trusts.
func (a *App) Choose(ctx context.Context, mode, server, fingerprint string) (Connection, error) {
	server, err := Validate(mode, server)
	if err != nil {
		return Connection{}, err
	}
	next := a.Settings()
	next.Mode, next.ServerURL, next.PinnedCA = mode, server, ""
	if mode == Clinic {
		a.mu.Lock()
		id := a.probed[server]
		a.mu.Unlock()
		if id == nil || fingerprint == "" || id.Fingerprint != fingerprint {
			return Connection{}, errors.New("confirm the server's fingerprint first")
		}
		if !id.Public {
			next.PinnedCA = id.caPEM
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	conn := a.connect(ctx, next)
	if conn.State != "ready" {
		// Stay where we were; the UI shows why.
		if a.conn.State == "ready" {
			a.conn = a.connect(ctx, a.settings)
		}
		return conn, conn.Problem
	}
	a.conn = conn
	a.settings = next
	return conn, a.opts.Settings.Save(next)
}

// WorkOffline runs standalone for this session without changing the saved
// mode: the next start tries the server again.
func (a *App) WorkOffline(ctx context.Context) Connection {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.settings
	s.Mode = Standalone
	a.conn = a.connect(ctx, s)
	if a.conn.State == "ready" {
		a.conn.Offline = true
	}
	return a.conn
}

// connect stops what runs and connects as s says. It holds a.mu.
func (a *App) connect(ctx context.Context, s Settings) Connection {
	a.stop()
	switch s.Mode {
	case Standalone:
		if err := CheckDataDir(a.opts.DataDir); err != nil {
			return Connection{State: "problem", Mode: s.Mode, Problem: &Problem{Kind: DataFolder, Message: err.Error(),
				Advice: "Free some space or fix the folder's permissions, then start HealthHub again. Nothing in it was changed."}}
		}
		l, err := server.StartLocal(ctx, a.opts.DataDir, a.opts.Getenv, a.opts.Logs)
		if err != nil {
			return Connection{State: "problem", Mode: s.Mode, Problem: &Problem{Kind: Setup, Message: "HealthHub could not start on this computer: " + err.Error(),
				Advice: fmt.Sprintf("Check the data folder %s, then start HealthHub again.", a.opts.DataDir)}}
		}
		a.local = l
		return Connection{State: "ready", Mode: Standalone, Server: "this computer", BaseURL: l.URL, Version: server.Version, SetupToken: l.SetupToken}
	case Clinic, Hosted:
		r, err := Connect(ctx, s.ServerURL, s.PinnedCA)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				p = &Problem{Kind: Setup, Server: s.ServerURL, Message: err.Error(), Advice: "Check the address and try again."}
			}
			return Connection{State: "problem", Mode: s.Mode, Server: s.ServerURL, Problem: p}
		}
		p, err := StartProxy(r)
		if err != nil {
			r.Close()
			return Connection{State: "problem", Mode: s.Mode, Server: s.ServerURL, Problem: &Problem{Kind: Setup, Message: err.Error(), Advice: "Start HealthHub again."}}
		}
		a.proxy = p
		return Connection{State: "ready", Mode: s.Mode, Server: s.ServerURL, BaseURL: p.URL, Version: r.Version}
	}
	return Connection{State: "choose"}
}

// stop ends the standalone server or proxy. It holds a.mu.
func (a *App) stop() {
	if a.local != nil {
		a.local.Stop()
		a.local = nil
	}
	if a.proxy != nil {
		a.proxy.Close()
		a.proxy = nil
	}
}

// Close ends whatever runs; data is flushed and closed.
func (a *App) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stop()
}
