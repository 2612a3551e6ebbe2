// Package shell is the desktop app's logic without a window: its settings,
// the three connection modes, the pinned connection to a clinic server,
// the data folder checks and token storage. The Wails bindings in package
// main only call into it.
package shell

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/healthhub/healthhub/backend/atomicfile"
)

// The connection modes.
const (
	// Standalone runs the bundled server in the app, with SQLite in the
	// user's data folder: a whole clinic on one machine.
	Standalone = "standalone"
	// Clinic connects to a healthhubd on the clinic's network over HTTPS,
	// trusting the certificate authority the user confirmed once.
	Clinic = "clinic"
	// Hosted connects to the hosted service with ordinary TLS.
	Hosted = "hosted"
)

// Settings are what the app remembers between starts, in settings.json in
// the user's configuration folder.
type Settings struct {
	// Mode is standalone, clinic or hosted; empty until chosen.
	Mode string `json:"mode,omitempty"`
	// ServerURL is the clinic server's or hosted service's address.
	ServerURL string `json:"server_url,omitempty"`
	// PinnedCA is the clinic server's certificate authority (PEM) the user
	// confirmed by its fingerprint.
	PinnedCA string `json:"pinned_ca,omitempty"`
	// Width and Height are the window's last size.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// Preset is what the installer or the environment sets before the first
// start: IT's choice of mode and server for every user of a workstation.
type Preset struct {
	Mode      string `json:"mode,omitempty"`
	ServerURL string `json:"server_url,omitempty"`
}

// Apply fills in what s leaves open from p; a user's own choice wins.
func (p Preset) Apply(s Settings) Settings {
	if s.Mode == "" && p.Mode != "" {
		s.Mode = p.Mode
		if s.ServerURL == "" {
			s.ServerURL = p.ServerURL
		}
	}
	return s
}

// Validate checks a mode and server address as a person typed them, and
// returns the address in its canonical form (https, no trailing slash).
func Validate(mode, server string) (string, error) {
	switch mode {
	case Standalone:
		return "", nil
	case Clinic, Hosted:
	default:
		return "", fmt.Errorf("unknown mode %q: choose standalone, clinic or hosted", mode)
	}
	server = strings.TrimSpace(server)
	if server == "" {
		return "", errors.New("enter the server's address, such as https://healthhub.clinic.lan:8443")
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a server address; write it like https://healthhub.clinic.lan:8443", server)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("the server must be reached over HTTPS (https://…), not %s", u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u.String(), nil
}

// Store keeps Settings in a folder.
type Store struct {
	Dir string
}

func (s Store) path() string { return filepath.Join(s.Dir, "settings.json") }

// Load reads the settings; a missing file is a first start.
func (s Store) Load() (Settings, error) {
	var out Settings
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read the app's settings: %w", err)
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return Settings{}, fmt.Errorf("the app's settings file %s is damaged (%v); delete it to choose the mode again", s.path(), err)
	}
	return out, nil
}

// Save writes the settings whole: a crash leaves the old or the new file,
// never half of one.
func (s Store) Save(v Settings) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(), data, 0o600)
}

// LoadPreset reads IT's preset: HEALTHHUB_DESKTOP_MODE and
// HEALTHHUB_DESKTOP_SERVER_URL when set, else the machine-wide preset
// (on Windows the values the installer wrote to the registry, elsewhere
// /etc/healthhub/desktop.json).
func LoadPreset(getenv func(string) string) (Preset, error) {
	if m := getenv("HEALTHHUB_DESKTOP_MODE"); m != "" {
		return Preset{Mode: m, ServerURL: getenv("HEALTHHUB_DESKTOP_SERVER_URL")}, nil
	}
	return machinePreset()
}

// readPresetFile reads a preset in JSON; a missing file is no preset.
func readPresetFile(name string) (Preset, error) {
	var p Preset
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return Preset{}, fmt.Errorf("the preset %s is not valid JSON: %w", name, err)
	}
	return p, nil
}
