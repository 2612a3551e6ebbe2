//go:build !linux || webkit2_41

// Wails' asset server links WebKitGTK on Linux, so this test builds with
// the desktop app's WebKitGTK 4.1 tag there (make test sets it).

package main

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wailsapp/wails/v2/pkg/assetserver"
)

// wailsRuntime stands in for Wails' runtime scripts, which the asset
// server adds to the index page.
type wailsRuntime struct{}

func (wailsRuntime) DesktopIPC() []byte       { return []byte("/* ipc */") }
func (wailsRuntime) WebsocketIPC() []byte     { return []byte("/* ws ipc */") }
func (wailsRuntime) RuntimeDesktopJS() []byte { return []byte("/* runtime */") }

type quietLog struct{}

func (quietLog) Debug(string, ...any) {}
func (quietLog) Error(string, ...any) {}

// A page reloaded at one of the UI's routes (the first start's /setup, or
// /assistant) gets the index page with Wails' runtime and bindings, as "/"
// does: without them the page runs as if in a browser and its API calls go
// to the window's own origin, which answers with HTML.
func TestUIRoutesGetTheIndexPageWithTheRuntime(t *testing.T) {
	dist := fstest.MapFS{
		"index.html":    {Data: []byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HealthHub</title><script type="module" src="/assets/app.js"></script></head><body><div id="root"></div></body></html>`)},
		"assets/app.js": {Data: []byte("console.log('app')")},
		"favicon.svg":   {Data: []byte("<svg/>")},
	}
	srv, err := assetserver.NewAssetServer(`{"main":{"Desktop":{}}}`, *assetOptions(dist, ""), false, quietLog{}, wailsRuntime{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "wails://wails"+path, nil))
		return rec
	}
	scripts := regexp.MustCompile(`<script[^>]*src="([^"]+)"`)
	scriptsOf := func(path string) []string {
		t.Helper()
		rec := get(path)
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s %q", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var srcs []string
		for _, m := range scripts.FindAllStringSubmatch(rec.Body.String(), -1) {
			srcs = append(srcs, m[1])
		}
		return srcs
	}
	root := scriptsOf("/")
	if !slices.Contains(root, "/wails/ipc.js") || !slices.Contains(root, "/wails/runtime.js") || !slices.Contains(root, "/assets/app.js") {
		t.Fatalf("the index page's scripts: %v\n%s", root, get("/").Body)
	}
	for _, path := range []string{"/setup?token=abc", "/assistant", "/admin/users", "/patients/0190a4c2-7b7e-7000-8000-000000000001"} {
		if got := scriptsOf(path); !slices.Equal(got, root) {
			t.Errorf("%s loads %v, the index page %v: without Wails' scripts window.go is missing", path, got, root)
		}
	}
	if rec := get("/assets/app.js"); rec.Code != 200 || rec.Body.String() != "console.log('app')" {
		t.Errorf("a script: %d %q", rec.Code, rec.Body)
	}
	if rec := get("/assets/missing.js"); rec.Code != 404 {
		t.Errorf("a missing script: %d %q", rec.Code, rec.Body)
	}
	if rec := get("/wails/runtime.js"); !strings.Contains(rec.Body.String(), "/* runtime */") {
		t.Errorf("Wails' runtime: %d %q", rec.Code, rec.Body)
	}
}
