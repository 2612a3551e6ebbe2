package main

import (
	"testing"

	"github.com/healthhub/healthhub/app/shell"
)

// The window's pages may record from the microphone; the standalone
// server's own pages too; anything else, or another site, is refused.
func TestDecidePermission(t *testing.T) {
	d := testDesktop(t, map[string]string{"HEALTHHUB_DESKTOP_MODE": shell.Standalone})
	base := d.Connection().BaseURL
	for _, tc := range []struct {
		req   shell.PermissionRequest
		allow bool
	}{
		{shell.PermissionRequest{Kind: shell.AskUserMedia, Audio: true, Page: "wails://wails/consultations/c1"}, true},
		{shell.PermissionRequest{Kind: shell.AskUserMedia, Audio: true, Page: base + "/consultations/c1"}, true},
		{shell.PermissionRequest{Kind: shell.AskUserMedia, Audio: true, Video: true, Page: "wails://wails/"}, false},
		{shell.PermissionRequest{Kind: shell.AskUserMedia, Audio: true, Page: "https://example.org/"}, false},
		{shell.PermissionRequest{Kind: shell.AskGeolocation, Page: "wails://wails/"}, false},
	} {
		if got := d.decidePermission(tc.req); got != tc.allow {
			t.Errorf("%+v: allowed %v, want %v", tc.req, got, tc.allow)
		}
	}
}

func TestStartPathIsChecked(t *testing.T) {
	root := t.TempDir()
	vars := map[string]string{"HEALTHHUB_DESKTOP_CONFIG_DIR": root + "/config", "HEALTHHUB_DATA_DIR": root + "/data",
		"HEALTHHUB_DESKTOP_START_PATH": "https://example.org/"}
	cfg, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if d, err := newDesktop(cfg); err == nil {
		d.close()
		t.Fatal("a start path on another site was taken")
	}
}
