//go:build !linux || webkit2_41

// Wails' asset server links WebKitGTK on Linux, so this test builds with
// the desktop app's WebKitGTK 4.1 tag there (make test sets it).

package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wailsapp/wails/v2/pkg/assetserver"
)

// HEALTHHUB_DESKTOP_START_PATH: the window's first page goes on to the
// start page, whatever UI route it was, until the start page was asked
// for; after that the UI is served as always.
func TestStartPath(t *testing.T) {
	dist := fstest.MapFS{
		"index.html":     {Data: []byte(`<!doctype html><html><head><title>HealthHub</title></head><body><div id="root"></div></body></html>`)},
		"mic-check.html": {Data: []byte(`<!doctype html><title>Microphone check</title>`)},
	}
	srv, err := assetserver.NewAssetServer(`{"main":{"Desktop":{}}}`, *assetOptions(dist, "/mic-check.html?camera"), false, quietLog{}, wailsRuntime{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "wails://wails"+path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %q", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	const onward = `http-equiv="refresh" content="0; url=/mic-check.html?camera"`
	for _, path := range []string{"/", "/setup?token=abc", "/index.html"} {
		if body := get(path); !strings.Contains(body, onward) {
			t.Errorf("%s before the start page: %q, want the way on to it", path, body)
		}
	}
	if body := get("/mic-check.html?camera"); !strings.Contains(body, "Microphone check") {
		t.Fatalf("the start page: %q", body)
	}
	for _, path := range []string{"/", "/setup?token=abc"} {
		if body := get(path); strings.Contains(body, "refresh") || !strings.Contains(body, `<div id="root">`) {
			t.Errorf("%s after the start page: %q, want the UI", path, body)
		}
	}
}

// Without a start path the window opens on the UI as always.
func TestNoStartPath(t *testing.T) {
	dist := fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><html><head></head><body><div id="root"></div></body></html>`)}}
	srv, err := assetserver.NewAssetServer(`{"main":{"Desktop":{}}}`, *assetOptions(dist, ""), false, quietLog{}, wailsRuntime{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "wails://wails/", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `<div id="root">`) {
		t.Fatalf("/: %d %q", rec.Code, body)
	}
}
