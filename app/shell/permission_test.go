package shell

import (
	"slices"
	"testing"
)

func TestAllowPermission(t *testing.T) {
	own := PageOrigins(Connection{State: "ready", Mode: Standalone, BaseURL: "http://127.0.0.1:41234"})
	mic := func(page string) PermissionRequest {
		return PermissionRequest{Kind: AskUserMedia, Audio: true, Page: page}
	}
	for _, tc := range []struct {
		name  string
		req   PermissionRequest
		allow bool
	}{
		{"the microphone for the UI", mic("wails://wails/consultations/c1"), true},
		{"the microphone for the UI's root", mic("wails://wails/"), true},
		{"upper-case scheme and host", mic("WAILS://Wails/consultations"), true},
		{"the microphone for the in-process server's page", mic("http://127.0.0.1:41234/consultations"), true},
		{"the Windows web view's origin", mic("http://wails.localhost/"), true},
		{"another port of the loopback", mic("http://127.0.0.1:41235/"), false},
		{"another site", mic("https://example.org/record"), false},
		{"a look-alike host", mic("wails://wails.example.org/"), false},
		{"a blank page", mic("about:blank"), false},
		{"a data page", mic("data:text/html,<p>hi"), false},
		{"no page", mic(""), false},
		{"not an address", mic("::::"), false},
		{"the camera", PermissionRequest{Kind: AskUserMedia, Video: true, Page: "wails://wails/"}, false},
		{"the microphone and the camera", PermissionRequest{Kind: AskUserMedia, Audio: true, Video: true, Page: "wails://wails/"}, false},
		{"the screen", PermissionRequest{Kind: AskUserMedia, Display: true, Page: "wails://wails/"}, false},
		{"the screen's sound", PermissionRequest{Kind: AskUserMedia, Audio: true, Display: true, Page: "wails://wails/"}, false},
		{"no device", PermissionRequest{Kind: AskUserMedia, Page: "wails://wails/"}, false},
		{"device names", PermissionRequest{Kind: AskDeviceInfo, Page: "wails://wails/"}, false},
		{"location", PermissionRequest{Kind: AskGeolocation, Page: "wails://wails/"}, false},
		{"notifications", PermissionRequest{Kind: AskNotification, Page: "wails://wails/"}, false},
		{"something else", PermissionRequest{Kind: AskOther, Audio: true, Page: "wails://wails/"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AllowPermission(tc.req, own); got != tc.allow {
				t.Errorf("AllowPermission(%+v) = %v, want %v", tc.req, got, tc.allow)
			}
		})
	}
}

func TestPageOrigins(t *testing.T) {
	for _, tc := range []struct {
		name string
		conn Connection
		want []string
	}{
		{"standalone", Connection{State: "ready", Mode: Standalone, BaseURL: "http://127.0.0.1:41234"}, append(slices.Clone(DesktopOrigins), "http://127.0.0.1:41234")},
		{"through the proxy to a clinic server", Connection{State: "ready", Mode: Clinic, Server: "https://hh.clinic.lan", BaseURL: "http://127.0.0.1:5000"}, append(slices.Clone(DesktopOrigins), "http://127.0.0.1:5000")},
		{"before a mode is chosen", Connection{State: "choose"}, DesktopOrigins},
		{"while the server cannot be reached", Connection{State: "problem", Mode: Clinic, BaseURL: "http://127.0.0.1:5000"}, DesktopOrigins},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PageOrigins(tc.conn); !slices.Equal(got, tc.want) {
				t.Errorf("PageOrigins = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStartPath(t *testing.T) {
	for _, p := range []string{"", "/", "/assistant", "/mic-check.html", "/consultations/c1?tab=note#plan"} {
		if got, err := StartPath(p); err != nil || got != p {
			t.Errorf("StartPath(%q) = %q, %v", p, got, err)
		}
	}
	for _, p := range []string{"assistant", "//evil.example/", "/\\evil.example", "https://evil.example/", "wails://wails/", "javascript:alert(1)", "/a\nb", "/%zz"} {
		if got, err := StartPath(p); err == nil {
			t.Errorf("StartPath(%q) = %q, want an error", p, got)
		}
	}
}
