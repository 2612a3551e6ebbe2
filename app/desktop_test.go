package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/app/shell"
)

func testDesktop(t *testing.T, vars map[string]string) *Desktop {
	t.Helper()
	root := t.TempDir()
	vars["HEALTHHUB_DESKTOP_CONFIG_DIR"] = filepath.Join(root, "config")
	vars["HEALTHHUB_DATA_DIR"] = filepath.Join(root, "data")
	vars["HEALTHHUB_ARGON2_MEMORY_KIB"] = "64"
	getenv := func(k string) string { return vars[k] }
	cfg, err := loadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.logs = io.Discard // the app and its server log from several goroutines
	d, err := newDesktop(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	return d
}

// The bound methods, without a window: the preset mode connects at start,
// a session survives in the fallback store, and a bad choice is answered
// with the reason.
func TestBindings(t *testing.T) {
	d := testDesktop(t, map[string]string{"HEALTHHUB_DESKTOP_MODE": shell.Standalone})
	c := d.Connection()
	if c.State != "ready" || c.Mode != shell.Standalone || !strings.HasPrefix(c.BaseURL, "http://127.0.0.1:") {
		t.Fatalf("connection %+v", c)
	}
	if v, err := d.LoadSession(); err != nil || v != "" {
		t.Fatalf("no session yet: %q %v", v, err)
	}
	if err := d.SaveSession("refresh-token"); err != nil {
		t.Fatal(err)
	}
	if v, err := d.LoadSession(); err != nil || v != "refresh-token" {
		t.Fatalf("kept session %q %v", v, err)
	}
	if err := d.ClearSession(); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.LoadSession(); v != "" {
		t.Fatalf("after sign-out: %q", v)
	}
	if _, err := d.Choose("clinic", "http://plain.example", ""); err == nil || !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("plain HTTP clinic server: %v", err)
	}
	if _, err := d.Probe("standalone", ""); err == nil {
		t.Fatal("probing this computer")
	}
	if got := d.Connection(); got.State != "ready" || got.BaseURL != c.BaseURL {
		t.Fatalf("a refused choice changed the connection: %+v", got)
	}
}

// A second instance for the same user never starts a server on the same data.
func TestSecondInstanceLeavesTheDataAlone(t *testing.T) {
	vars := map[string]string{"HEALTHHUB_DESKTOP_MODE": shell.Standalone}
	first := testDesktop(t, vars)
	if c := first.Connection(); c.State != "ready" {
		t.Fatalf("first: %+v", c)
	}
	cfg, _ := loadConfig(func(k string) string { return vars[k] })
	cfg.logs = io.Discard // the app and its server log from several goroutines
	second, err := newDesktop(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.close()
	if c := second.Connection(); c.State != "problem" || !strings.Contains(c.Problem.Message, "already open") {
		t.Fatalf("second: %+v", c)
	}
	if c, _ := second.Choose(shell.Standalone, "", ""); c.State != "problem" {
		t.Fatalf("second instance started a server: %+v", c)
	}
}

func TestFirstStartAsksForTheMode(t *testing.T) {
	d := testDesktop(t, map[string]string{})
	if c := d.Connection(); c.State != "choose" {
		t.Fatalf("first start: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(d.cfg.configDir, "settings.json")); err == nil {
		t.Fatal("settings written before any choice")
	}
}
